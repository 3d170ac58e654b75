-- Returned credentials work over TCP, where pg_hba.conf requires SCRAM.
\set VERBOSITY default
\set su 'dbname=managed_roles_regress user=postgres'
SELECT managed_roles.create_managed_user('login_user', 'writer') AS creds \gset
SELECT :'creds'::jsonb ->> 'uri' AS uri, :'creds'::jsonb ->> 'password' AS password \gset
\c :uri
SELECT current_user, inet_server_addr() AS over_tcp,
       (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl;
-- A wrong password is refused: SCRAM is really checked (dblink logs in as a
-- separate client so that this script keeps its own connection).
\c :su
SELECT dblink_connect('wrong', 'postgresql://login_user:wrong-password@127.0.0.1:29330/managed_roles_regress');
-- After a reset the old password no longer works and the new one does.
SELECT managed_roles.reset_managed_password('login_user') ->> 'uri' AS new_uri \gset
SELECT dblink_connect('stale', :'uri');
SELECT dblink_connect('fresh', :'new_uri');
SELECT * FROM dblink('fresh', 'SELECT current_user, inet_server_addr()') AS t(who name, addr inet);
SELECT dblink_disconnect('fresh');
\c :new_uri
SELECT current_user;
-- A given password with URI-reserved characters still yields a working URI.
\c :su
SELECT managed_roles.create_managed_user('login odd', 'reader', 'p@ss:w/rd?#% w1th Zq8 spaces') ->> 'uri' AS odd_uri \gset
SELECT :'odd_uri' AS odd_uri;
\c :odd_uri
SELECT current_user;
\c :su
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped
  FROM unnest(ARRAY['login_user', 'login odd']) AS u;
