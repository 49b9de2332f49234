-- Stored answers are sealed, so they do not compress. Kept in the row (MAIN) instead of in
-- TOAST beside it unless the row would not fit a page: a report's answer of about 2 KB then
-- costs one row, not a row, a TOAST row and its index entry.
ALTER TABLE idempotency_keys ALTER COLUMN body SET STORAGE MAIN;
