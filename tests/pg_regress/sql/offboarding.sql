-- drop_managed_user never loses data: owned objects block the drop unless
-- reassign_to says where they go; objects in other databases are named;
-- live sessions are ended first.
\set VERBOSITY default
\set su 'dbname=managed_roles_regress user=postgres'
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
-- Without reassign_to: refused, listing what it owns; nothing changes.
SELECT managed_roles.drop_managed_user('leaver');
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
-- Objects in another database are named, with what to run there.
CREATE DATABASE managed_roles_other;
\c managed_roles_other
CREATE TABLE elsewhere (id int);
ALTER TABLE elsewhere OWNER TO leaver;
\c :su
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir');
\c managed_roles_other
REASSIGN OWNED BY leaver TO heir;
DROP OWNED BY leaver;
\c :su
-- A bad heir is refused.
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'nobody');
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'leaver');
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'managed_writer');
-- With reassign_to: objects move, privileges are revoked, sessions end,
-- the role goes. A live session of the leaver is terminated.
SELECT dblink_connect('leaver_session', :'leaver_uri');
SELECT * FROM dblink('leaver_session', 'SELECT current_user') AS t(who name);
SELECT managed_roles.drop_managed_user('leaver', reassign_to => 'heir') AS report;
SELECT * FROM dblink('leaver_session', 'SELECT current_user') AS t(who name);
SELECT dblink_disconnect('leaver_session');
SELECT rolname FROM pg_roles WHERE rolname = 'leaver';
SELECT c.relname, c.relowner::regrole AS owner FROM pg_class c
 WHERE c.relnamespace = 'work'::regnamespace ORDER BY 1;
SELECT * FROM work.report;
\c managed_roles_other
SELECT tableowner FROM pg_tables WHERE tablename = 'elsewhere';
\c :su
DROP DATABASE managed_roles_other;
-- Unknown and unmanaged roles.
SELECT managed_roles.drop_managed_user('nobody');
SELECT managed_roles.drop_managed_user(NULL);
SELECT managed_roles.drop_managed_user('postgres');
SELECT action, target, details ->> 'reassigned_to' AS reassigned_to FROM managed_roles.audit_log
 WHERE action = 'drop' AND target = 'leaver';
DROP SCHEMA work CASCADE;
SELECT managed_roles.drop_managed_user('heir') ->> 'dropped' AS dropped;
