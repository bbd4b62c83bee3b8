import Foundation
import WardenPluginKit

/// What the rules need to know about one job's recent runs: the streak, a window of results
/// for the `failures within` triggers, and flap detection. Saved in SQLite after each run of
/// a job that rules watch, so a restart or a SIGKILL does not reset it.
struct JobTracker: Sendable {
    struct Entry: Sendable {
        /// nil: the run was observed while the database refused writes, before it had an id.
        var runID: Int64?
        var at: Int64
        var status: RunStatus
        /// Not ok: what the streak and flap detection count.
        var failed: Bool { status.isFailure }
    }

    static let flapWindow = 21

    var configHash: String
    var consecutiveFailures = 0
    /// nil until the first run: unknown is neither passing nor failing.
    var failing: Bool?
    private(set) var recent: [Entry] = []
    /// How many of the latest runs share the newest one's passing or failing: once the whole
    /// flap window (or the whole history) does, there is no change to weigh.
    private var steady = 0
    var flapping = false
    /// How many entries `recent` keeps (the largest window a rule needs, at least 21).
    var capacity: Int

    init(configHash: String, capacity: Int) {
        self.configHash = configHash
        self.capacity = max(capacity, Self.flapWindow)
    }

    /// Records a run; returns the state before it (nil: unknown).
    @discardableResult
    mutating func record(runID: Int64?, at date: Date, status: RunStatus, flapHigh: Double, flapLow: Double) -> Bool? {
        let previous = failing
        let failed = status.isFailure
        failing = failed
        steady = recent.last.map { $0.failed == failed } == true ? steady + 1 : 1
        consecutiveFailures = failed ? consecutiveFailures + 1 : 0
        recent.append(Entry(runID: runID, at: date.epochMilliseconds, status: status))
        if recent.count > capacity { recent.removeFirst(recent.count - capacity) }
        let percent = flapPercent
        if flapping && percent < flapLow { flapping = false } else if !flapping && percent >= flapHigh { flapping = true }
        return previous
    }

    /// Nagios-style: the share of state changes over the last 21 runs, weighted from 0.75
    /// (oldest) to 1.25 (newest). A short history is padded with its oldest state, so a single
    /// change early on does not look like flapping.
    var flapPercent: Double {
        // Most runs of most jobs: a steady window, weighed without a walk over it.
        if steady >= min(recent.count, Self.flapWindow) { return 0 }
        // Computed in place for every run of every tracked job: the padded copy this used to
        // build was two arrays allocated per check. The padding repeats the oldest state, so
        // it adds weight to the total and never a change.
        let states = recent.suffix(Self.flapWindow)
        guard let first = states.first?.failed else { return 0 }
        let padding = Self.flapWindow - states.count
        func failed(at index: Int) -> Bool {
            index < padding ? first : states[states.startIndex + index - padding].failed
        }
        var weighted = 0.0
        var total = 0.0
        for index in 1..<Self.flapWindow {
            let weight = 0.75 + 0.5 * Double(index - 1) / Double(Self.flapWindow - 2)
            total += weight
            if failed(at: index) != failed(at: index - 1) { weighted += weight }
        }
        return total > 0 ? 100 * weighted / total : 0
    }

    /// How many of the latest runs in a row had one of `statuses` (at most `recent.count`).
    func streak(of statuses: Set<RunStatus>) -> Int {
        recent.reversed().prefix { statuses.contains($0.status) }.count
    }

    func lastRuns(_ count: Int, of statuses: Set<RunStatus>) -> [Int64] {
        recent.suffix(count).filter { statuses.contains($0.status) }.compactMap(\.runID)
    }

    // MARK: persistence

    var json: JSONValue {
        [
            "consecutive_failures": .int(consecutiveFailures),
            "failing": failing.map(JSONValue.bool) ?? .null,
            "flapping": .bool(flapping),
            "recent": .array(recent.map { [$0.runID.map { .int(Int($0)) } ?? .null, .int(Int($0.at)), .string($0.status.rawValue)] }),
        ]
    }

    init(configHash: String, capacity: Int, json: JSONValue) {
        self.init(configHash: configHash, capacity: capacity)
        consecutiveFailures = json["consecutive_failures"]?.intValue ?? 0
        failing = json["failing"]?.boolValue
        flapping = json["flapping"]?.boolValue ?? false
        recent = (json["recent"]?.arrayValue ?? []).compactMap { item in
            guard let parts = item.arrayValue, parts.count == 3, let at = parts[1].intValue else { return nil }
            // Saved before the severities: a boolean, failed or not.
            let status = parts[2].stringValue.flatMap(RunStatus.init(rawValue:)) ?? parts[2].boolValue.map { $0 ? .critical : .ok }
            guard let status else { return nil }
            return Entry(runID: parts[0].intValue.map(Int64.init), at: Int64(at), status: status)
        }.suffix(self.capacity).map { $0 }
        let newest = recent.last?.failed
        steady = recent.reversed().prefix { $0.failed == newest }.count
    }
}

/// What a rule remembers beyond its audit trail: the escalation position (restarting when
/// its steps change), whether `on_exhausted` ran, and the last reset it has seen. Budget use
/// and cooldown are not here: they are read from the `remediations` rows of the rule's name.
struct RuleState: Sendable {
    /// The rule's `stepsHash` this position belongs to.
    var stepsHash: String
    /// The escalation level (0-based) the next remediation runs.
    var position = 0
    /// Set when the budget ran out and `on_exhausted` ran; cleared when the window frees up.
    var exhausted = false
    /// The newest `warden rule reset` already applied.
    var resetSeen: Int64?
    var inProgress = false

    init(stepsHash: String) {
        self.stepsHash = stepsHash
    }

    var json: JSONValue {
        [
            "steps_hash": .string(stepsHash),
            "position": .int(position),
            "exhausted": .bool(exhausted),
            "reset_seen": resetSeen.map { .int(Int($0)) } ?? .null,
        ]
    }

    init(stepsHash: String, json: JSONValue) {
        self.init(stepsHash: stepsHash)
        position = json["position"]?.intValue ?? 0
        exhausted = json["exhausted"]?.boolValue ?? false
        resetSeen = json["reset_seen"]?.intValue.map(Int64.init)
    }
}
