-- Photos a phone uploads before the operations that use them (field sync): one row per
-- account and content hash. An upload may come in pieces over a bad network; the row says
-- how much has arrived (the partial file is cut back to it before the next piece), and when
-- the whole content, checked against its hash, was stored. Only the account that uploaded a
-- content may attach it by hash.
CREATE TABLE blob_uploads (
    account_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    total_bytes BIGINT NOT NULL,
    received_bytes BIGINT NOT NULL,
    media_type TEXT,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    PRIMARY KEY (account_id, hash)
);
