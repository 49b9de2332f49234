DROP TABLE calendar_days;
DROP TABLE incident_categories;
