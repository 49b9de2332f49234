-- Possible duplicates of a new report are open cases of its category in a box of about
-- 100 m. Indexed by (category, latitude band of about 111 m, longitude), the box is read
-- from the index alone: the old (category, latitude) index walked every case of the
-- category across the district's width in the box's latitudes and fetched each one.
DROP INDEX incidents_category_idx;
CREATE INDEX incidents_nearby_idx ON incidents (category_code, CAST(lat * 1000 AS INTEGER), lon);
