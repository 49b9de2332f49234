-- Incident categories (issue 10): a two-level tree keyed by a stable code (`01` a class,
-- `0101` one of its leaves), each with its routing policy and time limits (JSON, per
-- priority and stage). A category in use is retired, never deleted.
CREATE TABLE incident_categories (
    code           TEXT PRIMARY KEY,
    parent_code    TEXT REFERENCES incident_categories (code),
    name           TEXT NOT NULL,
    key            TEXT NOT NULL UNIQUE,
    department_id  TEXT REFERENCES departments (id),
    lowest_level   INTEGER NOT NULL,
    routing        TEXT NOT NULL,
    time_limits    TEXT NOT NULL,
    retired        BOOLEAN NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    version        BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX incident_categories_parent_idx ON incident_categories (parent_code);
CREATE INDEX incident_categories_department_idx ON incident_categories (department_id);

-- The working-day calendar: only the dates that differ from the plain week (a holiday, or a
-- weekend day made a working day), one row per date (`YYYY-MM-DD`, Beijing time).
CREATE TABLE calendar_days (
    day         TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1
);
