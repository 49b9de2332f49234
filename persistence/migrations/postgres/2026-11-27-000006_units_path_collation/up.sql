-- Subtree queries compare paths as bytes ('/' < '0'): with the "C" collation a plain btree
-- index answers `path >= $1 AND path < $2` and LIKE 'prefix%' even in a generic plan, where
-- text_pattern_ops could not use a bound pattern (a seq scan of every unit per list request).
DROP INDEX units_path_idx;
ALTER TABLE units ALTER COLUMN path TYPE TEXT COLLATE "C";
CREATE INDEX units_path_idx ON units (path);
