/*
 * Verifiers for the password history that are worthless to whoever reads
 * them. The history is a security label (pg_shseclabel), which every role
 * can read, so it must not hold what PostgreSQL keeps in pg_authid: a
 * SCRAM secret there is enough for an offline dictionary attack, and its
 * StoredKey with one sniffed exchange is enough to log in.
 *
 * Each entry is therefore a SCRAM-SHA-256 secret (own random salt, 4,096
 * iterations, whatever scram_iterations says) not of the password but of
 * HMAC-SHA-256(key, password), where the key is a random secret kept as
 * the marker role's password in pg_authid: readable by superusers only,
 * replicated, and dumped by pg_dumpall with the roles.
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/scram-common.h"
#include "libpq/scram.h"
#include "port.h"

#define HISTORY_ITERATIONS 4096

/* hex(HMAC-SHA-256(key, password)), palloc'd. */
static char *
peppered(const char *key, const char *password)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	char	   *hex;

	if (ctx == NULL ||
		pg_hmac_init(ctx, (const uint8 *) key, strlen(key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) password, strlen(password)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_hmac_free(ctx);
		elog(ERROR, "managed_roles: could not compute a password history digest");
	}
	pg_hmac_free(ctx);
	hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + i * 2, 3, "%02x", digest[i]);
	return hex;
}

/* A new history entry for `password` under `key`, palloc'd. */
char *
managed_roles_history_verifier(const char *key, const char *password)
{
	char		salt[SCRAM_DEFAULT_SALT_LEN];
	char	   *secret;
	char	   *input = peppered(key, password);
#if PG_VERSION_NUM >= 150000
	const char *errstr = NULL;
#endif

	if (!pg_strong_random(salt, sizeof(salt)))
		elog(ERROR, "managed_roles: could not generate a random salt");
#if PG_VERSION_NUM >= 160000
	/* The salt is char * up to 17 and uint8 * from 18: pass it untyped. */
	secret = scram_build_secret(PG_SHA256, SCRAM_SHA_256_KEY_LEN, (const void *) salt,
								sizeof(salt), HISTORY_ITERATIONS, input, &errstr);
#elif PG_VERSION_NUM >= 150000
	secret = scram_build_secret(salt, sizeof(salt), HISTORY_ITERATIONS, input, &errstr);
#else
	secret = scram_build_secret(salt, sizeof(salt), HISTORY_ITERATIONS, input);
#endif
	if (secret == NULL)
		elog(ERROR, "managed_roles: could not build a password history entry");
	pfree(input);
	return secret;
}

/* Whether `entry` was made from `password` under `key`. */
bool
managed_roles_history_matches(const char *key, const char *password, const char *entry)
{
	char	   *input = peppered(key, password);
	bool		matches = scram_verify_plain_password("", input, entry);

	pfree(input);
	return matches;
}
