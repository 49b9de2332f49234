DROP INDEX incidents_open_owner_idx;
