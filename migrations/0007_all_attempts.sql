-- A run that succeeded at its first attempt has no row in `attempts`: the run row is that
-- attempt (one row instead of two for nearly every check). `all_attempts` lists every
-- attempt of every run, those included, for people reading with sqlite3. Runs written
-- before this migration keep their attempts rows; the view lists them once.
CREATE VIEW all_attempts AS
SELECT run_id, number, wait_ms, started_at, duration_ms, outcome, retry, message, error
FROM attempts
UNION ALL
SELECT r.id, 1, 0.0, r.started_at, r.duration_ms, 'ok', r.retry, r.message, r.error
FROM runs r
WHERE r.status = 'ok' AND r.attempts = 1
  AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.id);
