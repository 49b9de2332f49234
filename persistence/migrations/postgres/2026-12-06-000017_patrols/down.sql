DROP TABLE patrol_points;
DROP TABLE patrols;
