DROP TABLE visit_rules;
