-- Patrols (巡查): a grid worker walks their grid with a phone recording a GPS track. The
-- patrol is placed in the unit it patrols; the walker and the unit are not foreign keys, so
-- a patrol stays on record after the account or the unit is gone (as history does). The
-- summary columns stay NULL until the patrol is finished, then hold what
-- `wangge_geo::analyse` made of the track: `cells` the H3 cells walked at the leaf
-- resolution (hexadecimal, comma-separated), `flags` the implausible segments (JSON).
-- `points` counts the fixes stored; `duplicates` the fixes sent again (same time), dropped.
CREATE TABLE patrols (
    id            TEXT PRIMARY KEY,
    unit_id       TEXT NOT NULL,
    walker_id     TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    points        BIGINT NOT NULL DEFAULT 0,
    duplicates    BIGINT NOT NULL DEFAULT 0,
    distance_m    DOUBLE PRECISION,
    duration_s    BIGINT,
    cells         TEXT,
    flags         TEXT,
    accepted      BIGINT,
    ignored       BIGINT,
    first_fix_at  TEXT,
    last_fix_at   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX patrols_unit_idx ON patrols (unit_id, id);
CREATE INDEX patrols_walker_idx ON patrols (walker_id, id);

-- The fixes of a patrol's track, WGS-84. A fix sent again (the same patrol and time) is
-- dropped by the primary key. Kept in the order received; the analysis sorts by time.
CREATE TABLE patrol_points (
    patrol_id    TEXT NOT NULL REFERENCES patrols (id) ON DELETE CASCADE,
    at           TEXT NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    lat          DOUBLE PRECISION NOT NULL,
    accuracy_m   DOUBLE PRECISION NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (patrol_id, at)
);
