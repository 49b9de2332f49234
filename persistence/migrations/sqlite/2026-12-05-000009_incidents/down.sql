DROP TABLE incident_departments;
DROP TABLE incidents;
