import Foundation
import WardenPluginKit

/// Something people are told about. Its JSON (`payload`) is what a webhook receives and
/// what the outbox stores; docs/notifications.md has its JSON Schema.
public struct NotificationEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case jobFailing = "job_failing"
        case severityChanged = "severity_changed"
        case stillFailing = "still_failing"
        case jobRecovered = "job_recovered"
        case flappingStarted = "flapping_started"
        case flappingStopped = "flapping_stopped"
        case remediationVerified = "remediation_verified"
        case remediationNotVerified = "remediation_not_verified"
        case remediationFailed = "remediation_failed"
        /// A rule's guards kept it from remediating for longer than `daemon.notify_suppressed_after`.
        case remediationSuppressed = "remediation_suppressed"
        case budgetExhausted = "budget_exhausted"
        case reloadFailed = "reload_failed"
        /// The history refused writes for a while (told once writes succeed again).
        case storageFault = "storage_fault"
        case test

        /// The journald `MESSAGE_ID` of the log line that goes with it.
        public var messageID: String {
            switch self {
            case .jobFailing: return MessageID.runFailed
            case .severityChanged: return MessageID.severityChanged
            case .stillFailing: return MessageID.stillFailing
            case .jobRecovered: return MessageID.jobRecovered
            case .remediationVerified, .remediationNotVerified, .remediationFailed: return MessageID.remediationFinished
            case .budgetExhausted: return MessageID.budgetExhausted
            case .remediationSuppressed: return MessageID.remediationSuppressed
            case .reloadFailed: return MessageID.reloadFailed
            case .flappingStarted: return MessageID.flappingStarted
            case .flappingStopped: return MessageID.flappingStopped
            case .storageFault: return MessageID.historyWriteRecovered
            case .test: return MessageID.notificationTest
            }
        }
    }

    public var kind: Kind
    public var job: String?
    public var rule: String?
    /// For job events: the job's severity (recoveries: the one it had).
    public var severity: Severity?
    public var status: String?
    public var message: String
    public var runID: Int64?
    public var remediationID: Int64?
    public var at: Date
    public var host: String

    public init(kind: Kind, job: String? = nil, rule: String? = nil, severity: Severity? = nil, status: String? = nil,
                message: String, runID: Int64? = nil, remediationID: Int64? = nil, at: Date, host: String = NotificationEvent.hostname) {
        self.kind = kind
        self.job = job
        self.rule = rule
        self.severity = severity
        self.status = status
        self.message = message
        self.runID = runID
        self.remediationID = remediationID
        self.at = at
        self.host = host
    }

    public static let hostname: String = ProcessInfo.processInfo.hostName

    /// Failing (or firing) rather than good news: what alert receivers open vs resolve.
    public var isProblem: Bool {
        ![.jobRecovered, .remediationVerified, .flappingStopped, .test].contains(kind)
    }

    public var title: String {
        switch kind {
        case .jobFailing: return "[\(severity?.rawValue.uppercased() ?? "FAILING")] \(job ?? "?") on \(host)"
        case .severityChanged: return "[\(severity?.rawValue.uppercased() ?? "FAILING")] \(job ?? "?") on \(host) changed severity"
        case .stillFailing: return "[\(severity?.rawValue.uppercased() ?? "FAILING")] \(job ?? "?") on \(host) is still failing"
        case .jobRecovered: return "[RECOVERED] \(job ?? "?") on \(host)"
        case .remediationVerified: return "[FIXED] \(rule ?? "?") repaired \(job ?? "?") on \(host)"
        case .remediationNotVerified: return "[NOT FIXED] \(rule ?? "?") did not repair \(job ?? "?") on \(host)"
        case .remediationFailed: return "[REMEDIATION FAILED] \(rule ?? "?") on \(host)"
        case .budgetExhausted: return "[BUDGET EXHAUSTED] \(rule ?? "?") on \(host): no more remediation"
        case .remediationSuppressed: return "[SUPPRESSED] \(rule ?? "?") on \(host) cannot remediate \(job ?? "?")"
        case .reloadFailed: return "[WARDEN] reload failed on \(host)"
        case .flappingStarted: return "[FLAPPING] \(job ?? "?") on \(host)"
        case .flappingStopped: return "[STABLE] \(job ?? "?") on \(host) stopped flapping"
        case .storageFault: return "[WARDEN] history writes failed on \(host)"
        case .test: return "[TEST] Warden on \(host)"
        }
    }

    public var payload: JSONValue {
        [
            "version": 1,
            "event": .string(kind.rawValue),
            "title": .string(title),
            "host": .string(host),
            "job": job.map(JSONValue.string) ?? .null,
            "rule": rule.map(JSONValue.string) ?? .null,
            "severity": severity.map { .string($0.rawValue) } ?? .null,
            "status": status.map(JSONValue.string) ?? .null,
            "message": .string(message),
            "run_id": runID.map { .int(Int($0)) } ?? .null,
            "remediation_id": remediationID.map { .int(Int($0)) } ?? .null,
            "at": .string(ISOTime.string(at)),
        ]
    }

    init?(payload: JSONValue) {
        guard let kind = payload["event"]?.stringValue.flatMap(Kind.init(rawValue:)),
              let at = payload["at"]?.stringValue.flatMap({ NotificationEvent.parseISO($0) }) else { return nil }
        self.init(
            kind: kind, job: payload["job"]?.stringValue, rule: payload["rule"]?.stringValue,
            severity: payload["severity"]?.stringValue.flatMap(Severity.init(rawValue:)), status: payload["status"]?.stringValue,
            message: payload["message"]?.stringValue ?? "", runID: payload["run_id"]?.intValue.map(Int64.init),
            remediationID: payload["remediation_id"]?.intValue.map(Int64.init), at: at, host: payload["host"]?.stringValue ?? NotificationEvent.hostname
        )
    }

    static func parseISO(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
