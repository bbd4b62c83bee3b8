import Foundation
import WardenPluginKit

/// Why a matched rule must not remediate now. The engine gathers the inputs (silences and
/// spending from the database, trackers, windows) and acts on the answer; the decision
/// itself is here, a value computed from values, so it is tested without a database.
enum Suppression: Sendable, Equatable {
    case off
    case silenced(reason: String, id: Int64, until: Date)
    case maintenance(window: String)
    case flapping(percent: Double)
    case parentFailing(String)
    case targetBusy(String)
    case cooldown(remaining: Duration, of: Duration)
    case budgetExhausted(used: Int, budget: String)

    /// The reason as the audit row and the journal give it; its first word is the kind.
    var reason: String {
        switch self {
        case .off: "remediation is off (daemon.remediation: off)"
        case .silenced(let reason, let id, let until): "silenced: \(reason) (silence #\(id) until \(RemediationEngine.iso(until)))"
        case .maintenance(let window): "maintenance window `\(window)`"
        case .flapping(let percent): String(format: "flapping: %.1f%% state changes over the last 21 runs", percent)
        case .parentFailing(let parent): "parent failing: `\(parent)` (depends_on)"
        case .targetBusy(let target): "target busy: another remediation of `\(target)` is running"
        case .cooldown(let remaining, let cooldown): "cooldown: \(remaining.wardenFormatted) left of \(cooldown.wardenFormatted)"
        case .budgetExhausted(let used, let budget): "budget exhausted: \(used) of \(budget) used"
        }
    }
}

/// Everything the guards of one rule look at, for one decision.
struct GuardCheck: Sendable {
    var mode: RemediationMode
    var silence: Silence?
    var maintenanceWindow: String?
    var flapping = false
    var flapPercent = 0.0
    var failingParent: String?
    var target: String
    var targetBusy = false
    /// Epoch milliseconds of the rule's last remediation that counts against its cooldown.
    var lastRemediationAt: Int64?
    var cooldown: Duration = .zero
    /// The rule's budget and how much of it the window has used; nil: no budget.
    var budget: (count: Int, description: String)?
    var budgetUsed = 0
    var now: Date

    /// The first guard that holds, in a fixed order: the operator's switches (off, silence,
    /// maintenance) before the job's state (flapping, a failing parent) before the rule's
    /// own limits (a busy target, cooldown, budget).
    func suppression() -> Suppression? {
        if mode == .off { return .off }
        if let silence { return .silenced(reason: silence.reason, id: silence.id, until: silence.until) }
        if let maintenanceWindow { return .maintenance(window: maintenanceWindow) }
        if flapping { return .flapping(percent: flapPercent) }
        if let failingParent { return .parentFailing(failingParent) }
        if targetBusy { return .targetBusy(target) }
        if let last = lastRemediationAt, cooldown > .zero, now.epochMilliseconds - last < cooldown.milliseconds {
            return .cooldown(remaining: .milliseconds(cooldown.milliseconds - (now.epochMilliseconds - last)), of: cooldown)
        }
        if let budget, budgetUsed >= budget.count { return .budgetExhausted(used: budgetUsed, budget: budget.description) }
        return nil
    }
}

/// Which step of a rule's escalation ladder runs.
enum Escalation {
    /// A re-trigger soon after a remediation that did not fix the job climbs to the next
    /// step; one after `escalateWithin` starts again at the first.
    static func startLevel(position: Int, lastRemediationAt: Int64?, escalateWithin: Duration, now: Date) -> Int {
        guard let last = lastRemediationAt, now.epochMilliseconds - last > escalateWithin.milliseconds else { return position }
        return 0
    }

    /// After a step: back to the first once the job is fixed (or in a dry run), the next
    /// step when it is not, staying on the last.
    static func position(after level: Int, of levels: Int, fixed: Bool) -> Int {
        fixed ? 0 : min(level + 1, levels - 1)
    }
}
