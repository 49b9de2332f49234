-- Incidents (issue 10): a case reported at a place, owned by a unit (routing raises it to the
-- category's lowest level, escalation moves it up), possibly handed to a department. Times are
-- RFC 3339 UTC text like everywhere; the deadlines of the stage the case is in are stored so
-- the clock can find overdue cases by an index range. `reporter_id` is the reporting account;
-- a reporter's own name and phone (personal data, sealed like residents') get a table of
-- their own.
CREATE TABLE incidents (
    id                   TEXT PRIMARY KEY,
    category_code        TEXT COLLATE "C" NOT NULL REFERENCES incident_categories (code),
    priority             TEXT NOT NULL,
    status               TEXT NOT NULL,
    held_from            TEXT,
    description          TEXT NOT NULL,
    lon                  DOUBLE PRECISION NOT NULL,
    lat                  DOUBLE PRECISION NOT NULL,
    cell                 BIGINT NOT NULL,
    household_id         TEXT,
    locality_unit_id     TEXT NOT NULL REFERENCES units (id),
    owner_unit_id        TEXT NOT NULL REFERENCES units (id),
    department_id        TEXT REFERENCES departments (id),
    routing_rule         TEXT NOT NULL,
    routing_explanation  TEXT NOT NULL,
    reporter_id          TEXT,
    anonymous            BOOLEAN NOT NULL DEFAULT FALSE,
    merged_into          TEXT,
    extension_pending    BOOLEAN NOT NULL DEFAULT FALSE,
    register_due         TEXT,
    sign_due             TEXT,
    close_due            TEXT,
    -- The earliest of the deadlines above the clock has not acted on yet (NULL: none runs);
    -- the clock finds overdue cases by this column's index.
    next_due             TEXT,
    -- The latest deadline the clock acted on, so no deadline is acted on twice.
    clock_noted          TEXT,
    escalations          INTEGER NOT NULL DEFAULT 0,
    satisfied            BOOLEAN,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    closed_at            TEXT,
    version              BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX incidents_owner_idx ON incidents (owner_unit_id, id);
-- Duplicates are looked for among a category's cases in a narrow band of latitude.
CREATE INDEX incidents_category_idx ON incidents (category_code, lat);
-- Most cases are not handed to a department: index only those that are.
CREATE INDEX incidents_department_idx ON incidents (department_id) WHERE department_id IS NOT NULL;
CREATE INDEX incidents_next_due_idx ON incidents (next_due);

-- Departments summoned to a case (吹哨报到), each with its report-in deadline.
CREATE TABLE incident_departments (
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    department_id   TEXT NOT NULL REFERENCES departments (id),
    summoned_at     TEXT NOT NULL,
    report_in_due   TEXT NOT NULL,
    reported_in_at  TEXT,
    -- When the clock found the report-in missed and told the command centre (once).
    missed_at       TEXT,
    PRIMARY KEY (incident_id, department_id)
);
CREATE INDEX incident_departments_department_idx ON incident_departments (department_id);
