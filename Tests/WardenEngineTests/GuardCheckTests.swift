import Foundation
import Testing
@testable import WardenEngine

/// The guards' decision on its own: values in, the first guard that holds out, no database.
@Suite("guard decisions")
struct GuardCheckTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func check(_ change: (inout GuardCheck) -> Void = { _ in }) -> Suppression? {
        var check = GuardCheck(mode: .on, target: "rule:fix", now: now)
        change(&check)
        return check.suppression()
    }

    @Test func nothingHoldsAndTheRemediationRuns() {
        #expect(check() == nil)
        #expect(check { $0.budget = (3, "3 per 1h"); $0.budgetUsed = 2 } == nil)
        #expect(check { $0.cooldown = .seconds(60); $0.lastRemediationAt = now.epochMilliseconds - 61_000 } == nil)
    }

    @Test func theOperatorsSwitchesComeFirst() {
        let everything: (inout GuardCheck) -> Void = {
            $0.mode = .off
            $0.silence = Silence(id: 7, job: "web", rule: nil, reason: "deploy", createdAt: now, until: now.addingTimeInterval(600))
            $0.maintenanceWindow = "nightly"
            $0.flapping = true
            $0.failingParent = "db"
            $0.targetBusy = true
            $0.cooldown = .seconds(60)
            $0.lastRemediationAt = now.epochMilliseconds
            $0.budget = (1, "1 per 1h")
            $0.budgetUsed = 1
        }
        #expect(check(everything) == .off)
        #expect(check { everything(&$0); $0.mode = .on } == .silenced(reason: "deploy", id: 7, until: now.addingTimeInterval(600)))
        #expect(check { everything(&$0); $0.mode = .on; $0.silence = nil } == .maintenance(window: "nightly"))
        #expect(check { everything(&$0); $0.mode = .on; $0.silence = nil; $0.maintenanceWindow = nil } == .flapping(percent: 0))
        #expect(check { everything(&$0); $0.mode = .dryRun; $0.silence = nil; $0.maintenanceWindow = nil; $0.flapping = false } == .parentFailing("db"))
    }

    @Test func theRulesOwnLimitsComeLast() {
        #expect(check { $0.targetBusy = true; $0.cooldown = .seconds(60); $0.lastRemediationAt = now.epochMilliseconds } == .targetBusy("rule:fix"))
        let cooling = check { $0.cooldown = .seconds(60); $0.lastRemediationAt = now.epochMilliseconds - 15_000; $0.budget = (1, "1 per 1h"); $0.budgetUsed = 1 }
        #expect(cooling == .cooldown(remaining: .seconds(45), of: .seconds(60)))
        #expect(cooling?.reason == "cooldown: 45s left of 1m")
        let spent = check { $0.budget = (2, "2 per 1h"); $0.budgetUsed = 2 }
        #expect(spent == .budgetExhausted(used: 2, budget: "2 per 1h"))
        #expect(spent?.reason == "budget exhausted: 2 of 2 per 1h used")
    }

    @Test func escalationClimbsOnlyWithinItsWindow() {
        let recent = now.epochMilliseconds - 60_000
        #expect(Escalation.startLevel(position: 2, lastRemediationAt: recent, escalateWithin: .seconds(300), now: now) == 2)
        #expect(Escalation.startLevel(position: 2, lastRemediationAt: recent, escalateWithin: .seconds(30), now: now) == 0)
        #expect(Escalation.startLevel(position: 1, lastRemediationAt: nil, escalateWithin: .seconds(30), now: now) == 1)
        #expect(Escalation.position(after: 0, of: 3, fixed: false) == 1)
        #expect(Escalation.position(after: 2, of: 3, fixed: false) == 2, "the last step stays the last")
        #expect(Escalation.position(after: 2, of: 3, fixed: true) == 0)
    }
}

/// Trigger matching on its own: a job tracker in, the match (or none) out.
@Suite("trigger matching")
struct TriggerMatchTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func tracker(_ statuses: [RunStatus]) -> JobTracker {
        var tracker = JobTracker(configHash: "h", capacity: 50)
        for (index, status) in statuses.enumerated() {
            tracker.record(runID: Int64(index + 1), at: start.addingTimeInterval(Double(index) * 60), status: status, flapHigh: 50, flapLow: 25)
        }
        return tracker
    }

    func run(_ id: Int64, _ status: RunStatus) -> ObservedRun {
        ObservedRun(id: id, record: RunRecord(
            job: "web", plugin: "probe", trigger: .schedule, scheduledAt: start, startedAt: start, finishedAt: start,
            duration: .zero, status: status, message: "", error: nil, retry: false, data: .null, configHash: "h", attempts: []
        ))
    }

    @Test func aStreakCountsOnlyTheStatusesTheRuleCounts() {
        let counted: Set<RunStatus> = [.critical, .unknown, .timeout]
        let three = tracker([.ok, .critical, .timeout, .critical])
        #expect(RuleTrigger.consecutiveFailures(3).match(counting: counted, tracker: three, run: run(4, .critical), now: start)
            == TriggerMatch(description: "3 consecutive failures (rule: 3)", runs: [2, 3, 4]))
        let warned = tracker([.critical, .warning, .critical])
        #expect(RuleTrigger.consecutiveFailures(2).match(counting: counted, tracker: warned, run: run(3, .critical), now: start) == nil)
    }

    @Test func windowsCountFailuresWithinRunsOrTime() {
        let counted: Set<RunStatus> = [.critical]
        let mixed = tracker([.critical, .ok, .critical, .ok, .critical])
        #expect(RuleTrigger.failuresWithinRuns(failures: 3, runs: 5).match(counting: counted, tracker: mixed, run: run(5, .critical), now: start)?.runs == [1, 3, 5])
        #expect(RuleTrigger.failuresWithinRuns(failures: 3, runs: 4).match(counting: counted, tracker: mixed, run: run(5, .critical), now: start) == nil)
        let now = start.addingTimeInterval(4 * 60)
        #expect(RuleTrigger.failuresWithinTime(failures: 2, window: .seconds(150)).match(counting: counted, tracker: mixed, run: run(5, .critical), now: now)?.runs == [3, 5])
    }

    /// The tracker computes the share in place, without the padded copy of the window; any
    /// history gives the same figure as Nagios' formula written out.
    @Test func flapPercentIsNagiosWeightedShareOfChanges() {
        func reference(_ states: [Bool]) -> Double {
            let window = Array(states.suffix(21))
            guard let first = window.first else { return 0 }
            let padded = Array(repeating: first, count: 21 - window.count) + window
            var weighted = 0.0
            var total = 0.0
            for index in 1..<padded.count {
                let weight = 0.75 + 0.5 * Double(index - 1) / Double(padded.count - 2)
                total += weight
                if padded[index] != padded[index - 1] { weighted += weight }
            }
            return 100 * weighted / total
        }
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 2, 5, 20, 21, 22, 40, 60] {
            for _ in 0..<50 {
                let statuses = (0..<length).map { _ in [RunStatus.ok, .critical, .warning, .timeout].randomElement(using: &generator)! }
                let expected = reference(statuses.map(\.isFailure))
                #expect(tracker(statuses).flapPercent == expected, "\(statuses)")
            }
        }
        #expect(tracker([.ok, .critical]).flapPercent == 1.25 / 20 * 100, "one change, the newest: its weight over the total")
        // Steady stretches, which the tracker weighs without walking its window: before, after
        // and between one change, and restored from the tracker's saved form.
        for before in [0, 1, 19, 20, 21, 40] {
            for after in [1, 2, 19, 20, 21, 22, 40] {
                let statuses = Array(repeating: RunStatus.ok, count: before) + Array(repeating: RunStatus.critical, count: after)
                let expected = reference(statuses.map(\.isFailure))
                let live = tracker(statuses)
                #expect(live.flapPercent == expected, "\(before) ok, \(after) critical")
                let restored = JobTracker(configHash: "h", capacity: 50, json: live.json)
                #expect(restored.flapPercent == expected, "restored: \(before) ok, \(after) critical")
            }
        }
    }

    @Test func becameFailingOnlyOnTheChange() {
        let counted: Set<RunStatus> = [.critical]
        #expect(RuleTrigger.becameFailing.match(counting: counted, tracker: tracker([.ok, .critical]), run: run(2, .critical), now: start)?.description == "the job went from ok to critical")
        #expect(RuleTrigger.becameFailing.match(counting: counted, tracker: tracker([.critical, .critical]), run: run(2, .critical), now: start) == nil)
        #expect(RuleTrigger.becameFailing.match(counting: counted, tracker: tracker([.critical]), run: run(1, .critical), now: start)?.description == "the job went from unknown to critical")
    }
}
