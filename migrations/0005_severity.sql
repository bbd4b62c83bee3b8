-- One vocabulary for how a check ended, in Nagios's words: ok, warning, critical, unknown
-- (the check ran but could not tell: a plugin error, a bad result), timeout, skipped,
-- interrupted. Older rows said `failed` (now `critical`) and `error` (now `unknown`).
-- SQLite cannot change a CHECK constraint in place: the two tables are rebuilt, and the
-- views that read them are recreated with the new words.

DROP VIEW runs_local;
DROP VIEW failed_attempts;
DROP VIEW failing_jobs;
DROP VIEW job_summary_24h;

CREATE TABLE runs_new (
    id            INTEGER PRIMARY KEY,
    job           TEXT    NOT NULL,
    plugin        TEXT    NOT NULL,
    -- schedule | manual | retry-of:<run id> | verify-of:<remediation id>
    trigger       TEXT    NOT NULL,
    scheduled_at  INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER NOT NULL,
    duration_ms   REAL,
    status        TEXT    NOT NULL CHECK (status IN ('ok', 'warning', 'critical', 'unknown', 'timeout', 'skipped', 'interrupted')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    message       TEXT    NOT NULL DEFAULT '',
    error         TEXT,
    retry         INTEGER NOT NULL DEFAULT 0,
    data          TEXT,
    config_hash   TEXT    NOT NULL,
    conditions    TEXT
) STRICT;

INSERT INTO runs_new
SELECT id, job, plugin, trigger, scheduled_at, started_at, finished_at, duration_ms,
       CASE status WHEN 'failed' THEN 'critical' WHEN 'error' THEN 'unknown' ELSE status END,
       attempts, message, error, retry, data, config_hash, conditions
FROM runs;

CREATE TABLE attempts_new (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    wait_ms       REAL    NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   REAL    NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('ok', 'warning', 'critical', 'unknown', 'timeout', 'interrupted')),
    retry         INTEGER NOT NULL DEFAULT 0,
    message       TEXT    NOT NULL DEFAULT '',
    error         TEXT,
    PRIMARY KEY (run_id, number)
) STRICT, WITHOUT ROWID;

INSERT INTO attempts_new
SELECT run_id, number, wait_ms, started_at, duration_ms,
       CASE outcome WHEN 'failed' THEN 'critical' WHEN 'error' THEN 'unknown' ELSE outcome END,
       retry, message, error
FROM attempts;

DROP TABLE attempts;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX runs_by_job_time ON runs (job, scheduled_at);
CREATE INDEX runs_by_time ON runs (scheduled_at);

UPDATE job_state SET last_status = CASE last_status WHEN 'failed' THEN 'critical' WHEN 'error' THEN 'unknown' ELSE last_status END;

CREATE VIEW runs_local AS
SELECT id, job, plugin, trigger, status, attempts,
       datetime(scheduled_at / 1000, 'unixepoch', 'localtime') AS scheduled,
       round(duration_ms, 1) AS duration_ms,
       message, error
FROM runs;

-- Every attempt that was not ok, with its run.
CREATE VIEW failed_attempts AS
SELECT r.job, a.run_id, a.number, a.outcome, round(a.wait_ms) AS wait_ms,
       datetime(a.started_at / 1000, 'unixepoch', 'localtime') AS started,
       a.error
FROM attempts a JOIN runs r ON r.id = a.run_id
WHERE a.outcome <> 'ok';

-- Jobs whose last run was not ok (warning, critical, unknown, timeout).
CREATE VIEW failing_jobs AS
SELECT job, last_status, consecutive_failures,
       datetime(last_change_at / 1000, 'unixepoch', 'localtime') AS failing_since
FROM job_state
WHERE last_status IN ('warning', 'critical', 'unknown', 'timeout');

-- The last 24 hours per job; `failing` is every run that was not ok (and not skipped).
CREATE VIEW job_summary_24h AS
SELECT job,
       count(*) AS runs,
       sum(status = 'ok') AS ok,
       sum(status = 'warning') AS warning,
       sum(status = 'critical') AS critical,
       sum(status = 'unknown') AS unknown,
       sum(status = 'timeout') AS timeout,
       sum(status IN ('warning', 'critical', 'unknown', 'timeout')) AS failing,
       sum(status = 'skipped') AS skipped,
       round(100.0 * sum(status = 'ok') / nullif(sum(status <> 'skipped'), 0), 1) AS success_pct,
       round(avg(duration_ms), 1) AS avg_ms,
       datetime(max(scheduled_at) / 1000, 'unixepoch', 'localtime') AS last_run
FROM runs
WHERE scheduled_at >= (unixepoch('now') - 86400) * 1000
GROUP BY job;
