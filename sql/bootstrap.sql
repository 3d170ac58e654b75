-- managed_roles bootstrap: runs before any function is created.

-- Roles are cluster-wide, so the extension lives in exactly one home database
-- (managed_roles.database, default postgres), like pg_cron.
DO $bootstrap$
DECLARE
    home text := coalesce(nullif(pg_catalog.current_setting('managed_roles.database', true), ''), 'postgres');
BEGIN
    IF pg_catalog.current_database() OPERATOR(pg_catalog.<>) home THEN
        RAISE EXCEPTION 'managed_roles can only be created in its home database "%"', home
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('The current database is "%s".', pg_catalog.current_database()),
                  HINT = pg_catalog.format('Connect to database "%s", or set managed_roles.database in postgresql.conf and restart the server.', home);
    END IF;
END
$bootstrap$;

-- The marker role: template group roles are its direct members, which lets
-- the hooks recognise them in every database from pg_auth_members alone.
-- It has no privileges and nobody can log in as it.
DO $marker$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'managed_roles_group') THEN
        CREATE ROLE managed_roles_group NOLOGIN NOINHERIT;
        COMMENT ON ROLE managed_roles_group IS 'managed_roles: marks template group roles (its direct members); grants nothing';
    ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'managed_roles_group'
                   AND (rolcanlogin OR rolsuper)) THEN
        RAISE EXCEPTION 'role "managed_roles_group" exists and can log in or is a superuser'
            USING ERRCODE = 'duplicate_object',
                  HINT = 'managed_roles uses this name for a NOLOGIN marker role; rename the existing role.';
    END IF;
END
$marker$;

CREATE TABLE managed_roles.templates (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$' AND pg_catalog.octet_length(name) <= 55),
    group_role  name NOT NULL UNIQUE,
    description text,
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE managed_roles.templates IS 'Privilege templates; change them with define_template() so group roles stay in sync';

CREATE TABLE managed_roles.users (
    role_oid        oid PRIMARY KEY,
    username        name,
    template        text NOT NULL REFERENCES managed_roles.templates (name),
    created_by      name NOT NULL,
    created_by_oid  oid,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    password_set_at timestamptz,
    adopted         boolean NOT NULL DEFAULT false,
    expires_at      timestamptz,
    locked_at       timestamptz,
    offboard_attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error      text
);
CREATE INDEX users_template_idx ON managed_roles.users (template);
-- The expiry worker reads only the time-bound users that are due, and the
-- first one that is not: never the whole registry.
CREATE INDEX users_expires_at_idx ON managed_roles.users (expires_at) WHERE expires_at IS NOT NULL;
COMMENT ON TABLE managed_roles.users IS 'Registry of managed users, keyed by role OID so it survives renames';
COMMENT ON COLUMN managed_roles.users.username IS 'Name when registered; maps the row to its role when a dump is restored into another cluster';
COMMENT ON COLUMN managed_roles.users.expires_at IS 'End of a time-bound user''s lifetime (NULL: none); see expiry_status';
COMMENT ON COLUMN managed_roles.users.locked_at IS 'When the expiry worker or expire_managed_user() locked the expired user';

CREATE TABLE managed_roles.audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    actor        name NOT NULL,
    session_role name NOT NULL DEFAULT session_user,
    action       text NOT NULL CHECK (action IN ('create', 'adopt', 'reset_password', 'lock', 'unlock', 'drop',
                                                 'define_template', 'drop_template', 'force_logout',
                                                 'block_connections', 'restore_connections',
                                                 'lockout', 'reset_login_activity',
                                                 'renew', 'expire', 'expiry_lock', 'expiry_failed', 'resolve_offboarding')),
    target       name,
    target_oid   oid,
    details      jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE managed_roles.audit_log IS 'Every provisioning action: when, who, what, on whom. Never a password';

-- The id sequence cycles: pg_write_all_data lets other roles setval it, and
-- an exhausted sequence would fail every provisioning call; a repeated value
-- only makes audit::record take its repair path.
ALTER TABLE managed_roles.audit_log ALTER COLUMN id SET CYCLE;

