import Foundation
import GRDB
import WardenPluginKit

extension HistoryStore {
    /// Writes runs (with their attempts and the job-state update) in one transaction:
    /// a run that succeeded at its first try is its own attempt (`RunRecord.soleAttempt`).
    /// one commit per batch is what lets thousands of results a second reach the disk.
    /// Returns the new run ids, in order.
    /// A `gap` (runs the writer had to drop) is recorded in the same transaction.
    @discardableResult
    public func insert(_ runs: [RunRecord], gap: HistoryGap? = nil) throws -> [Int64] {
        guard !runs.isEmpty || gap != nil else { return [] }
        let written: (ids: [Int64], quiet: QuietAlerts)
        do {
            written = try writer.write { db in
                if let gap {
                    try db.execute(sql: """
                        INSERT INTO history_gaps (first_at, last_at, dropped, reason, recorded_at) VALUES (?, ?, ?, ?, ?)
                        """, arguments: [gap.firstAt.epochMilliseconds, gap.lastAt.epochMilliseconds, gap.dropped, gap.reason, Date().epochMilliseconds])
                }
                var ids: [Int64] = []
                ids.reserveCapacity(runs.count)
                let insertRun = try db.cachedStatement(sql: """
                    INSERT INTO runs (job, plugin, trigger, scheduled_at, started_at, finished_at, duration_ms,
                                      status, attempts, message, error, retry, data, config_hash, conditions)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let insertAttempt = try db.cachedStatement(sql: """
                    INSERT INTO attempts (run_id, number, wait_ms, started_at, duration_ms, outcome, retry, message, error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                // Streaks and the last change are kept in SQL so that a manual run written by the
                // CLI and the daemon's own runs update the same state consistently. An UPDATE,
                // and an INSERT only for a job's first run: an upsert built the new row, found the
                // conflict and then updated, two records and two seeks for every run (callgrind).
                // SET's expressions read the row as it was.
                let updateState = try db.cachedStatement(sql: """
                    UPDATE job_state SET
                        consecutive_failures = CASE WHEN ?2 = 'ok' THEN 0 ELSE consecutive_failures + 1 END,
                        consecutive_successes = CASE WHEN ?2 = 'ok' THEN consecutive_successes + 1 ELSE 0 END,
                        last_change_at = CASE WHEN (?2 = 'ok') <> (last_status = 'ok') THEN ?4 ELSE last_change_at END,
                        last_status = ?2, last_run_id = ?3, last_run_at = ?4, config_hash = ?5
                    WHERE job = ?1
                    """)
                let insertState = try db.cachedStatement(sql: """
                    INSERT INTO job_state (job, last_status, consecutive_failures, consecutive_successes,
                                           last_run_id, last_run_at, last_change_at, config_hash)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
                    """)
                // Read back for a job with alerting, and only when its alert can move: a failing
                // run, or a job that is failing. (RETURNING collected its rows in a temporary
                // b-tree per execution: a page allocated and zeroed for every run.)
                let alertState = try db.cachedStatement(sql: """
                    SELECT \(JobAlertState.columns) FROM job_state WHERE job = ? AND (? OR alert_state = 'failing')
                    """)
                // Jobs whose alert is known to be ok: their ok runs skip the read above.
                var quiet = try quietAlerts.current(in: db)
                // Read once per batch, and only when an alert changes state (mutes what it sends).
                var silences: [Silence]?
                let activeSilences = { () throws -> [Silence] in
                    if let silences { return silences }
                    let active = try Self.silences(activeAt: Date(), in: db)
                    silences = active
                    return active
                }
                // Bound through the C API (`BoundStatement`): these run for every run stored.
                for run in runs {
                    var row = BoundStatement(insertRun, in: db)
                    row.bind(run.job)
                    row.bind(run.plugin)
                    row.bind(run.trigger.description)
                    row.bind(run.scheduledAt.epochMilliseconds)
                    row.bind(run.startedAt?.epochMilliseconds)
                    row.bind(run.finishedAt.epochMilliseconds)
                    row.bind(run.duration?.fractionalMilliseconds)
                    row.bind(run.status.rawValue)
                    row.bind(run.attempts.count)
                    row.bind(run.message)
                    row.bind(run.error)
                    row.bind(run.retry)
                    row.bind(run.data.isNull ? nil : run.data.jsonText())
                    row.bind(run.configHash)
                    row.bind(run.conditions.isEmpty ? nil : JSONValue.array(run.conditions.map(\.json)).jsonText())
                    try row.step()
                    let id = db.lastInsertedRowID
                    ids.append(id)
                    for attempt in run.attempts where !run.attemptIsTheRun {
                        var row = BoundStatement(insertAttempt, in: db)
                        row.bind(id)
                        row.bind(attempt.number)
                        row.bind(attempt.wait.fractionalMilliseconds)
                        row.bind(attempt.startedAt.epochMilliseconds)
                        row.bind(attempt.duration.fractionalMilliseconds)
                        row.bind(attempt.outcome.rawValue)
                        row.bind(attempt.retry)
                        row.bind(attempt.message)
                        row.bind(attempt.error)
                        try row.step()
                    }
                    if run.status.isOutcome {
                        let ok = run.status == .ok
                        var state = BoundStatement(updateState, in: db)
                        state.bind(run.job)
                        state.bind(run.status.rawValue)
                        state.bind(id)
                        state.bind(run.finishedAt.epochMilliseconds)
                        state.bind(run.configHash)
                        try state.step()
                        if db.changesCount == 0 {
                            var first = BoundStatement(insertState, in: db)
                            first.bind(run.job)
                            first.bind(run.status.rawValue)
                            first.bind(ok ? 0 : 1)
                            first.bind(ok ? 1 : 0)
                            first.bind(id)
                            first.bind(run.finishedAt.epochMilliseconds)
                            first.bind(run.configHash)
                            try first.step()
                        }
                        // The job's state as this run leaves it, alert columns included, read
                        // through the C API too, unless `quiet` knows an ok run leaves it ok: for
                        // an ok run of an ok job the read finds no row.
                        if run.alerting != nil && !(ok && quiet.jobs.contains(run.job)) {
                            var query = BoundStatement(alertState, in: db)
                            query.bind(run.job)
                            query.bind(!ok)
                            if let state = try query.firstRow(JobAlertState.init) {
                                try Self.updateAlert(after: run, runID: id, state: state, in: db, silences: activeSilences)
                                // Perhaps failing now, perhaps recovered: the next ok run reads again.
                                quiet.jobs.remove(run.job)
                            } else if ok {
                                quiet.jobs.insert(run.job)
                            }
                        }
                    }
                }
                return (ids, quiet)
            }
        } catch {
            // A rolled-back batch may have read alerts it did not leave so.
            quietAlerts.forget()
            throw error
        }
        quietAlerts.keep(written.quiet)
        return written.ids
    }

    /// Deletes at most `limit` runs that are past retention (older than `cutoff`, or beyond
    /// the newest `maxRunsPerJob` of one of `jobs`). Small chunks keep each write transaction
    /// short, so pruning a large backlog never stalls the writer. Returns how many went.
    public func prune(olderThan cutoff: Date?, maxRunsPerJob: Int?, jobs: [String] = [], limit: Int = 500) throws -> Int {
        try writer.write { db in
            var removed = 0
            if let cutoff {
                try db.execute(
                    sql: "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE scheduled_at < ? ORDER BY scheduled_at LIMIT ?)",
                    arguments: [cutoff.epochMilliseconds, limit]
                )
                removed += db.changesCount
            }
            if let maxRunsPerJob, removed < limit {
                for job in jobs where removed < limit {
                    // The oldest run to keep; everything older of this job goes.
                    guard let boundary = try Row.fetchOne(db, sql: """
                        SELECT scheduled_at, id FROM runs WHERE job = ? ORDER BY scheduled_at DESC, id DESC LIMIT 1 OFFSET ?
                        """, arguments: [job, maxRunsPerJob - 1]) else { continue }
                    let keptTime: Int64 = boundary["scheduled_at"]
                    let keptID: Int64 = boundary["id"]
                    try db.execute(sql: """
                        DELETE FROM runs WHERE id IN (
                            SELECT id FROM runs WHERE job = ? AND (scheduled_at, id) < (?, ?)
                            ORDER BY scheduled_at LIMIT ?)
                        """, arguments: [job, keptTime, keptID, limit - removed])
                    removed += db.changesCount
                }
            }
            return removed
        }
    }
}
