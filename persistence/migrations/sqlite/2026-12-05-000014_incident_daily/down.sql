DROP TABLE incident_overdue;
DROP INDEX incidents_closed_idx;
DROP INDEX incident_measures_signed_idx;
DROP INDEX incident_measures_due_idx;
DROP INDEX incident_measures_registered_idx;
DROP TABLE incident_daily_categories;
DROP TABLE incident_daily_units;
