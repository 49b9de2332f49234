-- The change feed is pruned of old positions (`wangge changes prune`); a phone whose sync
-- cursor lies at or below the last pruned position must start again (410 cursor_expired).
ALTER TABLE change_sequence ADD COLUMN pruned_through BIGINT NOT NULL DEFAULT 0;
