-- drop_managed_user never loses data and works across the whole cluster:
-- owned objects block the drop unless reassign_to says where they go (or
-- drop_objects asks explicitly to drop them); in every other database a
-- background worker reassigns and revokes; a failure in one database
-- leaves the role in place and every object kept; live sessions end first.
\set VERBOSITY default
\set su 'dbname=managed_roles_regress user=postgres'
SELECT format('host=%s port=%s user=postgres dbname=', current_setting('unix_socket_directories'),
              current_setting('port')) AS local_conn \gset
SELECT managed_roles.create_managed_user('leaver', 'writer') ->> 'uri' AS leaver_uri \gset
SELECT managed_roles.create_managed_user('heir', 'writer') ->> 'username';
CREATE SCHEMA work;
GRANT USAGE, CREATE ON SCHEMA work TO leaver;
\c :leaver_uri
CREATE TABLE work.report (id int PRIMARY KEY, body text);
INSERT INTO work.report VALUES (1, 'keep me');
CREATE VIEW work.report_view AS SELECT * FROM work.report;
CREATE SEQUENCE work.counter;
\c :su
-- Tables owned by the leaver in three other databases (which do not have
-- the extension), and a privilege in one of them.
CREATE DATABASE mr_off_1;
CREATE DATABASE mr_off_2;
CREATE DATABASE mr_off_3;
\c mr_off_1
CREATE TABLE t1 (id int); INSERT INTO t1 VALUES (1); ALTER TABLE t1 OWNER TO leaver;
CREATE TABLE shared_read (id int); GRANT SELECT ON shared_read TO leaver;
\c mr_off_2
CREATE TABLE t2 (id int); INSERT INTO t2 VALUES (2); ALTER TABLE t2 OWNER TO leaver;
\c mr_off_3
CREATE TABLE t3 (id int); INSERT INTO t3 VALUES (3); ALTER TABLE t3 OWNER TO leaver;
\c :su
-- What it owns, in every database.
SELECT * FROM managed_roles.owned_objects('leaver');
SELECT managed_roles.owned_objects('nobody');

-- Without reassign_to: refused, listing what it owns here and elsewhere.
SELECT managed_roles.drop_managed_user('leaver');
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
-- A bad heir is refused.
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'nobody');
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'leaver');
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'managed_writer');
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir', drop_objects => true);

-- A failure in one database: a session there holds a lock on the leaver's
-- table. The role stays, no object is lost, the error says where and why.
-- This server allows prepared transactions, so the work is two-phase: what
-- was prepared in the databases before the failing one is rolled back and
-- nothing changed anywhere.
SHOW max_prepared_transactions;
SET managed_roles.offboard_lock_timeout = 500;
SELECT dblink_connect('locker', :'local_conn' || 'mr_off_2');
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'LOCK TABLE t2 IN ACCESS EXCLUSIVE MODE');
-- mr_off_1 no longer accepts connections: the workers still reach it, so
-- its prepared part is really rolled back, as the error says.
ALTER DATABASE mr_off_1 ALLOW_CONNECTIONS false;
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir');
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
SELECT count(*) AS registry FROM managed_roles.managed_users WHERE username = 'leaver';
SELECT count(*) AS prepared_left FROM pg_prepared_xacts;
SELECT * FROM managed_roles.owned_objects('leaver') WHERE database IS DISTINCT FROM current_database();
ALTER DATABASE mr_off_1 ALLOW_CONNECTIONS true;
-- A cancel (here a statement timeout) while a database waits for its lock:
-- the prepared part is rolled back with the caller's transaction, nothing
-- changed, and no prepared transaction is left behind once the blocked
-- worker gives up.
SET statement_timeout = '300ms';
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir');
RESET statement_timeout;
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
SELECT * FROM dblink(:'local_conn' || 'mr_off_1', 'SELECT tableowner::text, (SELECT count(*) FROM t1) FROM pg_tables WHERE tablename = ''t1''') AS t(owner text, rows bigint);
SELECT dblink_exec('locker', 'ROLLBACK');
SELECT dblink_disconnect('locker');
RESET managed_roles.offboard_lock_timeout;
-- The worker that waited for the lock ends without leaving its work prepared.
SELECT pg_sleep(1.5);
SELECT count(*) AS prepared_left FROM pg_prepared_xacts;
SELECT managed_roles.resolve_offboarding() AS resolved;

-- All or nothing with the caller's transaction: rolled back, or failing
-- after the call, nothing changed in any database.
BEGIN;
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir') ->> 'dropped' AS dropped;
ROLLBACK;
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
SELECT count(*) AS prepared_left FROM pg_prepared_xacts;
SELECT * FROM dblink(:'local_conn' || 'mr_off_2', 'SELECT tableowner::text FROM pg_tables WHERE tablename = ''t2''') AS t(owner text);
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir') ->> 'dropped', 1 / 0;
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
SELECT * FROM dblink(:'local_conn' || 'mr_off_2', 'SELECT tableowner::text FROM pg_tables WHERE tablename = ''t2''') AS t(owner text);
-- Where the promise cannot be kept, it refuses before changing anything.
BEGIN;
SAVEPOINT s;
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir');
ROLLBACK;
BEGIN;
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir') ->> 'dropped' AS dropped;
PREPARE TRANSACTION 'mine';
-- The session switched to the role after the call: refused at commit,
-- before any database commits.
BEGIN;
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir') ->> 'dropped' AS dropped;
SET ROLE leaver;
COMMIT;
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
SELECT count(*) AS prepared_left FROM pg_prepared_xacts;

-- With reassign_to: one call offboards it everywhere. A live session of the
-- leaver is ended first.
SELECT dblink_connect('leaver_session', :'leaver_uri');
SELECT * FROM dblink('leaver_session', 'SELECT current_user') AS t(who name);
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir') AS report;
SELECT * FROM dblink('leaver_session', 'SELECT current_user') AS t(who name);
SELECT dblink_disconnect('leaver_session');
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
-- Every object kept, owned by the heir, in every database.
SELECT c.relname, c.relowner::regrole AS owner FROM pg_class c
 WHERE c.relnamespace = 'work'::regnamespace ORDER BY 1;
SELECT * FROM work.report;
SELECT * FROM dblink(:'local_conn' || 'mr_off_1', 'SELECT tableowner::text, (SELECT count(*) FROM t1) FROM pg_tables WHERE tablename = ''t1''') AS t(owner text, rows bigint);
SELECT * FROM dblink(:'local_conn' || 'mr_off_2', 'SELECT tableowner::text, (SELECT count(*) FROM t2) FROM pg_tables WHERE tablename = ''t2''') AS t(owner text, rows bigint);
SELECT * FROM dblink(:'local_conn' || 'mr_off_3', 'SELECT tableowner::text, (SELECT count(*) FROM t3) FROM pg_tables WHERE tablename = ''t3''') AS t(owner text, rows bigint);
SELECT action, target, details ->> 'reassigned_to' AS reassigned_to FROM managed_roles.audit_log
 WHERE action = 'drop' AND target = 'leaver';

-- drop_objects => true drops what it owns (only when asked).
SELECT managed_roles.create_managed_user('scratch', 'writer') ->> 'username';
\c mr_off_3
CREATE TABLE scratch_table (id int); ALTER TABLE scratch_table OWNER TO scratch;
\c :su
SELECT managed_roles.drop_managed_user('scratch', drop_objects => true) -> 'other_databases' AS other_databases;
SELECT * FROM dblink(:'local_conn' || 'mr_off_3', 'SELECT count(*) FROM pg_tables WHERE tablename = ''scratch_table''') AS t(tables bigint);

-- Unknown and unmanaged roles.
SELECT managed_roles.drop_managed_user('nobody');
SELECT managed_roles.drop_managed_user(NULL);
SELECT managed_roles.drop_managed_user('postgres');
DROP DATABASE mr_off_1;
DROP DATABASE mr_off_2;
DROP DATABASE mr_off_3;
DROP SCHEMA work CASCADE;
SELECT managed_roles.drop_managed_user('heir') ->> 'dropped' AS dropped;
