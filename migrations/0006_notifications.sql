-- Notifications that are never lost: each event is written here in the same transaction as
-- the state change that caused it (the run that made a job failing or recovered, the
-- remediation's verification), and a sender per notifier delivers them in order, retrying
-- with back-off until it succeeds or the event is older than its max age (`expired`).
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    notifier         TEXT    NOT NULL,
    event            TEXT    NOT NULL,            -- job_failing, job_recovered, … (docs/notifications.md)
    job              TEXT,
    rule             TEXT,
    payload          TEXT    NOT NULL,            -- the event as JSON, what a webhook receives
    created_at       INTEGER NOT NULL,            -- unix ms
    state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'expired')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,            -- unix ms
    last_error       TEXT,
    answer           TEXT,                        -- what the receiver said (status line, first bytes)
    finished_at      INTEGER                      -- delivered or expired, unix ms
) STRICT;

CREATE INDEX outbox_pending ON outbox (notifier, state, id);

-- What people were last told about each job: its alert state moves only after
-- notify_after failing runs, and back after recover_after ok runs.
ALTER TABLE job_state ADD COLUMN alert_state TEXT NOT NULL DEFAULT 'ok';       -- ok | failing
ALTER TABLE job_state ADD COLUMN alert_severity TEXT;                          -- while failing
ALTER TABLE job_state ADD COLUMN alert_notified INTEGER NOT NULL DEFAULT 0;    -- the failing event went out
ALTER TABLE job_state ADD COLUMN alert_notified_at INTEGER;                    -- for `repeat:`

-- `warden silence add --keep-notifying`: suppress remediation, still tell people.
ALTER TABLE silences ADD COLUMN notify INTEGER NOT NULL DEFAULT 0;
