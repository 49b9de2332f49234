DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE user_assignments;
ALTER TABLE users DROP COLUMN all_units, DROP COLUMN department_id, DROP COLUMN phone_masked,
    DROP COLUMN phone_hash, DROP COLUMN phone_key_id, DROP COLUMN phone_cipher,
    DROP COLUMN display_name;
