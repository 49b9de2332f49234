DROP TABLE visits;
DROP TABLE household_events;
DROP TABLE residents;
DROP TABLE households;
