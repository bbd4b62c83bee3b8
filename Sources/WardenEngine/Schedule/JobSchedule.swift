import Foundation

/// When a job runs: a fixed interval or a cron expression. Fire times are pure functions of
/// the schedule and the clock, never of when the previous run ended, so nothing drifts.
public enum JobSchedule: Sendable, Hashable, CustomStringConvertible {
    case every(Duration)
    case cron(CronExpression)

    public var description: String {
        switch self {
        case .every(let interval): return "every \(interval.wardenFormatted)"
        case .cron(let expression): return "cron \(expression.description)"
        }
    }

    /// The next fire time strictly after `date`.
    ///
    /// Interval jobs fire at `phase + k·interval` on the Unix time line: a restart or a
    /// reload keeps each job on the same beat, and `phase` (from the job's name) spreads a
    /// thousand `every: 60s` jobs across the minute instead of firing them all at second 0.
    public func nextFire(after date: Date, phase: Duration, timeZone: TimeZone = .current, watchingSince start: Date? = nil) -> Date? {
        switch self {
        case .every(let interval):
            let period = interval.milliseconds
            guard period > 0 else { return nil }
            let now = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
            let offset = phase.milliseconds % period
            let k = (now - offset) / period + 1
            var next = k * period + offset
            if next <= now { next += period }
            return Date(timeIntervalSince1970: Double(next) / 1000)
        case .cron(let expression):
            return expression.nextFire(after: date, in: timeZone, watchingSince: start)
        }
    }

    /// The job's stable phase within its interval: FNV-1a of the name, so it is the same in
    /// every process and every release (Swift's own `Hasher` is seeded per process), snapped to
    /// a slot (at most a second wide).
    ///
    /// Jobs in one slot fire on one timer wake-up and share the thread hand-offs after it: one
    /// wake-up per check was half of the CPU per check at 100 and 1,000 checks/s. An interval
    /// has twenty slots, doubled while a slot would hold more than `jobsPerSlot` of the
    /// `sharedBy` jobs with that interval: 500 jobs at once (10,000 at 1 s in twenty slots)
    /// queued behind the concurrency limit and skipped runs. A job keeps its
    /// beat across restarts; when the jobs sharing its interval cross a doubling, it moves
    /// later by less than its old slot (a reload keeps unchanged jobs' timers as they are).
    public static func phase(forJob name: String, interval: Duration, sharedBy jobs: Int = 1) -> Duration {
        let period = UInt64(max(1, interval.milliseconds))
        let slot = max(1, min(period / slots(sharedBy: jobs), 1000))
        return .milliseconds(Int64(StableHash.fnv1a(name) % period / slot * slot))
    }

    static let jobsPerSlot = 32

    static func slots(sharedBy jobs: Int) -> UInt64 {
        var slots: UInt64 = 20
        while UInt64(max(0, jobs)) > slots * UInt64(jobsPerSlot) { slots *= 2 }
        return slots
    }

    /// How many enabled jobs share each interval: what `phase(forJob:interval:sharedBy:)` spreads.
    public static func intervalShares(_ jobs: [JobDefinition]) -> [Duration: Int] {
        var shares: [Duration: Int] = [:]
        for job in jobs where job.enabled {
            if case .every(let interval) = job.schedule { shares[interval, default: 0] += 1 }
        }
        return shares
    }
}

enum StableHash {
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
