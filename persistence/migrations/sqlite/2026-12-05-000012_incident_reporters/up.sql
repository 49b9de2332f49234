-- A reporter's own name and phone, given with a report (personal data: sealed like
-- residents', with masked forms for everyday reads). A table of its own so the case row,
-- read by every list, never carries them.
CREATE TABLE incident_reporters (
    incident_id   TEXT PRIMARY KEY REFERENCES incidents (id),
    name_cipher   BLOB,
    name_key_id   TEXT,
    name_masked   TEXT,
    phone_cipher  BLOB,
    phone_key_id  TEXT,
    phone_masked  TEXT
);
