import Foundation
import WardenPluginKit

/// Which runs made a rule's trigger match, said in words for the audit row.
struct TriggerMatch: Sendable, Equatable {
    var description: String
    var runs: [Int64]
}

extension RuleTrigger {
    /// Whether `tracker`'s recent runs (the latest being `run`) match this trigger, counting
    /// the runs whose status is in `counted` as failures. A pure decision: the tracker in,
    /// the match out.
    func match(counting counted: Set<RunStatus>, tracker: JobTracker, run: ObservedRun, now: Date) -> TriggerMatch? {
        switch self {
        case .consecutiveFailures(let count):
            let streak = tracker.streak(of: counted)
            guard streak >= count else { return nil }
            return TriggerMatch(description: "\(streak) consecutive failures (rule: \(count))", runs: tracker.lastRuns(count, of: counted))
        case .failuresWithinRuns(let failures, let runs):
            let window = tracker.recent.suffix(runs)
            let failed = window.filter { counted.contains($0.status) }
            guard failed.count >= failures else { return nil }
            return TriggerMatch(description: "\(failed.count) failures within the last \(window.count) runs (rule: \(failures) within \(runs))", runs: failed.compactMap(\.runID))
        case .failuresWithinTime(let failures, let window):
            let start = now.epochMilliseconds - window.milliseconds
            let failed = tracker.recent.filter { counted.contains($0.status) && $0.at >= start }
            guard failed.count >= failures else { return nil }
            return TriggerMatch(description: "\(failed.count) failures within \(window.wardenFormatted) (rule: \(failures) within \(window.wardenFormatted))", runs: failed.compactMap(\.runID))
        case .becameFailing:
            // The run before this one did not count (or there was none).
            let previous = tracker.recent.dropLast().last
            guard previous.map({ !counted.contains($0.status) }) ?? true else { return nil }
            return TriggerMatch(description: "the job went from \(previous.map(\.status.rawValue) ?? "unknown") to \(run.record.status.rawValue)", runs: [run.id].compactMap { $0 })
        }
    }
}
