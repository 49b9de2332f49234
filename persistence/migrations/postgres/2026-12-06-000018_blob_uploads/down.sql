DROP TABLE blob_uploads;
