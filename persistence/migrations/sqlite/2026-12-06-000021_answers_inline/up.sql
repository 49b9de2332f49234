-- Nothing to do: SQLite keeps a value in its row (the PostgreSQL migration sets STORAGE MAIN).
SELECT 1;
