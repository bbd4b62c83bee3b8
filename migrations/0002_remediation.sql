-- Failure rules and remediation: the audit trail, the state rules and jobs need across
-- restarts, silences, and the outcome of each job's `expect:` conditions.

-- [{"expression": "...", "passed": true|false, "value": <what the left side was>}] per run.
ALTER TABLE runs ADD COLUMN conditions TEXT;

CREATE TABLE remediations (
    id                  INTEGER PRIMARY KEY,
    rule                TEXT    NOT NULL,
    job                 TEXT    NOT NULL,
    trigger             TEXT    NOT NULL,            -- the trigger that matched, in words
    trigger_runs        TEXT    NOT NULL,            -- JSON array of the run ids it matched on
    step                INTEGER,                     -- 1-based escalation level; NULL when suppressed
    plugin              TEXT,
    params              TEXT,                        -- rendered parameters, JSON, secrets redacted
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    outcome             TEXT    NOT NULL CHECK (outcome IN ('running', 'ok', 'failed', 'timeout', 'error', 'interrupted', 'dry-run', 'suppressed')),
    dry_run             INTEGER NOT NULL DEFAULT 0,
    suppressed_reason   TEXT,                        -- silenced, maintenance, flapping, parent failing, cooldown, budget exhausted, remediation off
    message             TEXT,
    error               TEXT,
    data                TEXT,                        -- the remediation's result data, JSON
    context             TEXT,                        -- JSON: results of the diagnostic steps run for context
    verification_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    verification        TEXT    CHECK (verification IN ('passed', 'failed', 'skipped')),
    state               TEXT                         -- JSON: cooldown, budget, flap, dependency, silence at that moment
) STRICT;

CREATE INDEX remediations_by_time ON remediations (started_at);
CREATE INDEX remediations_by_rule ON remediations (rule, started_at);
CREATE INDEX remediations_by_job ON remediations (job, started_at);

-- Counters, windows, flap history (kind 'job') and cooldown, budget, escalation (kind
-- 'rule'), keyed by config hash: a changed job or rule starts fresh.
CREATE TABLE engine_state (
    kind         TEXT    NOT NULL CHECK (kind IN ('job', 'rule')),
    name         TEXT    NOT NULL,
    config_hash  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
) STRICT, WITHOUT ROWID;

-- `warden silence add`: remediation for matching jobs or rules is suppressed until `until`.
CREATE TABLE silences (
    id          INTEGER PRIMARY KEY,
    job         TEXT,                    -- a job name or glob
    rule        TEXT,                    -- a rule name or glob
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    CHECK (job IS NOT NULL OR rule IS NOT NULL)
) STRICT;

CREATE INDEX silences_by_until ON silences (until);

-- Remediations with readable times, newest first when ordered by id.
CREATE VIEW remediations_local AS
SELECT id, rule, job, step, plugin, outcome, dry_run, suppressed_reason, verification,
       datetime(started_at / 1000, 'unixepoch', 'localtime') AS started,
       message, error
FROM remediations;
