import Foundation
import WardenPluginKit

/// A failure rule: when a job fails in a described pattern, run remediation steps, with
/// escalation, verification, cooldown and a budget.
public struct RuleDefinition: Sendable {
    public var name: String
    /// A job name or a glob (`web-*`).
    public var jobPattern: String
    public var trigger: RuleTrigger
    /// The run statuses that count as failures for this rule (`on:`); by default critical,
    /// timeout and unknown, so a `warning` alone never remediates.
    public var on: Set<RunStatus> = RunStatus.defaultTrigger
    /// Where its remediation events go (`notify:`, else `daemon.notify`).
    public var notify: NotificationRoute?
    /// Escalation levels: level 1 runs on the first trigger, the next when it did not help.
    public var levels: [EscalationLevel]
    public var verify: Bool
    public var verifyAfter: Duration
    /// A re-trigger this soon after a remediation escalates instead of starting over.
    public var escalateWithin: Duration
    public var cooldown: Duration
    public var budget: RemediationBudget?
    public var onExhausted: RuleStep?
    public var dryRun: Bool
    /// Remediations with the same rendered key never run at once (default: the rule name).
    public var targetKey: String?
    public var configHash: String
    public var location: ConfigLocation

    /// Without `cooldown:`: long enough for a restarted service to settle and be re-checked.
    public static let defaultCooldown = Duration.seconds(300)
    /// Without `budget:`: a handful of tries an hour, then a human.
    public static let defaultBudget = RemediationBudget(count: 3, window: .seconds(3600))

    /// Identifies the rule's escalation ladder: when its steps change, escalation restarts
    /// at level 1 (its budget and cooldown, which belong to its name, do not).
    public var stepsHash: String {
        let steps = JSONValue.array(levels.flatMap { $0.context + [$0.action] }.map { ["plugin": .string($0.plugin), "params": $0.parameters] })
        return String(format: "%016llx", StableHash.fnv1a(steps.jsonText()))
    }

    public func applies(to job: String) -> Bool {
        Glob.matches(jobPattern, job)
    }
}

public enum RuleTrigger: Sendable, Hashable, CustomStringConvertible {
    case consecutiveFailures(Int)
    /// Monit's "X times within Y cycles".
    case failuresWithinRuns(failures: Int, runs: Int)
    case failuresWithinTime(failures: Int, window: Duration)
    /// The job went from passing (or unknown) to failing.
    case becameFailing

    public var description: String {
        switch self {
        case .consecutiveFailures(let count): return "\(count) consecutive failures"
        case .failuresWithinRuns(let failures, let runs): return "\(failures) failures within the last \(runs) runs"
        case .failuresWithinTime(let failures, let window): return "\(failures) failures within \(window.wardenFormatted)"
        case .becameFailing: return "the job started failing"
        }
    }
}

/// One plugin invocation in a rule; parameters may hold `{{ … }}` templates.
public struct RuleStep: Sendable {
    public var plugin: String
    public var category: PluginCategory
    public var parameters: JSONValue
    public var location: ConfigLocation
    /// How long this step may run; default the job's timeout. Remediations that wait for a
    /// rollout need longer than the check they repair.
    public var timeout: Duration? = nil
    /// Values this step's parameters resolved from `${env:…}`/`${file:…}`: scrubbed from its
    /// record, its logs and its result like the job's own secrets.
    public var secretValues: [String] = []
}

/// Diagnostic steps that gather context, then the remediation they precede.
public struct EscalationLevel: Sendable {
    public var context: [RuleStep]
    public var action: RuleStep
}

/// At most `count` remediations per sliding `window`.
public struct RemediationBudget: Sendable, Hashable, CustomStringConvertible {
    public var count: Int
    public var window: Duration
    public var description: String { "\(count) per \(window.wardenFormatted)" }
}

/// `daemon.remediation`.
public enum RemediationMode: String, Sendable, Hashable, CaseIterable {
    case on
    case dryRun = "dry-run"
    case off
}

/// A maintenance window: remediation for the jobs and rules it covers is suppressed.
public struct MaintenanceWindow: Sendable {
    public enum Timing: Sendable {
        case recurring(CronExpression, duration: Duration)
        case fixed(from: Date, until: Date)
    }

    public var name: String
    public var jobs: [String]
    public var rules: [String]
    public var timing: Timing

    public func covers(job: String, rule: String) -> Bool {
        (jobs.isEmpty && rules.isEmpty)
            || jobs.contains { Glob.matches($0, job) }
            || rules.contains { Glob.matches($0, rule) }
    }

    public func isActive(at date: Date, timeZone: TimeZone = .current) -> Bool {
        switch timing {
        case .fixed(let from, let until):
            return from <= date && date < until
        case .recurring(let cron, let duration):
            // Active if a start fell within the last `duration`.
            guard let start = cron.nextFire(after: date.addingTimeInterval(-duration.seconds), in: timeZone) else { return false }
            return start <= date
        }
    }
}

enum Glob {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
