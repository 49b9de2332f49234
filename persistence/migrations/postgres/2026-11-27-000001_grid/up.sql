-- Ids, codes and timestamps are TEXT on both backends so that one set of diesel queries runs on
-- both (see docs/ARCHITECTURE.md): ids are UUIDv7 strings (they sort by creation time),
-- timestamps RFC 3339 UTC with fixed millisecond width (they sort as text).
CREATE TABLE units (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    level       INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
    parent_id   TEXT REFERENCES units (id),
    -- '/<root id>/…/<own id>/': subtree queries are one prefix match.
    path        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    CHECK ((level = 1) = (parent_id IS NULL))
);
CREATE INDEX units_parent_idx ON units (parent_id, id);
CREATE INDEX units_level_idx ON units (level, id);
CREATE INDEX units_path_idx ON units (path text_pattern_ops);

-- A unit's coverage is read and written whole: a sorted array of compacted H3 cells, 8 bytes
-- little-endian each. No SQL looks inside it; the in-memory index does.
CREATE TABLE unit_coverage (
    unit_id          TEXT PRIMARY KEY REFERENCES units (id) ON DELETE CASCADE,
    resolution       INTEGER NOT NULL,
    cells            BYTEA NOT NULL,
    cell_count       BIGINT NOT NULL,
    leaf_cell_count  BIGINT NOT NULL,
    boundary         TEXT,
    updated_at       TEXT NOT NULL
);

CREATE TABLE users (
    id                    TEXT PRIMARY KEY,
    username              TEXT NOT NULL UNIQUE,
    password_hash         TEXT NOT NULL,
    roles                 TEXT NOT NULL,
    active                BOOLEAN NOT NULL DEFAULT TRUE,
    must_change_password  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    version               BIGINT NOT NULL DEFAULT 1
);

-- Small facts about the installation, e.g. the coverage generation that tells every
-- instance its locate index is stale.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('coverage_generation', '0');
