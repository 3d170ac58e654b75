-- managed_roles: the default templates, created through define_template()
-- like any other.

-- Default templates, after IBM Cloud Databases (manager, writer) and the
-- predefined monitoring role. Roles this server version lacks are skipped
-- with a NOTICE.
SELECT managed_roles.define_template('writer',
    '{"member_of": ["pg_read_all_data", "pg_write_all_data"]}',
    'Reads and writes all data');
SELECT managed_roles.define_template('reader',
    '{"member_of": ["pg_read_all_data"]}',
    'Reads all data');
SELECT managed_roles.define_template('monitor',
    '{"member_of": ["pg_monitor", "pg_use_reserved_connections"]}',
    'Monitoring views and functions');
SELECT managed_roles.define_template('manager',
    '{"login": {"createdb": true, "createrole": true},
      "member_of": ["pg_read_all_data", "pg_write_all_data", "pg_monitor", "pg_read_all_settings",
                    "pg_read_all_stats", "pg_stat_scan_tables", "pg_signal_backend", "pg_checkpoint",
                    "pg_create_subscription"],
      "admin_of": ["pg_monitor", "pg_signal_backend"],
      "includes": ["writer"]}',
    'Admin-like user: CREATEDB CREATEROLE, monitoring, signals, provisions writers and managers');
