import Foundation
import GRDB
import WardenPluginKit

/// A job's alert columns and streaks as the writer's upsert leaves them, read by the writer
/// through the C API in the order `columns` selects them.
struct JobAlertState {
    static let columns = "alert_state, alert_severity, alert_notified, alert_notified_at, consecutive_failures, consecutive_successes"

    let failing: Bool
    let severity: Severity?
    let notified: Bool
    let notifiedAt: Int64?
    let failures: Int
    let successes: Int

    init(_ row: BoundStatement.Columns) {
        failing = row.text(0) == "failing"
        severity = row.text(1).flatMap(Severity.init(rawValue:))
        notified = (row.integer(2) ?? 0) != 0
        notifiedAt = row.integer(3)
        failures = Int(row.integer(4) ?? 0)
        successes = Int(row.integer(5) ?? 0)
    }
}

/// One row of the notification outbox.
public struct OutboxEntry: Sendable {
    public enum State: String, Sendable { case pending, delivered, expired }

    public var id: Int64
    public var notifier: String
    public var event: NotificationEvent
    public var createdAt: Date
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastError: String?
    public var answer: String?
    public var finishedAt: Date?
}

extension HistoryStore {
    /// Writes `event` for each of `notifiers`, in the caller's transaction.
    static func enqueue(_ event: NotificationEvent, to notifiers: [String], in db: Database) throws {
        let payload = event.payload.jsonText()
        for notifier in notifiers {
            try db.execute(sql: """
                INSERT INTO outbox (notifier, event, job, rule, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [notifier, event.kind.rawValue, event.job, event.rule, payload, event.at.epochMilliseconds, event.at.epochMilliseconds])
        }
    }

    /// Events not tied to a run (a remediation's outcome, a failed reload, a test message).
    public func enqueue(_ event: NotificationEvent, route: NotificationRoute?) throws {
        guard let route, !route.notifiers.isEmpty, route.wants(event.kind, severity: event.severity) else { return }
        try writer.write { db in try Self.enqueue(event, to: route.notifiers, in: db) }
    }

    /// The job's alert state after `run` (whose job_state row was just updated, in this
    /// transaction): failing after `notifyAfter` failing runs, recovered after `recoverAfter`
    /// ok ones; events go to the outbox with the run. Silenced jobs change state quietly,
    /// and a recovery is told only if the failure was.
    /// `state`: the job's state after this run (alert columns and streaks); read only for a
    /// failing run or a failing job, since an ok run of a job whose alert is ok changes nothing here.
    static func updateAlert(after run: RunRecord, runID: Int64, state: JobAlertState, in db: Database, silences: () throws -> [Silence]) throws {
        guard let alerting = run.alerting, run.status.isOutcome else { return }
        let now = run.finishedAt
        let severity = run.status.severity
        let route = alerting.route
        func muted() throws -> Bool {
            try alerting.muted || silences().contains { !$0.keepsNotifying && ($0.job.map { Glob.matches($0, run.job) } ?? false) }
        }

        func event(_ kind: NotificationEvent.Kind, _ severity: Severity?) -> NotificationEvent {
            NotificationEvent(kind: kind, job: run.job, severity: severity, status: run.status.rawValue, message: run.message, runID: runID, at: now)
        }
        /// Sends when the route wants it; returns whether anything was written.
        func send(_ event: NotificationEvent) throws -> Bool {
            guard let route, !route.notifiers.isEmpty, route.wants(event.kind, severity: event.severity ?? state.severity),
                  try event.kind == .jobRecovered || !muted() else { return false }
            try enqueue(event, to: route.notifiers, in: db)
            return true
        }

        if !state.failing, let severity, state.failures >= alerting.notifyAfter {
            let sent = try send(event(.jobFailing, severity))
            try db.execute(sql: """
                UPDATE job_state SET alert_state = 'failing', alert_severity = ?, alert_notified = ?, alert_notified_at = ? WHERE job = ?
                """, arguments: [severity.rawValue, sent, sent ? now.epochMilliseconds : nil, run.job])
        } else if state.failing, run.status == .ok, state.successes >= alerting.recoverAfter {
            if state.notified { _ = try send(event(.jobRecovered, state.severity)) }
            try db.execute(sql: """
                UPDATE job_state SET alert_state = 'ok', alert_severity = NULL, alert_notified = 0, alert_notified_at = NULL WHERE job = ?
                """, arguments: [run.job])
        } else if state.failing, let severity, severity != state.severity {
            // Told only if the failure was, or if it now passes the route's minimum severity.
            let sent = try send(event(state.notified ? .severityChanged : .jobFailing, severity))
            try db.execute(sql: """
                UPDATE job_state SET alert_severity = ?, alert_notified = ?, alert_notified_at = coalesce(?, alert_notified_at) WHERE job = ?
                """, arguments: [severity.rawValue, state.notified || sent, sent ? now.epochMilliseconds : nil, run.job])
        } else if state.failing, state.notified, let severity, let every = route?.repeatEvery, let last = state.notifiedAt,
                  now.epochMilliseconds - last >= every.milliseconds {
            if try send(event(.stillFailing, severity)) {
                try db.execute(sql: "UPDATE job_state SET alert_notified_at = ? WHERE job = ?", arguments: [now.epochMilliseconds, run.job])
            }
        }
    }

    // MARK: the sender's side

    /// The oldest pending entry of `notifier`: delivery is in order per notifier.
    public func nextPending(notifier: String) throws -> OutboxEntry? {
        try reader.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM outbox WHERE notifier = ? AND state = 'pending' ORDER BY id LIMIT 1", arguments: [notifier])
                .flatMap(Self.outboxEntry)
        }
    }

    public func markDelivered(_ id: Int64, answer: String, at date: Date) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, answer = ?, finished_at = ? WHERE id = ?",
                           arguments: [answer, date.epochMilliseconds, id])
        }
    }

    public func markFailed(_ id: Int64, error: String, retryAt: Date) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                           arguments: [error, retryAt.epochMilliseconds, id])
        }
    }

    public func markExpired(_ id: Int64, at date: Date) throws {
        try writer.write { db in
            try db.execute(sql: "UPDATE outbox SET state = 'expired', finished_at = ? WHERE id = ?", arguments: [date.epochMilliseconds, id])
        }
    }

    /// Newest first, for `warden notifications`.
    public func outbox(state: OutboxEntry.State? = nil, failedOnly: Bool = false, limit: Int = 50) throws -> [OutboxEntry] {
        try reader.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let state {
                conditions.append("state = ?")
                _ = arguments.append(contentsOf: [state.rawValue])
            }
            if failedOnly { conditions.append("(state = 'expired' OR (state = 'pending' AND attempts > 0))") }
            _ = arguments.append(contentsOf: [limit])
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Row.fetchAll(db, sql: "SELECT * FROM outbox \(filter) ORDER BY id DESC LIMIT ?", arguments: arguments)
                .compactMap(Self.outboxEntry)
        }
    }

    static func outboxEntry(_ row: Row) -> OutboxEntry? {
        guard let payload = try? JSONValue.parse(row["payload"] as String), let event = NotificationEvent(payload: payload),
              let state = OutboxEntry.State(rawValue: row["state"]) else { return nil }
        return OutboxEntry(
            id: row["id"], notifier: row["notifier"], event: event, createdAt: Date(epochMilliseconds: row["created_at"]),
            state: state, attempts: row["attempts"], nextAttemptAt: Date(epochMilliseconds: row["next_attempt_at"]),
            lastError: row["last_error"], answer: row["answer"], finishedAt: (row["finished_at"] as Int64?).map(Date.init(epochMilliseconds:))
        )
    }
}

extension RunStatus {
    /// What people are told: a timeout is the target not answering, critical.
    public var severity: Severity? {
        switch self {
        case .warning: return .warning
        case .critical, .timeout: return .critical
        case .unknown: return .unknown
        case .ok, .skipped, .interrupted: return nil
        }
    }
}
