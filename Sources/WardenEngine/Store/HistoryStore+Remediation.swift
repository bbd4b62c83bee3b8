import Foundation
import GRDB
import WardenPluginKit

/// One row of the remediation audit trail.
public struct RemediationRecord: Sendable {
    public enum Outcome: String, Sendable {
        case running, ok, failed, timeout, error, interrupted
        case dryRun = "dry-run"
        case suppressed
    }

    public enum Verification: String, Sendable {
        case passed, failed, skipped
    }

    public var id: Int64?
    public var rule: String
    public var job: String
    public var trigger: String
    public var triggerRuns: [Int64]
    public var step: Int?
    public var plugin: String?
    public var parameters: JSONValue?
    public var startedAt: Date
    public var finishedAt: Date?
    public var outcome: Outcome
    public var dryRun: Bool
    public var suppressedReason: String?
    public var message: String?
    public var error: String?
    public var data: JSONValue?
    public var context: JSONValue?
    public var verificationRunID: Int64?
    public var verification: Verification?
    public var state: JSONValue

    public init(rule: String, job: String, trigger: String, triggerRuns: [Int64], startedAt: Date, outcome: Outcome, state: JSONValue) {
        self.rule = rule
        self.job = job
        self.trigger = trigger
        self.triggerRuns = triggerRuns
        self.startedAt = startedAt
        self.outcome = outcome
        self.dryRun = false
        self.state = state
    }
}

/// A `warden silence`.
public struct Silence: Sendable {
    public var id: Int64
    public var job: String?
    public var rule: String?
    public var reason: String
    public var createdAt: Date
    public var until: Date
    /// Notifications still go out for what it covers (`--keep-notifying`); remediation does not run.
    public var keepsNotifying = false

    public init(id: Int64, job: String?, rule: String?, reason: String, createdAt: Date, until: Date, keepsNotifying: Bool = false) {
        self.keepsNotifying = keepsNotifying
        self.id = id
        self.job = job
        self.rule = rule
        self.reason = reason
        self.createdAt = createdAt
        self.until = until
    }

    public func covers(job name: String, rule ruleName: String) -> Bool {
        (job.map { Glob.matches($0, name) } ?? false) || (rule.map { Glob.matches($0, ruleName) } ?? false)
    }
}

extension HistoryStore {
    // MARK: remediations

    /// Inserts (id nil) or rewrites a remediation record; returns its id. A notification
    /// about it goes to the outbox in the same transaction.
    @discardableResult
    public func save(_ record: RemediationRecord, notifying event: NotificationEvent? = nil, route: NotificationRoute? = nil) throws -> Int64 {
        try writer.write { db in
            let id = try Self.write(record, in: db)
            if let event, let route, !route.notifiers.isEmpty, route.wants(event.kind, severity: event.severity) {
                var event = event
                event.remediationID = id
                try Self.enqueue(event, to: route.notifiers, in: db)
            }
            return id
        }
    }

    private static func write(_ record: RemediationRecord, in db: Database) throws -> Int64 {
        let arguments: StatementArguments = [
            record.rule, record.job, record.trigger, JSONValue.array(record.triggerRuns.map { .int(Int($0)) }).jsonText(),
            record.step, record.plugin, record.parameters?.jsonText(), record.startedAt.epochMilliseconds,
            record.finishedAt?.epochMilliseconds, record.outcome.rawValue, record.dryRun, record.suppressedReason,
            record.message, record.error, record.data.flatMap { $0.isNull ? nil : $0.jsonText() }, record.context?.jsonText(),
            record.verificationRunID, record.verification?.rawValue, record.state.jsonText(),
        ]
        let columns = """
            rule, job, trigger, trigger_runs, step, plugin, params, started_at, finished_at, outcome, dry_run,
            suppressed_reason, message, error, data, context, verification_run_id, verification, state
            """
        if let id = record.id {
            let assignments = columns.split(separator: ",").map { "\($0.trimmingCharacters(in: .whitespacesAndNewlines)) = ?" }.joined(separator: ", ")
            try db.execute(sql: "UPDATE remediations SET \(assignments) WHERE id = ?", arguments: arguments + [id])
            return id
        }
        try db.execute(sql: "INSERT INTO remediations (\(columns)) VALUES (\(Array(repeating: "?", count: 19).joined(separator: ", ")))", arguments: arguments)
        return db.lastInsertedRowID
    }

    /// Remediations a crash left `running` did not finish: mark them interrupted.
    @discardableResult
    public func interruptUnfinishedRemediations(at date: Date = Date()) throws -> Int {
        try writer.write { db in
            try db.execute(sql: """
                UPDATE remediations SET outcome = 'interrupted', finished_at = ?,
                       error = coalesce(error, 'the daemon stopped before this remediation finished')
                WHERE outcome = 'running'
                """, arguments: [date.epochMilliseconds])
            return db.changesCount
        }
    }

    public func remediation(id: Int64) throws -> RemediationRecord? {
        try reader.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM remediations WHERE id = ?", arguments: [id]).map(Self.remediation)
        }
    }

    /// Newest first, with the same filters as runs (`status` filters the outcome).
    public func remediations(job: String? = nil, rule: String? = nil, since: Date? = nil, until: Date? = nil, outcome: String? = nil, limit: Int = 50) throws -> [RemediationRecord] {
        try reader.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            func add(_ condition: String, _ value: (any DatabaseValueConvertible)?) {
                guard let value else { return }
                conditions.append(condition)
                _ = arguments.append(contentsOf: [value])
            }
            add("job = ?", job)
            add("rule = ?", rule)
            add("started_at >= ?", since?.epochMilliseconds)
            add("started_at <= ?", until?.epochMilliseconds)
            add("outcome = ?", outcome)
            _ = arguments.append(contentsOf: [limit])
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Row.fetchAll(db, sql: "SELECT * FROM remediations \(filter) ORDER BY started_at DESC, id DESC LIMIT ?", arguments: arguments)
                .map(Self.remediation)
        }
    }

    public func runs(ids: [Int64]) throws -> [StoredRun] {
        guard !ids.isEmpty else { return [] }
        return try reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.runColumns)
                FROM runs WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ","))) ORDER BY id
                """, arguments: StatementArguments(ids)).map { Self.storedRun($0) }
        }
    }

    static func remediation(_ row: Row) -> RemediationRecord {
        func json(_ column: String) -> JSONValue? { (row[column] as String?).flatMap { try? JSONValue.parse($0) } }
        var record = RemediationRecord(
            rule: row["rule"], job: row["job"], trigger: row["trigger"],
            triggerRuns: (json("trigger_runs")?.arrayValue ?? []).compactMap { $0.intValue.map(Int64.init) },
            startedAt: Date(epochMilliseconds: row["started_at"]),
            outcome: RemediationRecord.Outcome(rawValue: row["outcome"]) ?? .error, state: json("state") ?? .null
        )
        record.id = row["id"]
        record.step = row["step"]
        record.plugin = row["plugin"]
        record.parameters = json("params")
        record.finishedAt = (row["finished_at"] as Int64?).map(Date.init(epochMilliseconds:))
        record.dryRun = row["dry_run"]
        record.suppressedReason = row["suppressed_reason"]
        record.message = row["message"]
        record.error = row["error"]
        record.data = json("data")
        record.context = json("context")
        record.verificationRunID = row["verification_run_id"]
        record.verification = (row["verification"] as String?).flatMap(RemediationRecord.Verification.init(rawValue:))
        return record
    }

    // MARK: engine state

    /// The saved state of a job or rule, if it was saved under the same config hash.
    public func engineState(kind: String, name: String) throws -> (configHash: String, state: JSONValue)? {
        try reader.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT config_hash, state FROM engine_state WHERE kind = ? AND name = ?", arguments: [kind, name]) else { return nil }
            guard let state = try? JSONValue.parse(row["state"] as String) else { return nil }
            return (row["config_hash"], state)
        }
    }

    /// The latest `limit` checks of `job` under its current configuration that ended ok or
    /// failing (scheduled, manual and verification runs alike), oldest first: what a job's
    /// tracker is rebuilt from, so the history is the one record of a job's state.
    public func recentOutcomes(job: String, configHash: String, limit: Int) throws -> [(id: Int64, finishedAt: Date, status: RunStatus)] {
        let counted = ([RunStatus.ok] + RunStatus.failing.sorted { $0.rawValue < $1.rawValue }).map(\.rawValue)
        return try reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, finished_at, status FROM runs
                WHERE job = ? AND config_hash = ? AND status IN (\(counted.map { _ in "?" }.joined(separator: ", ")))
                ORDER BY scheduled_at DESC, id DESC LIMIT ?
                """, arguments: StatementArguments([job, configHash] + counted + [limit] as [any DatabaseValueConvertible]))
            .reversed()
            .compactMap { row in
                RunStatus(rawValue: row["status"]).map { (row["id"], Date(epochMilliseconds: row["finished_at"]), $0) }
            }
        }
    }

    public func saveEngineState(kind: String, name: String, configHash: String, state: JSONValue) throws {
        try writer.write { db in
            try db.execute(sql: """
                INSERT INTO engine_state (kind, name, config_hash, state, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (kind, name) DO UPDATE SET config_hash = excluded.config_hash, state = excluded.state, updated_at = excluded.updated_at
                """, arguments: [kind, name, configHash, state.jsonText(), Date().epochMilliseconds])
        }
    }

    // MARK: silences

    @discardableResult
    public func addSilence(job: String?, rule: String?, reason: String, until: Date, now: Date = Date(), keepNotifying: Bool = false) throws -> Int64 {
        try writer.write { db in
            try db.execute(sql: "INSERT INTO silences (job, rule, reason, created_at, until, notify) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [job, rule, reason, now.epochMilliseconds, until.epochMilliseconds, keepNotifying])
            return db.lastInsertedRowID
        }
    }

    @discardableResult
    public func removeSilence(id: Int64) throws -> Bool {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM silences WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func silences(activeAt date: Date? = nil) throws -> [Silence] {
        try reader.read { db in try Self.silences(activeAt: date, in: db) }
    }

    static func silences(activeAt date: Date?, in db: Database) throws -> [Silence] {
        let rows: [Row]
        if let date {
            rows = try Row.fetchAll(db, sql: "SELECT * FROM silences WHERE until > ? ORDER BY id", arguments: [date.epochMilliseconds])
        } else {
            rows = try Row.fetchAll(db, sql: "SELECT * FROM silences ORDER BY id")
        }
        return rows.map { row in
            Silence(id: row["id"], job: row["job"], rule: row["rule"], reason: row["reason"],
                    createdAt: Date(epochMilliseconds: row["created_at"]), until: Date(epochMilliseconds: row["until"]),
                    keepsNotifying: (row["notify"] as Int?) == 1)
        }
    }
}

/// `warden rule reset`: everything a rule spent before it no longer counts.
public struct RuleReset: Sendable {
    public var id: Int64
    public var rule: String
    public var reason: String
    public var at: Date
}

/// What a rule has spent, read from the audit trail: the guards' source of truth, so that a
/// restart, a reload or an edited rule can never refund budget or shorten a cooldown.
public struct RuleHistory: Sendable {
    /// Start times (unix ms) of remediations run (dry runs included) within the lookback,
    /// after the latest reset, oldest first.
    public var uses: [Int64]
    /// The latest remediation run after the latest reset, whenever it was.
    public var lastRemediationAt: Int64?
    public var lastReset: RuleReset?

    public init(uses: [Int64] = [], lastRemediationAt: Int64? = nil, lastReset: RuleReset? = nil) {
        self.uses = uses
        self.lastRemediationAt = lastRemediationAt
        self.lastReset = lastReset
    }

    public func used(within window: Duration, at now: Date) -> Int {
        let start = now.epochMilliseconds - window.milliseconds
        return uses.filter { $0 > start }.count
    }
}

extension HistoryStore {
    // MARK: rule history and resets

    /// The rule's spending since `lookback` before `now` (and after its latest reset).
    public func ruleHistory(rule: String, lookback: Duration, now: Date) throws -> RuleHistory {
        try reader.read { db in
            let reset = try Row.fetchOne(db, sql: "SELECT * FROM rule_resets WHERE rule = ? ORDER BY at DESC, id DESC LIMIT 1", arguments: [rule])
                .map(Self.ruleReset)
            let floor = reset?.at.epochMilliseconds ?? Int64.min
            let since = max(floor, now.epochMilliseconds - lookback.milliseconds)
            let uses = try Int64.fetchAll(db, sql: """
                SELECT started_at FROM remediations
                WHERE rule = ? AND step IS NOT NULL AND started_at > ? ORDER BY started_at
                """, arguments: [rule, since])
            let last = try Int64.fetchOne(db, sql: """
                SELECT max(started_at) FROM remediations WHERE rule = ? AND step IS NOT NULL AND started_at > ?
                """, arguments: [rule, floor])
            return RuleHistory(uses: uses, lastRemediationAt: last, lastReset: reset)
        }
    }

    @discardableResult
    public func resetRule(_ rule: String, reason: String, at date: Date = Date()) throws -> Int64 {
        try writer.write { db in
            try db.execute(sql: "INSERT INTO rule_resets (rule, reason, at) VALUES (?, ?, ?)", arguments: [rule, reason, date.epochMilliseconds])
            return db.lastInsertedRowID
        }
    }

    /// Newest first.
    public func ruleResets(rule: String? = nil, limit: Int = 50) throws -> [RuleReset] {
        try reader.read { db in
            if let rule {
                return try Row.fetchAll(db, sql: "SELECT * FROM rule_resets WHERE rule = ? ORDER BY at DESC, id DESC LIMIT ?", arguments: [rule, limit]).map(Self.ruleReset)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM rule_resets ORDER BY at DESC, id DESC LIMIT ?", arguments: [limit]).map(Self.ruleReset)
        }
    }

    static func ruleReset(_ row: Row) -> RuleReset {
        RuleReset(id: row["id"], rule: row["rule"], reason: row["reason"], at: Date(epochMilliseconds: row["at"]))
    }
}
