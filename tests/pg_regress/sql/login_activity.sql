-- Login activity: logins and failed logins over TCP recorded per role, who
-- may read the view, dormant users, resets, and the template key that sets
-- a template's own lockout threshold. (Lockouts themselves need several
-- servers' settings and a restart: tests/login_security.sh.)
\set VERBOSITY terse
SELECT managed_roles.create_managed_user('la_app', 'writer') ->> 'uri' AS app_uri \gset
SELECT managed_roles.create_managed_user('la_mon', 'monitor') ->> 'username';
SELECT managed_roles.create_managed_user('la_boss', 'manager') ->> 'username';
SELECT regexp_replace(:'app_uri', '^(postgresql://la_app:)[^@]*@', '\1wrong@') AS bad_uri \gset
-- One login and one failed login, as a client makes them.
SELECT dblink_connect('la1', :'app_uri');
SELECT dblink_disconnect('la1');
SELECT dblink_connect('la2', :'bad_uri');
SELECT username, successes, failures, consecutive_failures, last_login_address, last_login_database,
       last_failure_address, locked_out, locked_until,
       last_login_at <= now() AS login_time_set, last_failure_at >= last_login_at AS failure_after_login
  FROM managed_roles.login_activity WHERE username = 'la_app';
SELECT (s ->> 'capacity')::int AS capacity, (s ->> 'entry_bytes')::int AS entry_bytes,
       (s ->> 'tracked')::int > 0 AS tracking
  FROM managed_roles.login_activity_summary() s;

-- Readable by the monitor template and managers; not by other users.
SET ROLE la_mon;
SELECT count(*) > 0 AS monitor_reads FROM managed_roles.login_activity;
RESET ROLE;
SET ROLE la_boss;
SELECT count(*) > 0 AS manager_reads FROM managed_roles.login_activity;
SELECT username, template, last_login_address FROM managed_roles.dormant_users('0 seconds')
 WHERE username LIKE 'la\_%' ORDER BY 1;
SELECT count(*) AS dormant_for_an_hour FROM managed_roles.dormant_users('1 hour') WHERE username LIKE 'la\_%';
SELECT managed_roles.reset_login_activity();
RESET ROLE;
SET ROLE la_app;
SELECT count(*) FROM managed_roles.login_activity;
SELECT count(*) FROM managed_roles._login_activity();
SELECT managed_roles.dormant_users('1 day');
RESET ROLE;

-- Reset (superusers): one role, then everything.
SELECT managed_roles.reset_login_activity('la_app');
SELECT count(*) FROM managed_roles.login_activity WHERE username = 'la_app';
SELECT managed_roles.reset_login_activity('no_such_role');
SELECT managed_roles.reset_login_activity() >= 0 AS reset_all;
SELECT actor, action, target, details ? 'entries' AS counted FROM managed_roles.audit_log
 WHERE action = 'reset_login_activity' ORDER BY id;

-- A template's own lockout threshold (0: its users are never locked out).
SELECT managed_roles.define_template('la_service', '{"login": {"max_auth_failures": -1}}');
SELECT managed_roles.define_template('la_service', '{"login": {"max_auth_failures": 0}}') ->> 'template';
SELECT spec FROM managed_roles.templates WHERE name = 'la_service';
SELECT managed_roles.create_managed_user('la_svc', 'la_service') ->> 'username';
SELECT label FROM pg_shseclabel WHERE objoid = 'la_svc'::regrole AND provider = 'managed_roles.login';
SELECT managed_roles.define_template('la_service', '{}') ->> 'template';
SELECT count(*) AS label_gone FROM pg_shseclabel WHERE objoid = 'la_svc'::regrole AND provider = 'managed_roles.login';

SELECT managed_roles.drop_managed_user(u) ->> 'dropped' FROM unnest(ARRAY['la_app', 'la_mon', 'la_boss', 'la_svc']) u;
SELECT managed_roles.drop_template('la_service') ->> 'dropped';
-- Dropped roles leave no activity behind (an OID used again starts clean).
SELECT count(*) AS dropped_roles_tracked FROM managed_roles.login_activity
 WHERE role_oid IS NOT NULL AND username IS NULL;
