-- Sessions: listing, locking and unlocking, forced logouts, blocking and
-- restoring connections. Sessions of superusers are never ended.
\set VERBOSITY default
\set su 'dbname=managed_roles_regress user=postgres'
SELECT format('host=%s port=%s user=postgres dbname=', current_setting('unix_socket_directories'),
              current_setting('port')) AS local_conn \gset
SELECT managed_roles.create_managed_user('s_boss', 'manager') ->> 'uri' AS boss_uri \gset
SELECT managed_roles.create_managed_user('s_app', 'writer') ->> 'uri' AS app_uri \gset
SELECT managed_roles.create_managed_user('s_other_boss', 'manager') ->> 'username';
SELECT dblink_connect('app1', :'app_uri');
SELECT dblink_connect('app2', :'app_uri');
-- Active connections of one user, and of all managed users.
SELECT username, database, client_addr, state FROM managed_roles.active_connections('s_app');
SELECT username, count(*) FROM managed_roles.active_connections() GROUP BY 1 ORDER BY 1;
SELECT * FROM managed_roles.active_connections('nobody');

-- lock_user: NOLOGIN and its sessions end; it cannot log in until unlocked.
SELECT managed_roles.lock_user('s_app');
SELECT rolcanlogin FROM pg_roles WHERE rolname = 's_app';
SELECT count(*) AS sessions FROM managed_roles.active_connections('s_app');
SELECT dblink_connect('app3', :'app_uri');
SELECT managed_roles.lock_user('s_app') ->> 'changed' AS changed_again;
SELECT managed_roles.unlock_user('s_app') - 'sessions_terminated';
SELECT dblink_connect('app3', :'app_uri');
SELECT * FROM dblink('app3', 'SELECT current_user') AS t(who name);

-- force_logout of a user.
SELECT managed_roles.force_logout('s_app');
SELECT count(*) AS sessions FROM managed_roles.active_connections('s_app');
SELECT dblink_disconnect('app1');
SELECT dblink_disconnect('app2');
SELECT dblink_disconnect('app3');

-- force_logout of a database, blocking new connections: superusers' sessions
-- stay, others end, new ones are refused until connections are restored.
CREATE DATABASE s_db;
SELECT dblink_connect('app_db', replace(:'app_uri', '/managed_roles_regress', '/s_db'));
SELECT dblink_connect('admin_db', :'local_conn' || 's_db');
SELECT managed_roles.force_logout(database => 's_db', block_new_connections => true);
SELECT * FROM dblink('admin_db', 'SELECT current_user') AS t(who name);
SELECT dblink_connect('app_db2', replace(:'app_uri', '/managed_roles_regress', '/s_db'));
SELECT has_database_privilege('s_app', 's_db', 'CONNECT') AS can_connect;
SELECT managed_roles.restore_connections('s_db');
SELECT dblink_connect('app_db2', replace(:'app_uri', '/managed_roles_regress', '/s_db'));
SELECT dblink_disconnect('app_db2');
SELECT dblink_disconnect('app_db');
SELECT dblink_disconnect('admin_db');
SELECT managed_roles.force_logout();
SELECT managed_roles.force_logout('postgres');
SELECT managed_roles.force_logout('s_app', block_new_connections => true);
SELECT managed_roles.restore_connections('no_such_db');

-- Who may: a manager locks and logs out users of its templates, not another
-- manager, not a database it does not own; a writer cannot call at all.
\c :boss_uri
SELECT managed_roles.lock_user('s_app') ->> 'locked' AS locked;
SELECT managed_roles.unlock_user('s_app') ->> 'locked' AS locked;
SELECT managed_roles.lock_user('s_other_boss');
SELECT managed_roles.force_logout('s_other_boss');
SELECT managed_roles.force_logout(database => 's_db');
SELECT managed_roles.lock_user('s_boss');
SELECT username FROM managed_roles.active_connections() ORDER BY 1;
\c :app_uri
SELECT managed_roles.lock_user('s_app');
SELECT managed_roles.active_connections();
\c :su
SELECT action, target FROM managed_roles.audit_log
 WHERE action IN ('lock', 'unlock', 'force_logout', 'block_connections', 'restore_connections')
   AND (target IS NULL OR target NOT LIKE 'ex\_%') ORDER BY id;
DROP DATABASE s_db;
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped
  FROM unnest(ARRAY['s_boss', 's_app', 's_other_boss']) AS u;
