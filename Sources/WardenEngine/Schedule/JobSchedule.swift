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
    /// Jobs in one slot fire on one timer wake-up and share the thread hand-offs after it: a
    /// wake-up, not a check, was most of the CPU at 100 checks/s (BENCHMARKS.md). So an interval
    /// has as few slots as keep at most `jobsPerSlot` of the `sharedBy` jobs in each (doubling
    /// from one): ten jobs every second fire together, as Monit's cycle checks everything at once,
    /// while 10,000 never fire 500 at once behind the concurrency limit (they were skipped).
    /// A job keeps its beat across restarts; when the jobs sharing its interval cross a
    /// doubling, it moves later by less than its old slot (a reload keeps unchanged jobs'
    /// timers as they are).
    public static func phase(forJob name: String, interval: Duration, sharedBy jobs: Int = 1, jobsPerSlot: Int = TimerSlots.minimumJobsPerSlot) -> Duration {
        let period = UInt64(max(1, interval.milliseconds))
        let slot = max(1, min(period / slots(sharedBy: jobs, jobsPerSlot: jobsPerSlot), 1000))
        return .milliseconds(Int64(StableHash.fnv1a(name) % period / slot * slot))
    }

    static func slots(sharedBy jobs: Int, jobsPerSlot: Int) -> UInt64 {
        var slots: UInt64 = 1
        while UInt64(max(0, jobs)) > slots * UInt64(max(1, jobsPerSlot)) { slots *= 2 }
        return slots
    }
}

/// Where each interval job of a configuration falls in its interval: how many jobs share each
/// interval, and how many a slot may hold.
public struct TimerSlots: Sendable {
    /// A slot may always hold this many jobs: two waves behind the default limit of 16,
    /// finished in milliseconds against a healthy target.
    public static let minimumJobsPerSlot = 32

    /// As many as `daemon.max_concurrency` lets run at once (at least the minimum): a slot
    /// never waits behind itself for the limiter.
    public let jobsPerSlot: Int
    private let shares: [Duration: Int]

    public init(_ jobs: [JobDefinition], maxConcurrency: Int) {
        jobsPerSlot = max(Self.minimumJobsPerSlot, maxConcurrency)
        var shares: [Duration: Int] = [:]
        for job in jobs where job.enabled {
            if case .every(let interval) = job.schedule { shares[interval, default: 0] += 1 }
        }
        self.shares = shares
    }

    /// The job's phase within its interval; zero for a cron job.
    public func phase(of job: JobDefinition) -> Duration {
        guard case .every(let interval) = job.schedule else { return .zero }
        return JobSchedule.phase(forJob: job.name, interval: interval, sharedBy: shares[interval] ?? 1, jobsPerSlot: jobsPerSlot)
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
