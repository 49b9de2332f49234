-- Accounts gain what administrators manage: a display name, a phone (personal data: only its
-- ciphertext, key id, keyed hash and masked form are stored), a department binding, and
-- `all_units` for the installation's administrators (they exist before any unit does).
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone_cipher BYTEA;
ALTER TABLE users ADD COLUMN phone_key_id TEXT;
ALTER TABLE users ADD COLUMN phone_hash TEXT;
ALTER TABLE users ADD COLUMN phone_masked TEXT;
ALTER TABLE users ADD COLUMN department_id TEXT REFERENCES departments (id);
ALTER TABLE users ADD COLUMN all_units BOOLEAN NOT NULL DEFAULT FALSE;

-- The units a user works in; `capture` grants create/change as well as read there.
CREATE TABLE user_assignments (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    unit_id  TEXT NOT NULL REFERENCES units (id),
    capture  BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, unit_id)
);
CREATE INDEX user_assignments_unit_idx ON user_assignments (unit_id);

-- Security events and every read of unmasked personal data. Append-only: no route changes it,
-- and the triggers refuse any UPDATE, DELETE or TRUNCATE.
CREATE TABLE audit_events (
    id            TEXT PRIMARY KEY,
    at            TEXT NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    action        TEXT NOT NULL,
    subject_type  TEXT,
    subject_id    TEXT,
    unit_path     TEXT,
    address       TEXT,
    request_id    TEXT,
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, at);
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
