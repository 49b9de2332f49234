DROP TABLE incident_reporters;
