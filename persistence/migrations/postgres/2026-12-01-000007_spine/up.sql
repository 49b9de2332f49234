-- The write spine (issue 9): every change of every record is recorded once, in its own
-- transaction, wherever it must be seen.

-- History of every record: who, when, what changed (and why, in details). Households keep
-- their timeline (their residents and visits included) under entity 'household'.
CREATE TABLE history (
    id          TEXT PRIMARY KEY,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor_id    TEXT,
    actor_name  TEXT,
    kind        TEXT NOT NULL,
    version     BIGINT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX history_entity_idx ON history (entity, entity_id, id);
INSERT INTO history (id, entity, entity_id, at, actor_id, kind, details)
    SELECT id, 'household', household_id, at, actor_id, kind, details FROM household_events;
DROP TABLE household_events;

-- The change feed. Rows are written by the changing transaction with no position; the
-- sequencer numbers committed rows afterwards, one batch at a time under the lock of
-- change_sequence, so positions appear in increasing order: a reader that has seen
-- position N never later finds one below N. (A counter taken by every writer at commit
-- would serialise every commit through its fsync: about 1,000 commits/s here.)
CREATE TABLE changes (
    id                TEXT PRIMARY KEY,
    position          BIGINT UNIQUE,
    entity            TEXT NOT NULL,
    entity_id         TEXT NOT NULL,
    version           BIGINT NOT NULL,
    deleted           BOOLEAN NOT NULL,
    unit_path_before  TEXT COLLATE "C",
    unit_path_after   TEXT COLLATE "C",
    at                TEXT NOT NULL
);
CREATE INDEX changes_unsequenced_idx ON changes (id) WHERE position IS NULL;
CREATE TABLE change_sequence (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    last_position  BIGINT NOT NULL
);
INSERT INTO change_sequence (id, last_position) VALUES (1, 0);

-- Events for subscribers outside (the provincial platform), written with the change;
-- delivery comes with the platform integration.
CREATE TABLE outbox (
    id                 TEXT PRIMARY KEY,
    event_type         TEXT NOT NULL,
    aggregate_type     TEXT NOT NULL,
    aggregate_id       TEXT NOT NULL,
    aggregate_version  BIGINT NOT NULL,
    payload            TEXT NOT NULL,
    occurred_at        TEXT NOT NULL,
    delivered_at       TEXT
);
CREATE INDEX outbox_pending_idx ON outbox (event_type, id) WHERE delivered_at IS NULL;

-- Idempotency-Key: the first request with a key claims it (owner, lease); the effect and
-- the stored answer commit together; a retry replays the answer. The body is sealed with
-- the personal-data key (it may hold a one-time password).
CREATE TABLE idempotency_keys (
    account_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    owner         TEXT,
    locked_until  TEXT,
    status        INTEGER,
    headers       TEXT,
    body          BYTEA,
    body_key_id   TEXT,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- Ids that clients made for records they created (UUIDv7), with a digest of what was
-- created: the same id with the same content is the same record; with other content, taken.
CREATE TABLE client_ids (
    id          TEXT PRIMARY KEY,
    entity      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
