-- The scopes a phone's downloaded copy may stand for: an account's roles, units and
-- department, named by a short hash that sync cursors carry. When the account's scope
-- changes, the scope it had is kept here so a phone's next sync can tell what to take away
-- and what to add.
CREATE TABLE sync_scopes (
    user_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, tag)
);

-- A record's changes, for a sync asking which of some records changed after a position.
CREATE INDEX changes_entity_idx ON changes (entity_id);
