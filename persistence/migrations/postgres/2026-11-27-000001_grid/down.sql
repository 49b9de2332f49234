DROP TABLE meta;
DROP TABLE users;
DROP TABLE unit_coverage;
DROP TABLE units;
