-- The household registry (户). A household sits in a household group (`unit_id`), found by
-- locating its point, or set by staff with a reason (`unit_reason`) where an address does not
-- follow the geometry. `cell` is its H3 cell at the leaf resolution (a u64 stored as BIGINT).
-- `tags` is ',tag,tag,' so one LIKE finds a tag.
CREATE TABLE households (
    id           TEXT PRIMARY KEY,
    unit_id      TEXT NOT NULL REFERENCES units (id),
    address      TEXT NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    lat          DOUBLE PRECISION NOT NULL,
    cell         BIGINT NOT NULL,
    unit_reason  TEXT,
    tags         TEXT NOT NULL DEFAULT '',
    notes        TEXT,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    version      BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX households_unit_idx ON households (unit_id, id);
CREATE INDEX households_lat_idx ON households (lat, lon);

-- Residents. Identity-card numbers and phones are personal data under PIPL: stored as
-- AES-256-GCM ciphertext with the id of the key that sealed it (for rotation), an HMAC-SHA256
-- keyed hash for exact-match search, and the masked form responses show by default. The plain
-- text is never stored.
CREATE TABLE residents (
    id              TEXT PRIMARY KEY,
    household_id    TEXT NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    gender          TEXT,
    birth_date      TEXT,
    relation        TEXT NOT NULL,
    id_card_cipher  BYTEA,
    id_card_key_id  TEXT,
    id_card_hash    TEXT UNIQUE,
    id_card_masked  TEXT,
    phone_cipher    BYTEA,
    phone_key_id    TEXT,
    phone_hash      TEXT,
    phone_masked    TEXT,
    tags            TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    version         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX residents_household_idx ON residents (household_id, id);
CREATE INDEX residents_phone_idx ON residents (phone_hash);

-- What happened to a household: created, changed, moved to another unit (by staff or because
-- coverage changed hands), deleted. Kept after the household is gone.
CREATE TABLE household_events (
    id            TEXT PRIMARY KEY,
    household_id  TEXT NOT NULL,
    at            TEXT NOT NULL,
    actor_id      TEXT,
    kind          TEXT NOT NULL,
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX household_events_household_idx ON household_events (household_id, id);

-- A grid worker's visit (走访).
CREATE TABLE visits (
    id            TEXT PRIMARY KEY,
    household_id  TEXT NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    unit_id       TEXT NOT NULL,
    visitor_id    TEXT NOT NULL REFERENCES users (id),
    visited_at    TEXT NOT NULL,
    lon           DOUBLE PRECISION,
    lat           DOUBLE PRECISION,
    notes         TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX visits_household_idx ON visits (household_id, visited_at);
