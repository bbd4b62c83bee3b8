import Foundation
import GRDB
import WardenPluginKit

/// A filter over the history, as `warden history` takes it.
public struct HistoryQuery: Sendable {
    public var job: String?
    /// Any of these (`--status failing` is `RunStatus.failing`); nil: all.
    public var statuses: Set<RunStatus>?
    public var since: Date?
    public var until: Date?
    public var limit: Int
    public var includeAttempts: Bool
    /// Each run's `data` and condition outcomes, parsed from JSON: what a table or CSV does
    /// not show and need not pay for (they were most of `warden history`'s own work).
    public var includeDetails: Bool

    public init(job: String? = nil, statuses: Set<RunStatus>? = nil, since: Date? = nil, until: Date? = nil, limit: Int = 50, includeAttempts: Bool = false, includeDetails: Bool = true) {
        self.job = job
        self.statuses = statuses
        self.since = since
        self.until = until
        self.limit = limit
        self.includeAttempts = includeAttempts
        self.includeDetails = includeDetails
    }
}

/// A run as the rules and the journal see it when the writer has dealt with it: with its id
/// once committed, without while the database refuses writes and the run waits in memory.
public struct ObservedRun: Sendable {
    public var id: Int64?
    public var record: RunRecord

    public init(id: Int64?, record: RunRecord) {
        self.id = id
        self.record = record
    }

    public init(_ stored: StoredRun) {
        self.init(id: stored.id, record: stored.record)
    }
}

/// A run as read back from the store.
public struct StoredRun: Sendable {
    public var id: Int64
    public var record: RunRecord
    /// How many attempts the run had (its `attempts` list is only filled on request).
    public var attemptCount: Int

    public init(id: Int64, record: RunRecord, attemptCount: Int? = nil) {
        self.id = id
        self.record = record
        self.attemptCount = attemptCount ?? record.attempts.count
    }
}

/// Per-job figures over a time window, as `warden stats` shows them.
public struct JobStatistics: Sendable {
    public var job: String
    public var runs: Int
    public var ok: Int
    /// Not ok and not skipped: warning, critical, unknown and timeout together.
    public var failing: Int
    public var bySeverity: [RunStatus: Int]
    public var skipped: Int
    /// Of the runs that were not skipped; nil when there were none.
    public var successPercent: Double?
    public var p50: Duration?
    public var p95: Duration?
    public var lastStatus: RunStatus?
    public var lastRunAt: Date?
    /// `ok` or `failing`, and how many runs in a row.
    public var streak: (kind: String, length: Int)?
}

extension HistoryStore {
    /// Newest first. Served by the (job, scheduled_at) and (scheduled_at) indexes.
    public func history(_ query: HistoryQuery) throws -> [StoredRun] {
        try reader.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let job = query.job {
                conditions.append("job = ?")
                _ = arguments.append(contentsOf: [job])
            }
            if let statuses = query.statuses {
                let sorted = statuses.map(\.rawValue).sorted()
                conditions.append("status IN (\(sorted.map { _ in "?" }.joined(separator: ", ")))")
                _ = arguments.append(contentsOf: StatementArguments(sorted))
            }
            if let since = query.since {
                conditions.append("scheduled_at >= ?")
                _ = arguments.append(contentsOf: [since.epochMilliseconds])
            }
            if let until = query.until {
                conditions.append("scheduled_at <= ?")
                _ = arguments.append(contentsOf: [until.epochMilliseconds])
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            _ = arguments.append(contentsOf: [query.limit])
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(Self.runColumns)
                FROM runs \(filter)
                ORDER BY scheduled_at DESC, id DESC
                LIMIT ?
                """, arguments: arguments)
            var runs = rows.map { Self.storedRun($0, details: query.includeDetails) }
            if query.includeAttempts && !runs.isEmpty {
                let ids = runs.map(\.id)
                let attemptRows = try Row.fetchAll(db, sql: """
                    SELECT run_id, number, wait_ms, started_at, duration_ms, outcome, retry, message, error
                    FROM attempts WHERE run_id IN (\(ids.map { _ in "?" }.joined(separator: ",")))
                    ORDER BY run_id, number
                    """, arguments: StatementArguments(ids))
                var byRun: [Int64: [AttemptRecord]] = [:]
                for row in attemptRows {
                    byRun[row["run_id"], default: []].append(Self.attempt(row))
                }
                for index in runs.indices {
                    let run = runs[index]
                    runs[index].record.attempts = byRun[run.id] ?? (run.attemptCount == 1 ? run.record.soleAttempt.map { [$0] } ?? [] : [])
                }
            }
            return runs
        }
    }

    /// Per job, the window's counts. `INDEXED BY`: without it SQLite (no statistics) grouped
    /// by walking `runs_by_job_time`, the whole history, whatever the window: `warden stats
    /// --since 1h` read a 1M-run store in 0.9 s to find nothing.
    static let statisticsSQL = """
        SELECT job, count(*) AS runs, sum(status = 'ok') AS ok,
               sum(status IN ('warning', 'critical', 'unknown', 'timeout')) AS failing,
               sum(status = 'warning') AS warning, sum(status = 'critical') AS critical,
               sum(status = 'unknown') AS unknown, sum(status = 'timeout') AS timeout,
               sum(status = 'skipped') AS skipped,
               max(scheduled_at) AS last_at
        FROM runs INDEXED BY runs_by_time WHERE scheduled_at >= ? GROUP BY job ORDER BY job
        """

    /// Per-job statistics for runs scheduled at or after `since`, sorted by job name.
    public func statistics(since: Date) throws -> [JobStatistics] {
        try reader.read { db in
            let since = since.epochMilliseconds
            let counts = try Row.fetchAll(db, sql: Self.statisticsSQL, arguments: [since])
            var states: [String: Row] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM job_state") {
                states[row["job"]] = row
            }
            return try counts.map { row in
                let job: String = row["job"]
                let durations = try Double.fetchAll(db, sql: """
                    SELECT duration_ms FROM runs
                    WHERE job = ? AND scheduled_at >= ? AND duration_ms IS NOT NULL
                    ORDER BY duration_ms
                    """, arguments: [job, since])
                let runs: Int = row["runs"]
                let ok: Int = row["ok"]
                let skipped: Int = row["skipped"]
                let state = states[job]
                var streak: (String, Int)?
                if let state {
                    let successes: Int = state["consecutive_successes"]
                    let failures: Int = state["consecutive_failures"]
                    streak = successes > 0 ? ("ok", successes) : ("failing", failures)
                }
                return JobStatistics(
                    job: job, runs: runs, ok: ok, failing: row["failing"],
                    bySeverity: [.warning: row["warning"], .critical: row["critical"], .unknown: row["unknown"], .timeout: row["timeout"]],
                    skipped: skipped,
                    successPercent: runs > skipped ? 100 * Double(ok) / Double(runs - skipped) : nil,
                    p50: Self.percentile(durations, 0.50), p95: Self.percentile(durations, 0.95),
                    lastStatus: (state?["last_status"] as String?).flatMap(RunStatus.init(rawValue:)),
                    lastRunAt: (row["last_at"] as Int64?).map(Date.init(epochMilliseconds:)),
                    streak: streak
                )
            }
        }
    }

    /// Nearest-rank percentile of sorted milliseconds.
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Duration? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        let value = sorted[min(sorted.count - 1, max(0, rank - 1))]
        return .microseconds(Int64((value * 1000).rounded()))
    }

    /// What `storedRun` reads: every reader of runs selects exactly these, in this order.
    static let runColumns = RunColumn.allCases.map(\.sqlName).joined(separator: ", ")

    /// A row of `runColumns`, read by position: by name, GRDB lowercased the name for every
    /// column of every row (a fifth of `warden history --limit 50`'s instructions past parsing).
    /// Without `details`, `data` is null and `conditions` empty.
    static func storedRun(_ row: Row, details: Bool = true) -> StoredRun {
        let data = details ? (row[.data] as String?).flatMap { try? JSONValue.parse($0) } ?? .null : .null
        let record = RunRecord(
            job: row[.job], plugin: row[.plugin], trigger: Self.trigger(row[.trigger]),
            scheduledAt: Date(epochMilliseconds: row[.scheduledAt]),
            startedAt: (row[.startedAt] as Int64?).map(Date.init(epochMilliseconds:)),
            finishedAt: Date(epochMilliseconds: row[.finishedAt]),
            duration: (row[.durationMs] as Double?).map { .microseconds(Int64(($0 * 1000).rounded())) },
            status: RunStatus(rawValue: row[.status]) ?? .unknown,
            message: row[.message], error: row[.error], retry: row[.retry], data: data,
            configHash: row[.configHash], attempts: []
        )
        var withConditions = record
        if details {
            withConditions.conditions = ((row[.conditions] as String?).flatMap { try? JSONValue.parse($0) }?.arrayValue ?? [])
                .compactMap(ConditionOutcome.init(json:))
        }
        return StoredRun(id: row[.id], record: withConditions, attemptCount: row[.attempts])
    }

    static func attempt(_ row: Row) -> AttemptRecord {
        AttemptRecord(
            number: row["number"],
            wait: .microseconds(Int64(((row["wait_ms"] as Double) * 1000).rounded())),
            startedAt: Date(epochMilliseconds: row["started_at"]),
            duration: .microseconds(Int64(((row["duration_ms"] as Double) * 1000).rounded())),
            outcome: AttemptOutcome(rawValue: row["outcome"]) ?? .unknown,
            retry: row["retry"], message: row["message"], error: row["error"]
        )
    }

    static func trigger(_ text: String) -> RunRecord.Trigger {
        if text == "manual" { return .manual }
        if text.hasPrefix("verify-of:"), let id = Int64(text.dropFirst(10)) { return .verification(of: id) }
        return .schedule
    }
}

/// The columns of `HistoryStore.runColumns`, by position.
enum RunColumn: Int, CaseIterable {
    case id, job, plugin, trigger, scheduledAt, startedAt, finishedAt, durationMs, status
    case attempts, message, error, retry, data, configHash, conditions

    var sqlName: String {
        switch self {
        case .id: "id"
        case .job: "job"
        case .plugin: "plugin"
        case .trigger: "trigger"
        case .scheduledAt: "scheduled_at"
        case .startedAt: "started_at"
        case .finishedAt: "finished_at"
        case .durationMs: "duration_ms"
        case .status: "status"
        case .attempts: "attempts"
        case .message: "message"
        case .error: "error"
        case .retry: "retry"
        case .data: "data"
        case .configHash: "config_hash"
        case .conditions: "conditions"
        }
    }
}

extension Row {
    subscript<Value: DatabaseValueConvertible>(_ column: RunColumn) -> Value { self[column.rawValue] }
}
