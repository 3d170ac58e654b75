-- Time-bound credentials from SQL: lifetimes at creation (asked for, the
-- template's default and maximum), renewals, ending one now, who may do
-- what, the view and the audit log. The worker's timing, logins over TCP,
-- other databases, restarts and standbys: tests/expiry.sh.
\set VERBOSITY terse
-- Without a lifetime a user does not expire.
SELECT managed_roles.create_managed_user('ex_plain', 'writer') ->> 'expires_at' AS no_expiry;

-- valid_for: the credentials say when, the password ends with it, the
-- registry and expiry_status have it.
SELECT (c ->> 'expires_at')::timestamptz - now() AS lifetime
  FROM managed_roles.create_managed_user('ex_two', 'writer', valid_for => '2 hours') c;
SELECT u.username, u.valid_until = u.expires_at AS password_ends_with_it, s.state,
       s.offboard_after - s.expires_at AS grace, s.failed_attempts
  FROM managed_roles.managed_users u JOIN managed_roles.expiry_status s USING (username)
 WHERE username = 'ex_two';
SELECT (managed_roles.create_managed_user('ex_until', 'reader', valid_until => now() + interval '3 days')
        ->> 'expires_at')::timestamptz - now() AS lifetime;

-- Refused: both, the past, a negative interval; nothing is created.
SELECT managed_roles.create_managed_user('ex_bad', 'reader', valid_for => '1 hour', valid_until => now() + interval '1 hour');
SELECT managed_roles.create_managed_user('ex_bad', 'reader', valid_until => now() - interval '1 second');
SELECT managed_roles.create_managed_user('ex_bad', 'reader', valid_for => '-1 hour');
SELECT count(*) AS nothing_created FROM pg_roles WHERE rolname = 'ex_bad';

-- A template's lifetime: its default, and a maximum counted from creation.
SELECT managed_roles.define_template('contractor',
    '{"includes": ["writer"], "lifetime": {"default": "7 days", "max": "30 days"}}') ->> 'template' AS template;
SELECT (c ->> 'expires_at')::timestamptz - now() AS default_lifetime
  FROM managed_roles.create_managed_user('ex_con', 'contractor') c;
SELECT managed_roles.create_managed_user('ex_con2', 'contractor', valid_for => '31 days');
SELECT (r ->> 'expires_at')::timestamptz - now() AS renewed_for, r ->> 'login_restored' AS login_restored
  FROM managed_roles.renew_managed_user('ex_con', '20 days') r;
SELECT managed_roles.renew_managed_user('ex_con', '31 days');
SELECT (managed_roles.renew_managed_user('ex_con') ->> 'expires_at')::timestamptz - now() AS renewed_by_default;
SELECT managed_roles.renew_managed_user('ex_two');
-- A user adopted into the template becomes time-bound too.
CREATE ROLE ex_adopted LOGIN;
SELECT (managed_roles.adopt_user('ex_adopted', 'contractor') ->> 'expires_at')::timestamptz - now() AS adopted_lifetime;
SELECT rolvaliduntil = (SELECT expires_at FROM managed_roles.users WHERE username = 'ex_adopted') AS password_ends_with_it
  FROM pg_roles WHERE rolname = 'ex_adopted';

-- Template lifetimes that make no sense are refused.
SELECT managed_roles.define_template('bad_life', '{"lifetime": {"default": "40 days", "max": "30 days"}}');
SELECT managed_roles.define_template('bad_life', '{"lifetime": {"max": "-1 day"}}');
SELECT managed_roles.define_template('bad_life', '{"lifetime": {"max": "soon"}}');
SELECT managed_roles.define_template('bad_life', '{"lifetime": {"heir": "no_such_role"}}');
SELECT managed_roles.define_template('bad_life', '{"lifetime": {"heir": "managed_writer"}}');
SELECT managed_roles.define_template('bad_life', '{"lifetime": {"heir": "postgres", "drop_objects": true}}');
SELECT managed_roles.define_template('bad_life', '{"lifetime": {"ttl": "1 day"}}');
SELECT count(*) AS no_bad_template FROM managed_roles.templates WHERE name = 'bad_life';

-- Ending a lifetime now: locked at once (NOLOGIN, the password expired),
-- unlock_user refuses, a renewal gives the login back.
SELECT x ->> 'locked' AS locked, x ->> 'sessions_terminated' AS sessions
  FROM managed_roles.expire_managed_user('ex_until') x;
SELECT rolcanlogin, rolvaliduntil <= now() AS password_expired FROM pg_roles WHERE rolname = 'ex_until';
SELECT state, locked_at IS NOT NULL AS locked FROM managed_roles.expiry_status WHERE username = 'ex_until';
SELECT managed_roles.unlock_user('ex_until');
SELECT managed_roles.renew_managed_user('ex_until', '1 day') ->> 'login_restored' AS login_restored;
SELECT rolcanlogin, rolvaliduntil - now() > interval '23 hours' AS password_valid_again
  FROM pg_roles WHERE rolname = 'ex_until';
SELECT state FROM managed_roles.expiry_status WHERE username = 'ex_until';
-- A password's nearer limit set by a DBA is not lengthened by a renewal.
ALTER ROLE ex_until VALID UNTIL 'tomorrow';
SELECT managed_roles.renew_managed_user('ex_until', '2 days') ->> 'username' AS renewed;
SELECT rolvaliduntil = 'tomorrow'::timestamptz AS dba_limit_kept FROM pg_roles WHERE rolname = 'ex_until';

-- Rights: a manager renews and ends the lifetimes of users it may manage,
-- never its own; other users cannot call the functions, and without
-- pg_read_all_data (which writers hold) they cannot read the view.
SELECT managed_roles.create_managed_user('ex_boss', 'manager', valid_for => '1 day') ->> 'username' AS manager;
SELECT managed_roles.create_managed_user('ex_mon', 'monitor') ->> 'username' AS monitor;
SET ROLE ex_boss;
SELECT managed_roles.create_managed_user('ex_temp', 'writer', valid_for => '1 hour') ->> 'username' AS created;
SELECT managed_roles.renew_managed_user('ex_temp', '2 hours') ->> 'username' AS renewed;
SELECT managed_roles.renew_managed_user('ex_boss', '10 years');
SELECT managed_roles.expire_managed_user('ex_temp') ->> 'locked' AS locked;
SELECT managed_roles.expire_managed_user('ex_boss');
SELECT username, state FROM managed_roles.expiry_status WHERE username LIKE 'ex\_%' ORDER BY 1;
RESET ROLE;
SET ROLE ex_plain;
SELECT managed_roles.renew_managed_user('ex_temp', '1 hour');
SELECT managed_roles.expire_managed_user('ex_temp');
RESET ROLE;
SET ROLE ex_mon;
SELECT count(*) FROM managed_roles.expiry_status;
RESET ROLE;

-- A time-bound manager hands out nothing that outlives it.
SET ROLE ex_boss;
SELECT managed_roles.create_managed_user('ex_long', 'writer', valid_for => '2 days');
SELECT (managed_roles.create_managed_user('ex_capped', 'writer') ->> 'expires_at')::timestamptz
       = (SELECT expires_at FROM managed_roles.users WHERE username = 'ex_boss') AS ends_with_its_manager;
SELECT managed_roles.renew_managed_user('ex_capped', '2 days');
RESET ROLE;

-- A renewal gives back only the login the expiry took: a lock_user() stays.
SELECT managed_roles.lock_user('ex_two') ->> 'locked' AS locked;
SELECT managed_roles.expire_managed_user('ex_two') ->> 'locked' AS expired;
SELECT managed_roles.renew_managed_user('ex_two', '1 hour') ->> 'login_restored' AS login_restored;
SELECT rolcanlogin FROM pg_roles WHERE rolname = 'ex_two';

-- A renewal never takes the password past its maximum age.
SELECT managed_roles.define_template('short_pw', '{"includes": ["writer"], "login": {"password_valid_days": 1}}') ->> 'template' AS template;
SELECT managed_roles.create_managed_user('ex_pw', 'short_pw', valid_for => '2 hours') ->> 'username' AS created;
SELECT managed_roles.renew_managed_user('ex_pw', '10 days') ->> 'username' AS renewed;
SELECT rolvaliduntil <= now() + interval '1 day' AS within_password_age,
       (SELECT expires_at FROM managed_roles.users WHERE username = 'ex_pw') > now() + interval '9 days' AS renewed_lifetime
  FROM pg_roles WHERE rolname = 'ex_pw';

-- Everything is in the audit log, by whom it was done.
SELECT actor, action, target FROM managed_roles.audit_log
 WHERE action IN ('renew', 'expire') AND target LIKE 'ex\_%' ORDER BY id;

-- Clean up.
SELECT managed_roles.drop_managed_user(u) ->> 'dropped' AS dropped
  FROM unnest(ARRAY['ex_capped', 'ex_pw', 'ex_temp', 'ex_boss', 'ex_mon', 'ex_plain', 'ex_two', 'ex_until', 'ex_con', 'ex_adopted']) u;
SELECT managed_roles.drop_template(t) ->> 'dropped' AS dropped FROM unnest(ARRAY['contractor', 'short_pw']) t;
