-- Refresh tokens, stored as SHA-256 hashes. Each login starts a family (a session); every
-- refresh rotates to a new token of the same family. A token used twice means it was stolen:
-- the whole family is revoked.
CREATE TABLE refresh_tokens (
    id           TEXT PRIMARY KEY,
    family_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Revoked sessions (logout, reuse, deactivation): access tokens name their session, and every
-- instance refuses those listed here until the tokens would have expired anyway.
CREATE TABLE revoked_sessions (
    family_id   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    revoked_at  TEXT NOT NULL
);
CREATE INDEX revoked_sessions_time_idx ON revoked_sessions (revoked_at);
