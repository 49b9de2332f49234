DROP INDEX incidents_nearby_idx;
CREATE INDEX incidents_category_idx ON incidents (category_code, lat);
