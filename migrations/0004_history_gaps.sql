-- Runs the daemon could not store: while the database refused writes (read-only, full,
-- locked) it buffered runs up to a documented bound and past it dropped the oldest. Each
-- stretch of drops leaves one row here once writes succeed again, so a hole in `runs` is
-- never silent.
CREATE TABLE history_gaps (
    id           INTEGER PRIMARY KEY,
    first_at     INTEGER NOT NULL,        -- scheduled time of the first dropped run, unix ms
    last_at      INTEGER NOT NULL,        -- scheduled time of the last dropped run, unix ms
    dropped      INTEGER NOT NULL,        -- how many runs were dropped
    reason       TEXT    NOT NULL,        -- the write error while they were dropped
    recorded_at  INTEGER NOT NULL         -- when the gap was written, unix ms
) STRICT;
