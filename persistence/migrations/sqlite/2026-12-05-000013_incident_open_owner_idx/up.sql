-- The command centre's commonest list, a unit's open cases: open cases by owner, in id
-- order, without walking the closed ones (most of a year's cases); with the status, so
-- the page's ids come from the index alone.
CREATE INDEX incidents_open_owner_idx ON incidents (owner_unit_id, id, status)
    WHERE status NOT IN ('closed', 'rejected');
