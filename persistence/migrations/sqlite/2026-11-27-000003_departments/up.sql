-- Functional departments (职能部门) that cases are dispatched to; department users are bound
-- to one (issue 3). `code` is a short stable key, `name` the Chinese name.
CREATE TABLE departments (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1
);
