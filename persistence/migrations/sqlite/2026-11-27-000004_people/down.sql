DROP TABLE audit_events;
DROP TABLE user_assignments;
ALTER TABLE users DROP COLUMN all_units;
ALTER TABLE users DROP COLUMN department_id;
ALTER TABLE users DROP COLUMN phone_masked;
ALTER TABLE users DROP COLUMN phone_hash;
ALTER TABLE users DROP COLUMN phone_key_id;
ALTER TABLE users DROP COLUMN phone_cipher;
ALTER TABLE users DROP COLUMN display_name;
