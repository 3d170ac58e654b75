/*
 * The hand-off between managed_roles' hooks and the rest of PostgreSQL.
 *
 * Every hook of managed_roles is this C code: it asks the Rust side for a
 * decision (the role guard, the masking verdict, the password policy), then
 * calls the next hook or PostgreSQL's standard function itself. An ERROR
 * raised further down (by PostgreSQL, by another extension's hook, or "out
 * of memory") therefore propagates by longjmp through C frames only, exactly
 * as through any C extension: no Rust frame is skipped, and nothing converts
 * the error (its cursor position, CONTEXT lines and fields stay as they are,
 * and no Rust code has to allocate while memory is short).
 *
 * The Rust functions called here are guarded (pgrx #[pg_guard]): an error
 * they raise is re-thrown as a PostgreSQL ERROR from their outermost frame,
 * after their own frames have been unwound.
 */
#include "postgres.h"

#include "commands/user.h"
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "common/ip.h"
#include "executor/executor.h"
#include "common/keywords.h"
#include "parser/analyze.h"
#include "parser/scanner.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/elog.h"

/* Decisions, in Rust (src/hooks/). */
/*
 * Returns what must happen after the statement ran (0: nothing), for _after;
 * MANAGED_ROLES_DONE: the statement was carried out, do not run it.
 */
#define MANAGED_ROLES_DONE 4
extern int	managed_roles_utility_before(PlannedStmt *pstmt, const char *query,
										 ProcessUtilityContext context,
										 int *mask_from, int *mask_to);
extern void managed_roles_utility_after(PlannedStmt *pstmt, int after);
extern void managed_roles_statement_parsed(ParseState *pstate, Query *query);
extern void managed_roles_check_password_length(const char *shadow_pass);
extern void managed_roles_check_password(const char *username, const char *shadow_pass,
										 PasswordType password_type);
extern void managed_roles_redact_log_entry(ErrorData *edata);
extern void managed_roles_blank_literal(char *token, size_t len);
extern bool managed_roles_executor_verdict(const char *source_text, PlannedStmt *pstmt,
										   int *mask_start, int *mask_from, int *mask_to);

static ProcessUtility_hook_type prev_process_utility = NULL;
static ProcessUtility_hook_type next_after_front = NULL;
static bool moved_to_front = false;
static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;
static check_password_hook_type prev_check_password = NULL;
static emit_log_hook_type prev_emit_log = NULL;
static emit_log_hook_type next_emit_log_after_front = NULL;
static bool emit_log_moved_to_front = false;
static ExecutorStart_hook_type prev_executor_start = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static ClientAuthentication_hook_type prev_client_authentication = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request = NULL;
#endif

/* Login security, in Rust (src/hooks/client_authentication.rs, src/pg/login_activity.rs). */
extern bool managed_roles_authentication(const char *user, const char *database,
										 const char *address, bool password_method,
										 bool encrypted, bool succeeded);
extern void managed_roles_login_shmem_request(void);
extern void managed_roles_login_shmem_startup(void);
extern void managed_roles_expiry_shmem_request(void);
extern void managed_roles_expiry_shmem_startup(void);

/*
 * A copy of `query` in which every literal token of the statement that
 * starts at `start` and reaches into [from, to) has its characters blanked.
 * PostgreSQL's own lexer finds the tokens, so the copy lexes into exactly
 * the tokens of the original, at the same places: PREPARE and COPY
 * re-analyze their query from this text, and pg_stat_statements cuts
 * constants out of it by their locations. Lexing starts at the statement,
 * not at the start of the query string (an extension script is one string).
 *
 * Fails closed: if the statement no longer lexes (a setting such as
 * standard_conforming_strings changed earlier in the same query string),
 * it is refused rather than passed on unmasked.
 */
static const char *
masked_copy(const char *query, int start, int from, int to)
{
	size_t		len = strlen(query);
	char	   *copy = pstrdup(query);
	MemoryContext context = CurrentMemoryContext;
	volatile bool lexed = true;

	if (start < 0 || (size_t) start > len)
		start = 0;
	if (to < start || (size_t) to > len)
		to = len;
	PG_TRY();
	{
		core_yy_extra_type extra;
		char	   *statement = pnstrdup(query + start, to - start);
		core_yyscan_t scanner = scanner_init(statement, &extra, &ScanKeywords,
											 ScanKeywordTokens);

		/* As pg_stat_statements does: no warnings from a second lexing. */
		extra.escape_string_warning = false;
		for (;;)
		{
			core_YYSTYPE value;
			int			location;
			size_t		token_len;

			if (core_yylex(&value, &location, scanner) == 0)
				break;
			/* The lexer ends the current token with a NUL in scanbuf. */
			token_len = strlen(extra.scanbuf + location);
			location += start;
			if (location + (int) token_len > from && (size_t) location < len)
				managed_roles_blank_literal(copy + location,
											Min(token_len, len - location));
		}
		scanner_finish(scanner);
	}
	PG_CATCH();
	{
		int			category = ERRCODE_TO_CATEGORY(geterrcode());

		/* Out of memory, cancel...: not ours to replace. */
		if (category != ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION &&
			category != ERRCODE_DATA_EXCEPTION)
			PG_RE_THROW();
		MemoryContextSwitchTo(context);
		FlushErrorState();
		lexed = false;
	}
	PG_END_TRY();
	if (!lexed)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("managed_roles cannot mask the password in this statement"),
				 errdetail("The statement no longer reads as it did when it was parsed: a setting that changes how literals are read (standard_conforming_strings) changed earlier in the same query string."),
				 errhint("Send the statement on its own.")));
	return copy;
}

static void
guard_mask_and_call(ProcessUtility_hook_type next, PlannedStmt *pstmt, const char *query,
					bool read_only_tree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *query_env,
					DestReceiver *dest, QueryCompletion *qc)
{
	int			mask_from = -1;
	int			mask_to = -1;
	int			after;

	after = managed_roles_utility_before(pstmt, query, context, &mask_from, &mask_to);
	if (after & MANAGED_ROLES_DONE)
	{
		/* Done by managed_roles itself (SECURITY LABEL FOR managed_roles...). */
		if (qc)
			SetQueryCompletion(qc, CMDTAG_SECURITY_LABEL, 0);
		return;
	}
	if (mask_from >= 0)
		query = masked_copy(query, pstmt->stmt_location, mask_from, mask_to);
	if (next)
		next(pstmt, query, read_only_tree, context, params, query_env, dest, qc);
	else
		standard_ProcessUtility(pstmt, query, read_only_tree, context, params,
								query_env, dest, qc);
	if (after != 0)
		managed_roles_utility_after(pstmt, after);
}

/* The registration made in _PG_init; a pass-through once moved to the front. */
static void
process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *query_env, DestReceiver *dest, QueryCompletion *qc)
{
	if (moved_to_front)
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, query, read_only_tree, context, params,
								 query_env, dest, qc);
		else
			standard_ProcessUtility(pstmt, query, read_only_tree, context, params,
									query_env, dest, qc);
		return;
	}
	guard_mask_and_call(prev_process_utility, pstmt, query, read_only_tree, context,
						params, query_env, dest, qc);
}

static void
process_utility_front(PlannedStmt *pstmt, const char *query, bool read_only_tree,
					  ProcessUtilityContext context, ParamListInfo params,
					  QueryEnvironment *query_env, DestReceiver *dest, QueryCompletion *qc)
{
	guard_mask_and_call(next_after_front, pstmt, query, read_only_tree, context,
						params, query_env, dest, qc);
}

/*
 * After every preloaded library's _PG_init (in the postmaster, and again
 * after a crash restart, when it finds the work done): if a library loaded
 * later put its ProcessUtility hook in front of ours, ours moves to the
 * front, so that no hook that stores statement text (pg_stat_statements)
 * sees a password, whatever the order of shared_preload_libraries.
 */
static void emit_log(ErrorData *edata);
static void emit_log_front(ErrorData *edata);

static void
shmem_startup(void)
{
	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	managed_roles_login_shmem_startup();
	managed_roles_expiry_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
	if (!moved_to_front && ProcessUtility_hook != process_utility)
	{
		next_after_front = ProcessUtility_hook;
		ProcessUtility_hook = process_utility_front;
		moved_to_front = true;
	}
	/* The same for the log: modules that keep log entries come after us. */
	if (!emit_log_moved_to_front && emit_log_hook != emit_log)
	{
		next_emit_log_after_front = emit_log_hook;
		emit_log_hook = emit_log_front;
		emit_log_moved_to_front = true;
	}
}

static void
post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	/*
	 * Before the previous hook: pg_stat_statements calls the hook it chained
	 * first and stores text right after, in either order.
	 */
	/* Only a top-level statement's text is shown in pg_stat_activity. */
	if (pstate && pstate->p_sourcetext == debug_query_string)
		managed_roles_statement_parsed(pstate, query);
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
}

static void
check_password(const char *username, const char *shadow_pass, PasswordType password_type,
			   Datum validuntil_time, bool validuntil_null)
{
	/* First, before any other hook or the server hashes it: its length. */
	managed_roles_check_password_length(shadow_pass);
	if (prev_check_password)
		prev_check_password(username, shadow_pass, password_type, validuntil_time,
							validuntil_null);
	managed_roles_check_password(username, shadow_pass, password_type);
}

static void
emit_log(ErrorData *edata)
{
	if (!emit_log_moved_to_front && edata)
		managed_roles_redact_log_entry(edata);
	if (prev_emit_log)
		prev_emit_log(edata);
}

static void
emit_log_front(ErrorData *edata)
{
	if (edata)
		managed_roles_redact_log_entry(edata);
	if (next_emit_log_after_front)
		next_emit_log_after_front(edata);
}

/*
 * Statements the executor runs (SELECT create_managed_user(...), and the
 * queries inside COPY, EXPLAIN ANALYZE, CREATE TABLE AS...) keep their text
 * in queryDesc->sourceText, which pg_stat_statements stores when its entry
 * for the statement is gone, parallel workers report to pg_stat_activity
 * and other modules read: give them the masked copy.
 */
static void
executor_start(QueryDesc *query_desc, int eflags)
{
	int			mask_start = -1;
	int			mask_from = -1;
	int			mask_to = -1;

	if (query_desc->sourceText &&
		managed_roles_executor_verdict(query_desc->sourceText, query_desc->plannedstmt,
									   &mask_start, &mask_from, &mask_to))
		query_desc->sourceText = masked_copy(query_desc->sourceText, mask_start,
											 mask_from, mask_to);
	if (prev_executor_start)
		prev_executor_start(query_desc, eflags);
	else
		standard_ExecutorStart(query_desc, eflags);
}

#if PG_VERSION_NUM >= 150000
/* From 15, shared memory is requested here, after every library's _PG_init. */
static void
shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	managed_roles_login_shmem_request();
	managed_roles_expiry_shmem_request();
}
#endif

/* Methods where the client proves a password: failures there are guesses. */
static bool
is_password_method(Port *port)
{
	if (port->hba == NULL)
		return false;
	switch (port->hba->auth_method)
	{
		case uaPassword:
		case uaMD5:
		case uaSCRAM:
		case uaLDAP:
		case uaRADIUS:
		case uaPAM:
		case uaBSD:
			return true;
		default:
			return false;
	}
}

/*
 * Refuses a locked-out role exactly as PostgreSQL's auth_failed() refuses a
 * wrong password for the same method: same message (the same translatable
 * text), same SQLSTATE; the reason goes to the server log only.
 */
static void
refuse_as_wrong_password(Port *port)
{
	int			code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
	const char *detail = "managed_roles: the role is locked out after repeated failed authentications; managed_roles.unlock_user() ends the lockout.";

	switch (port->hba->auth_method)
	{
		case uaPassword:
		case uaMD5:
		case uaSCRAM:
			ereport(FATAL,
					(errcode(ERRCODE_INVALID_PASSWORD),
					 errmsg("password authentication failed for user \"%s\"", port->user_name),
					 errdetail_log("%s", detail)));
			break;
		case uaLDAP:
			ereport(FATAL,
					(errcode(code),
					 errmsg("LDAP authentication failed for user \"%s\"", port->user_name),
					 errdetail_log("%s", detail)));
			break;
		case uaRADIUS:
			ereport(FATAL,
					(errcode(code),
					 errmsg("RADIUS authentication failed for user \"%s\"", port->user_name),
					 errdetail_log("%s", detail)));
			break;
		case uaPAM:
			ereport(FATAL,
					(errcode(code),
					 errmsg("PAM authentication failed for user \"%s\"", port->user_name),
					 errdetail_log("%s", detail)));
			break;
		default:
			ereport(FATAL,
					(errcode(code),
					 errmsg("BSD authentication failed for user \"%s\"", port->user_name),
					 errdetail_log("%s", detail)));
			break;
	}
}

/*
 * After the previous hook (auth_delay, credcheck...): record the attempt,
 * pause after a failure, and refuse a locked-out role whose password was
 * right with exactly the message a wrong password gets (the reason goes to
 * the server log only), so the client learns nothing about the lockout.
 */
static void
client_authentication(Port *port, int status)
{
	bool		password_method;
	bool		encrypted;
	char		address[NI_MAXHOST];

	if (prev_client_authentication)
		prev_client_authentication(port, status);
	/* The client left before answering (psql asking for a password). */
	if (status == STATUS_EOF)
		return;
	password_method = is_password_method(port);
	/*
	 * The numeric client address, never a reverse-DNS name (log_hostname),
	 * which whoever controls the client's DNS could choose.
	 */
	address[0] = '\0';
	if (port->raddr.addr.ss_family == AF_UNIX)
		strlcpy(address, "[local]", sizeof(address));
	else
		pg_getnameinfo_all(&port->raddr.addr, port->raddr.salen, address, sizeof(address),
						   NULL, 0, NI_NUMERICHOST);
	encrypted = port->ssl_in_use;
#ifdef ENABLE_GSS
	encrypted = encrypted || be_gssapi_get_enc(port);
#endif
	if (managed_roles_authentication(port->user_name, port->database_name, address,
									 password_method, encrypted, status == STATUS_OK))
		refuse_as_wrong_password(port);
}

/* Called once from _PG_init while shared_preload_libraries are loaded. */
void
managed_roles_install_hooks(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = process_utility;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = post_parse_analyze;
	prev_check_password = check_password_hook;
	check_password_hook = check_password;
	prev_emit_log = emit_log_hook;
	emit_log_hook = emit_log;
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = executor_start;
	prev_client_authentication = ClientAuthentication_hook;
	ClientAuthentication_hook = client_authentication;
#if PG_VERSION_NUM >= 150000
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = shmem_request;
#else
	managed_roles_login_shmem_request();
	managed_roles_expiry_shmem_request();
#endif
}
