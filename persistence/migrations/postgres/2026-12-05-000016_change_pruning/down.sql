ALTER TABLE change_sequence DROP COLUMN pruned_through;
