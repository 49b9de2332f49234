DROP INDEX units_path_idx;
ALTER TABLE units ALTER COLUMN path TYPE TEXT COLLATE "default";
CREATE INDEX units_path_idx ON units (path text_pattern_ops);
