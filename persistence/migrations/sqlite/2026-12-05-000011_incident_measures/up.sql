-- What the command centre's figures count (domain.md, "Measures"), kept per case as it moves
-- so a period's figures are one pass of sums, with no walk through the history: when the case
-- was registered, dispatched and signed for, the close deadline it is measured against (kept
-- after it closes; an extension moves it), whether it closed by then, the seconds to sign for
-- and to close, and when the reporter was called back. A row appears at the case's first
-- measured step (a report alone has none). A table of its own: the case row is read and
-- written by every action, these columns only by a few.
CREATE TABLE incident_measures (
    incident_id    TEXT PRIMARY KEY REFERENCES incidents (id),
    registered_at  TEXT,
    dispatched_at  TEXT,
    signed_at      TEXT,
    sign_seconds   BIGINT,
    due_at         TEXT,
    close_seconds  BIGINT,
    on_time        BOOLEAN,
    callback_at    TEXT
);
