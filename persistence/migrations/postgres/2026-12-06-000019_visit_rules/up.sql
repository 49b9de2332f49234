-- How often a household with a tag is due a visit (走访), for grid workers' task lists.
-- Administrators change the rules; these are the district's defaults.
CREATE TABLE visit_rules (
    tag TEXT PRIMARY KEY,
    every_days INTEGER NOT NULL,
    version BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO visit_rules (tag, every_days, version, updated_at) VALUES
    ('elderly_alone', 7, 1, '2026-12-06T00:00:00.000Z'),
    ('special_attention', 7, 1, '2026-12-06T00:00:00.000Z'),
    ('disabled', 14, 1, '2026-12-06T00:00:00.000Z'),
    ('left_behind_child', 14, 1, '2026-12-06T00:00:00.000Z'),
    ('minimum_income', 30, 1, '2026-12-06T00:00:00.000Z');
