-- Evidence and result photos of a case (issue 10). The content lives once per SHA-256 in the
-- blob store; a row links it to a case with its kind. The same content attached again to the
-- same case as the same kind is the same attachment.
CREATE TABLE incident_attachments (
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    hash         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    media_type   TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    uploaded_by  TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (incident_id, hash, kind)
);
