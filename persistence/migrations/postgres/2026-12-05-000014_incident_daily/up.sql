-- The command centre's figures summed ahead, per day (in China's time): a year of a district
-- is a few thousand rows instead of every case of the year. Each case adds its share to the
-- day it was registered, the day its close deadline falls, the day it closed and the day it
-- was signed for, under its owner unit and every unit above it; the transaction that changes
-- a case moves its share (the difference before and after), so the sums are never behind.
-- `own` marks the share of the cases the unit owns itself (the rest is its children's).
-- `day` is `YYYY-MM-DD`, or `MYYYY-MM` for a month's sum (a year is read as twelve rows);
-- keys compare as bytes ("C"), as unit paths do.
CREATE TABLE incident_daily_units (
    unit_id          TEXT COLLATE "C" NOT NULL,
    day              TEXT COLLATE "C" NOT NULL,
    own              BOOLEAN NOT NULL,
    registered       BIGINT NOT NULL DEFAULT 0,
    due              BIGINT NOT NULL DEFAULT 0,
    closed           BIGINT NOT NULL DEFAULT 0,
    closed_on_time   BIGINT NOT NULL DEFAULT 0,
    closed_in_period BIGINT NOT NULL DEFAULT 0,
    replied          BIGINT NOT NULL DEFAULT 0,
    satisfied        BIGINT NOT NULL DEFAULT 0,
    signed           BIGINT NOT NULL DEFAULT 0,
    sign_seconds     BIGINT NOT NULL DEFAULT 0,
    close_seconds    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_id, day, own)
);
-- The same per leaf category, over the unit's whole subtree.
CREATE TABLE incident_daily_categories (
    unit_id          TEXT COLLATE "C" NOT NULL,
    day              TEXT COLLATE "C" NOT NULL,
    category_code    TEXT COLLATE "C" NOT NULL,
    registered       BIGINT NOT NULL DEFAULT 0,
    due              BIGINT NOT NULL DEFAULT 0,
    closed           BIGINT NOT NULL DEFAULT 0,
    closed_on_time   BIGINT NOT NULL DEFAULT 0,
    closed_in_period BIGINT NOT NULL DEFAULT 0,
    replied          BIGINT NOT NULL DEFAULT 0,
    satisfied        BIGINT NOT NULL DEFAULT 0,
    signed           BIGINT NOT NULL DEFAULT 0,
    sign_seconds     BIGINT NOT NULL DEFAULT 0,
    close_seconds    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_id, day, category_code)
);
-- A period that does not start or end at midnight is summed from the cases themselves for
-- its partial days: these find a day's cases by each time a figure counts.
CREATE INDEX incident_measures_registered_idx ON incident_measures (registered_at);
CREATE INDEX incident_measures_due_idx ON incident_measures (due_at);
CREATE INDEX incident_measures_signed_idx ON incident_measures (signed_at);
CREATE INDEX incidents_closed_idx ON incidents (closed_at) WHERE closed_at IS NOT NULL;
-- "Overdue now" is the present, not a period: the cases open now (not on hold) past a
-- running deadline. Those the clock has noted as past it (every one, within its interval)
-- are counted here per unit above them and category, kept by the transactions that change
-- them; the few it has not reached yet are found by `incidents_next_due_idx`.
CREATE TABLE incident_overdue (
    unit_id       TEXT COLLATE "C" NOT NULL,
    category_code TEXT COLLATE "C" NOT NULL,
    own           BOOLEAN NOT NULL,
    n             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_id, category_code, own)
);
