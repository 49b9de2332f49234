DROP TABLE sync_scopes;
DROP INDEX changes_entity_idx;
