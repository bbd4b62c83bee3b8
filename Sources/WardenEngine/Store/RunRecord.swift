import Foundation
import WardenPluginKit

/// What a finished (or skipped) run leaves behind: the row the store writes.
public struct RunRecord: Sendable, Hashable {
    public enum Trigger: Sendable, Hashable, CustomStringConvertible {
        case schedule
        case manual
        /// The re-check after a remediation.
        case verification(of: Int64)

        public var description: String {
            switch self {
            case .schedule: return "schedule"
            case .manual: return "manual"
            case .verification(let id): return "verify-of:\(id)"
            }
        }
    }

    /// A run goes from the runner to the writer's buffer, its observers and the store: one
    /// reference to its fields, not a copy of each (`CopyOnWrite`).
    private var fields: CopyOnWrite<Fields>

    private struct Fields: Sendable, Hashable {
        var job: String
        var plugin: String
        var trigger: Trigger
        var scheduledAt: Date
        var startedAt: Date?
        var finishedAt: Date
        var duration: Duration?
        var status: RunStatus
        var message: String
        var error: String?
        var retry: Bool
        var data: JSONValue
        var configHash: String
        var attempts: [AttemptRecord]
        var conditions: [ConditionOutcome] = []
        var alerting: JobAlerting? = nil
    }

    public var job: String {
        get { fields.value.job }
        _modify { yield &fields.value.job }
    }

    public var plugin: String {
        get { fields.value.plugin }
        _modify { yield &fields.value.plugin }
    }

    public var trigger: Trigger {
        get { fields.value.trigger }
        _modify { yield &fields.value.trigger }
    }

    public var scheduledAt: Date {
        get { fields.value.scheduledAt }
        _modify { yield &fields.value.scheduledAt }
    }

    public var startedAt: Date? {
        get { fields.value.startedAt }
        _modify { yield &fields.value.startedAt }
    }

    public var finishedAt: Date {
        get { fields.value.finishedAt }
        _modify { yield &fields.value.finishedAt }
    }

    public var duration: Duration? {
        get { fields.value.duration }
        _modify { yield &fields.value.duration }
    }

    public var status: RunStatus {
        get { fields.value.status }
        _modify { yield &fields.value.status }
    }

    public var message: String {
        get { fields.value.message }
        _modify { yield &fields.value.message }
    }

    /// The error, or for a skipped run the reason (`overlap`, `queue-full`, `shutdown`).
    public var error: String? {
        get { fields.value.error }
        _modify { yield &fields.value.error }
    }

    public var retry: Bool {
        get { fields.value.retry }
        _modify { yield &fields.value.retry }
    }

    public var data: JSONValue {
        get { fields.value.data }
        _modify { yield &fields.value.data }
    }

    public var configHash: String {
        get { fields.value.configHash }
        _modify { yield &fields.value.configHash }
    }

    public var attempts: [AttemptRecord] {
        get { fields.value.attempts }
        _modify { yield &fields.value.attempts }
    }

    /// The `expect:` conditions as evaluated on the last attempt's result.
    public var conditions: [ConditionOutcome] {
        get { fields.value.conditions }
        _modify { yield &fields.value.conditions }
    }

    /// When people are told about the job (not stored with the run: its alert state and
    /// outbox rows are written in the same transaction).
    public var alerting: JobAlerting? {
        get { fields.value.alerting }
        _modify { yield &fields.value.alerting }
    }

    public init(
        job: String, plugin: String, trigger: Trigger, scheduledAt: Date, startedAt: Date?, finishedAt: Date,
        duration: Duration?, status: RunStatus, message: String, error: String?, retry: Bool, data: JSONValue,
        configHash: String, attempts: [AttemptRecord], conditions: [ConditionOutcome] = [], alerting: JobAlerting? = nil
    ) {
        fields = CopyOnWrite(Fields(
            job: job, plugin: plugin, trigger: trigger, scheduledAt: scheduledAt, startedAt: startedAt, finishedAt: finishedAt,
            duration: duration, status: status, message: message, error: error, retry: retry, data: data, configHash: configHash,
            attempts: attempts, conditions: conditions, alerting: alerting
        ))
    }

    /// A run that never started: its tick found the job still running, the queue full, or
    /// the daemon stopping.
    public static func skipped(_ job: JobDefinition, scheduledAt: Date, reason: SkipReason, now: Date = Date()) -> RunRecord {
        RunRecord(
            job: job.name, plugin: job.plugin, trigger: .schedule, scheduledAt: scheduledAt, startedAt: nil,
            finishedAt: now, duration: nil, status: .skipped, message: reason.message, error: reason.rawValue,
            retry: false, data: .null, configHash: job.configHash, attempts: []
        )
    }
}

public enum SkipReason: String, Sendable {
    case overlap
    case queueFull = "queue-full"
    case shutdown

    var message: String {
        switch self {
        case .overlap: return "skipped: the previous run of this job was still going"
        case .queueFull: return "skipped: max_concurrency reached and the wait queue was full"
        case .shutdown: return "skipped: the daemon was stopping"
        }
    }
}

/// One `expect:` condition and how it came out.
public struct ConditionOutcome: Sendable, Hashable {
    public var expression: String
    public var passed: Bool
    /// The value the condition looked at (its left side), for explaining a failure.
    public var value: JSONValue

    public init(expression: String, passed: Bool, value: JSONValue) {
        self.expression = expression
        self.passed = passed
        self.value = value
    }

    var json: JSONValue { ["expression": .string(expression), "passed": .bool(passed), "value": value] }

    init?(json: JSONValue) {
        guard let expression = json["expression"]?.stringValue, let passed = json["passed"]?.boolValue else { return nil }
        self.init(expression: expression, passed: passed, value: json["value"] ?? .null)
    }
}

extension RunRecord {
    /// The one attempt of a run that succeeded at its first try, rebuilt from the run row:
    /// the store writes no `attempts` row for such a run (it was a third of the rows written
    /// per check, and most of a check's history is this) and reads this back instead. The
    /// `all_attempts` view does the same in SQL.
    var soleAttempt: AttemptRecord? {
        guard status == .ok, let startedAt, let duration else { return nil }
        return AttemptRecord(
            number: 1, wait: .zero, startedAt: startedAt, duration: duration, outcome: .ok, retry: retry, message: message, error: error)
    }

    /// Whether the run's attempts are exactly `soleAttempt`, as the store keeps them (times in
    /// milliseconds), so that an `attempts` row would add nothing to the run row.
    var attemptIsTheRun: Bool {
        guard attempts.count == 1, var only = attempts.first, let implied = soleAttempt,
              only.startedAt.epochMilliseconds == implied.startedAt.epochMilliseconds else { return false }
        // Every other field as it is: a field added to attempts is compared without a change here.
        only.startedAt = implied.startedAt
        return only == implied
    }
}

/// One attempt within a run.
public struct AttemptRecord: Sendable, Hashable {
    public var number: Int
    /// The back-off waited before this attempt (zero for the first).
    public var wait: Duration
    public var startedAt: Date
    public var duration: Duration
    public var outcome: AttemptOutcome
    public var retry: Bool
    public var message: String
    public var error: String?

    public init(number: Int, wait: Duration, startedAt: Date, duration: Duration, outcome: AttemptOutcome, retry: Bool, message: String, error: String?) {
        self.number = number
        self.wait = wait
        self.startedAt = startedAt
        self.duration = duration
        self.outcome = outcome
        self.retry = retry
        self.message = message
        self.error = error
    }
}

extension Date {
    /// Unix epoch milliseconds: the store's time unit.
    var epochMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    init(epochMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(epochMilliseconds) / 1000)
    }
}

extension Duration {
    var fractionalMilliseconds: Double { seconds * 1000 }
}
