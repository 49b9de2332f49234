DROP TABLE incident_measures;
