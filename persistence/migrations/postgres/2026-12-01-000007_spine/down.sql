DROP TABLE client_ids;
DROP TABLE idempotency_keys;
DROP TABLE outbox;
DROP TABLE change_sequence;
DROP TABLE changes;
CREATE TABLE household_events (
    id            TEXT PRIMARY KEY,
    household_id  TEXT NOT NULL,
    at            TEXT NOT NULL,
    actor_id      TEXT,
    kind          TEXT NOT NULL,
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX household_events_household_idx ON household_events (household_id, id);
INSERT INTO household_events (id, household_id, at, actor_id, kind, details)
    SELECT id, entity_id, at, actor_id, kind, details FROM history WHERE entity = 'household';
DROP TABLE history;
