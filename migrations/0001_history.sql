-- Warden history: one row per run of a job, one row per attempt of a run, one row of
-- current state per job. Times are Unix epoch milliseconds (INTEGER); the views add
-- local-time text for people reading with sqlite3.

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    job           TEXT    NOT NULL,
    plugin        TEXT    NOT NULL,
    -- schedule | manual | retry-of:<run id> (reserved for follow-up runs)
    trigger       TEXT    NOT NULL,
    scheduled_at  INTEGER NOT NULL,            -- when the schedule (or the operator) asked for it
    started_at    INTEGER,                     -- NULL for skipped runs
    finished_at   INTEGER NOT NULL,
    duration_ms   REAL,                        -- first attempt start to last attempt end
    status        TEXT    NOT NULL CHECK (status IN ('ok', 'failed', 'timeout', 'error', 'skipped', 'interrupted')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    message       TEXT    NOT NULL DEFAULT '',
    error         TEXT,                        -- also the skip reason: overlap, queue-full, shutdown
    retry         INTEGER NOT NULL DEFAULT 0,  -- the last result's retry flag
    data          TEXT,                        -- the last result's data, JSON, secrets scrubbed
    config_hash   TEXT    NOT NULL
) STRICT;

-- History of one job, newest first; and everything in a time range.
CREATE INDEX runs_by_job_time ON runs (job, scheduled_at);
CREATE INDEX runs_by_time ON runs (scheduled_at);

CREATE TABLE attempts (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,            -- 1-based
    wait_ms       REAL    NOT NULL,            -- the back-off waited before this attempt
    started_at    INTEGER NOT NULL,
    duration_ms   REAL    NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('ok', 'failed', 'timeout', 'error', 'interrupted')),
    retry         INTEGER NOT NULL DEFAULT 0,
    message       TEXT    NOT NULL DEFAULT '',
    error         TEXT,
    PRIMARY KEY (run_id, number)
) STRICT, WITHOUT ROWID;

CREATE TABLE job_state (
    job                   TEXT    PRIMARY KEY,
    last_status           TEXT    NOT NULL,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    consecutive_successes INTEGER NOT NULL DEFAULT 0,
    last_run_id           INTEGER,
    last_run_at           INTEGER NOT NULL,
    -- when the job last went from passing to failing or back
    last_change_at        INTEGER NOT NULL,
    config_hash           TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- For sqlite3 users: runs with readable times.
CREATE VIEW runs_local AS
SELECT id, job, plugin, trigger, status, attempts,
       datetime(scheduled_at / 1000, 'unixepoch', 'localtime') AS scheduled,
       round(duration_ms, 1) AS duration_ms,
       message, error
FROM runs;

-- Every attempt that did not succeed, with its run.
CREATE VIEW failed_attempts AS
SELECT r.job, a.run_id, a.number, a.outcome, round(a.wait_ms) AS wait_ms,
       datetime(a.started_at / 1000, 'unixepoch', 'localtime') AS started,
       a.error
FROM attempts a JOIN runs r ON r.id = a.run_id
WHERE a.outcome <> 'ok';

-- Jobs failing right now.
CREATE VIEW failing_jobs AS
SELECT job, last_status, consecutive_failures,
       datetime(last_change_at / 1000, 'unixepoch', 'localtime') AS failing_since
FROM job_state
WHERE last_status IN ('failed', 'timeout', 'error');

-- The last 24 hours per job.
CREATE VIEW job_summary_24h AS
SELECT job,
       count(*) AS runs,
       sum(status = 'ok') AS ok,
       sum(status IN ('failed', 'timeout', 'error')) AS failed,
       sum(status = 'skipped') AS skipped,
       round(100.0 * sum(status = 'ok') / nullif(sum(status <> 'skipped'), 0), 1) AS success_pct,
       round(avg(duration_ms), 1) AS avg_ms,
       datetime(max(scheduled_at) / 1000, 'unixepoch', 'localtime') AS last_run
FROM runs
WHERE scheduled_at >= (unixepoch('now') - 86400) * 1000
GROUP BY job;
