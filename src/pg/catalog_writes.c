/*
 * Catalog writes managed_roles makes itself instead of running a statement
 * with more rights than its caller (what credcheck's VALID UNTIL injection
 * got wrong, its issues #61 and #81): one field of one row, decided by
 * managed_roles' own rule.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "commands/user.h"
#include "libpq/scram.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/*
 * Replaces one column of the pg_authid row `tuple` (a copy, freed here),
 * then closes `relation` (opened RowExclusiveLock) and makes the change
 * visible to the rest of the transaction.
 */
static void
replace_authid_column(Relation relation, HeapTuple tuple, int attnum, Datum value, bool isnull)
{
	HeapTuple	changed;
	Datum		values[Natts_pg_authid] = {0};
	bool		nulls[Natts_pg_authid] = {0};
	bool		replace[Natts_pg_authid] = {0};

	values[attnum - 1] = value;
	nulls[attnum - 1] = isnull;
	replace[attnum - 1] = true;
	changed = heap_modify_tuple(tuple, RelationGetDescr(relation), values, nulls, replace);
	CatalogTupleUpdate(relation, &changed->t_self, changed);
	heap_freetuple(changed);
	heap_freetuple(tuple);
	table_close(relation, RowExclusiveLock);
	CommandCounterIncrement();
}

/*
 * Sets rolvaliduntil of `role` to `until` (or NULL with `unset`): as the
 * password lifecycle decided after a password change (a limit someone
 * else set is never lengthened), or to -infinity while the role is locked
 * out, so that PostgreSQL itself refuses its password before any exchange
 * completes, and back afterwards. Returns whether it changed.
 */
bool
managed_roles_set_valid_until(Oid role, TimestampTz until, bool unset)
{
	Relation	relation;
	HeapTuple	tuple;
	bool		isnull;
	Datum		current;

	relation = table_open(AuthIdRelationId, RowExclusiveLock);
	tuple = SearchSysCacheCopy1(AUTHOID, ObjectIdGetDatum(role));
	if (!HeapTupleIsValid(tuple))
	{
		table_close(relation, RowExclusiveLock);
		return false;
	}
	current = heap_getattr(tuple, Anum_pg_authid_rolvaliduntil, RelationGetDescr(relation), &isnull);
	if ((unset && isnull) || (!unset && !isnull && DatumGetTimestampTz(current) == until))
	{
		heap_freetuple(tuple);
		table_close(relation, RowExclusiveLock);
		return false;
	}
	replace_authid_column(relation, tuple, Anum_pg_authid_rolvaliduntil,
						  TimestampTzGetDatum(until), unset);
	return true;
}

/*
 * The key of the password history (see history_secret.c): the password of
 * the marker role managed_roles_group, a NOLOGIN role, in pg_authid
 * (superusers only). Made on first use, under a lock on the marker role so
 * that concurrent first uses agree, in the current transaction. NULL when
 * the marker role does not exist (the extension is not installed), or when
 * there is none yet and `create` is false.
 */
char *
managed_roles_history_key(bool create)
{
	Oid			marker = get_role_oid("managed_roles_group", true);
	HeapTuple	tuple;
	Datum		secret;
	bool		isnull;
	char	   *key = NULL;

	if (!OidIsValid(marker))
		return NULL;
	for (int attempt = 0; attempt < 2 && key == NULL; attempt++)
	{
		tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(marker));
		if (!HeapTupleIsValid(tuple))
			return NULL;
		secret = SysCacheGetAttr(AUTHOID, tuple, Anum_pg_authid_rolpassword, &isnull);
		if (!isnull)
			key = TextDatumGetCString(secret);
		ReleaseSysCache(tuple);
		if (key == NULL && attempt == 0)
		{
			if (!create)
				return NULL;
			/* Whoever gets the lock first makes it; the others then read it. */
			LockSharedObject(AuthIdRelationId, marker, 0, AccessExclusiveLock);
		}
	}
	if (key == NULL)
	{
		uint8		random[32];
		char		hex[65];
		Relation	relation;

		if (!pg_strong_random(random, sizeof(random)))
			elog(ERROR, "managed_roles: could not generate a random key");
		for (int i = 0; i < (int) sizeof(random); i++)
			snprintf(hex + i * 2, 3, "%02x", random[i]);
		/* A SCRAM secret in form, so pg_dumpall and restores keep it as is. */
		key = pg_be_scram_build_secret(hex);
		relation = table_open(AuthIdRelationId, RowExclusiveLock);
		tuple = SearchSysCacheCopy1(AUTHOID, ObjectIdGetDatum(marker));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "managed_roles: the marker role disappeared");
		replace_authid_column(relation, tuple, Anum_pg_authid_rolpassword,
							  CStringGetTextDatum(key), false);
	}
	return key;
}
