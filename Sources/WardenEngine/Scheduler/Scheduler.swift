import Dispatch
import Foundation
import Logging
import Synchronization

/// Fires each enabled job from its own `DispatchSourceTimer` on one serial queue.
///
/// Each timer is one-shot and re-armed for the next fire time computed from the schedule
/// (never from when a run ended), against the wall clock, so cron jobs follow the local
/// time and interval jobs keep their phase. Measured (`make bench`, bench/README.md): at
/// 10,000 jobs p99 start lateness is 0.08 ms (bare timers: 0.05 ms) at ~4 % of one core, so
/// a single timer driving a heap would buy nothing worth its code.
public final class Scheduler: Sendable {
    public typealias Tick = @Sendable (_ job: JobDefinition, _ scheduledAt: Date, _ nextTick: Date?) -> Void

    private let queue = DispatchQueue(label: "warden.scheduler")
    private let timers = Mutex<[String: JobTimer]>([:])
    private let timeZone: TimeZone
    private let logger: Logger
    private let onTick: Tick

    public init(timeZone: TimeZone = .current, logger: Logger, onTick: @escaping Tick) {
        self.timeZone = timeZone
        self.logger = logger
        self.onTick = onTick
    }

    /// Arms a timer for every enabled job. `maxConcurrency` sizes the timer slots.
    public func start(_ jobs: [JobDefinition], maxConcurrency: Int = DaemonSettings().maxConcurrency) {
        start(jobs, slots: TimerSlots(jobs, maxConcurrency: maxConcurrency))
    }

    /// `slots`: where the whole configuration's jobs fall in their intervals.
    private func start(_ jobs: [JobDefinition], slots: TimerSlots) {
        for job in jobs where job.enabled {
            let timer = JobTimer(job: job, queue: queue, timeZone: timeZone, logger: logger, phase: slots.phase(of: job), onTick: onTick)
            timers.withLock { $0[job.name] = timer }
            timer.arm(after: Date())
        }
    }

    /// What a reload changed.
    public struct Changes: Sendable, CustomStringConvertible {
        public var added: [String] = []
        public var removed: [String] = []
        public var changed: [String] = []
        public var unchanged: [String] = []

        public var description: String {
            "\(added.count) added, \(removed.count) removed, \(changed.count) changed, \(unchanged.count) unchanged"
        }
    }

    /// Applies a reloaded job list. A job whose config hash is unchanged keeps its timer and
    /// phase (its definition is swapped, for rotated secrets); a removed one stops (its
    /// in-flight run finishes); a new or changed one starts.
    @discardableResult
    public func update(_ jobs: [JobDefinition], maxConcurrency: Int = DaemonSettings().maxConcurrency) -> Changes {
        var changes = Changes()
        let wanted = Dictionary(jobs.filter(\.enabled).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let (stopped, kept): ([JobTimer], Set<String>) = timers.withLock { timers in
            var stopped: [JobTimer] = []
            var kept = Set<String>()
            for (name, timer) in timers {
                if let job = wanted[name], job.configHash == timer.job.configHash {
                    timer.replace(job)
                    kept.insert(name)
                    changes.unchanged.append(name)
                } else {
                    stopped.append(timer)
                    timers[name] = nil
                    if wanted[name] == nil { changes.removed.append(name) } else { changes.changed.append(name) }
                }
            }
            return (stopped, kept)
        }
        stopped.forEach { $0.cancel() }
        let fresh = jobs.filter { $0.enabled && !kept.contains($0.name) }
        for job in fresh where !changes.changed.contains(job.name) { changes.added.append(job.name) }
        start(fresh, slots: TimerSlots(jobs, maxConcurrency: maxConcurrency))
        return changes
    }

    /// Stops every timer; runs already going are not touched.
    public func stop() {
        let all = timers.withLock { timers in
            defer { timers = [:] }
            return Array(timers.values)
        }
        all.forEach { $0.cancel() }
    }

    /// The next planned fire time of each job (for status and tests).
    public var nextFireTimes: [String: Date] {
        timers.withLock { $0.mapValues(\.nextFire) }.compactMapValues { $0 }
    }

    /// How many times each job's timer was set (tests).
    var timerSettings: [String: Int] {
        timers.withLock { $0.mapValues(\.settings) }
    }

    /// Runs `body` on the scheduler's queue: a heartbeat proves the queue is not stalled.
    public func onQueue(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }
}

/// One job's timer. `@unchecked` only for the Dispatch source, whose schedule and cancel
/// calls are thread-safe; the other mutable state sits behind a Mutex.
final class JobTimer: @unchecked Sendable {
    private let definition: Mutex<JobDefinition>
    var job: JobDefinition { definition.withLock { $0 } }
    private let source: any DispatchSourceTimer
    private let timeZone: TimeZone
    private let logger: Logger
    private let onTick: Scheduler.Tick
    private let phase: Duration
    /// The planned time (schedule, without jitter) of the armed fire.
    private let planned = Mutex<Date?>(nil)
    /// When this timer began watching its schedule: a cron time repeated by a fall-back
    /// transition whose first occurrence came before it fires at its second.
    private let watchingSince = Date()
    /// An interval job without jitter fires on a fixed grid of this many milliseconds, so its
    /// timer repeats and Dispatch re-arms it. Setting a timer from its own handler wakes
    /// Dispatch's manager thread (an eventfd write and a thread switch): once per run, a
    /// tenth of the daemon's CPU at 5,000 checks a second (perf, BENCHMARKS.md).
    private let period: Int64?
    private let timesSet = Atomic<Int>(0)

    init(job: JobDefinition, queue: DispatchQueue, timeZone: TimeZone, logger: Logger, phase: Duration, onTick: @escaping Scheduler.Tick) {
        self.definition = Mutex(job)
        self.timeZone = timeZone
        self.logger = logger
        self.onTick = onTick
        self.phase = phase
        if case .every(let interval) = job.schedule, job.jitter == .zero, interval.milliseconds > 0 {
            period = interval.milliseconds
        } else {
            period = nil
        }
        source = DispatchSource.makeTimerSource(flags: [.strict], queue: queue)
        // Built here, outside any actor: a handler inferred as @MainActor would trap when it
        // fires on the scheduler queue.
        source.setEventHandler { [weak self] in self?.fire() }
        source.activate()
    }

    var nextFire: Date? { planned.withLock { $0 } }
    var settings: Int { timesSet.load(ordering: .relaxed) }

    /// A definition with the same config hash (same schedule): takes effect on the next tick.
    func replace(_ job: JobDefinition) {
        definition.withLock { $0 = job }
    }

    func cancel() {
        source.cancel()
    }

    /// Arms the timer for the first fire time after `date`.
    func arm(after date: Date) {
        arm(at: job.schedule.nextFire(after: date, phase: phase, timeZone: timeZone, watchingSince: watchingSince))
    }

    private func arm(at next: Date?) {
        let job = self.job
        planned.withLock { $0 = next }
        guard let next else {
            logger.warning("job has no future fire time; it will not run", metadata: ["job": .string(job.name)])
            return
        }
        var fireAt = next
        if job.jitter > .zero {
            fireAt = next.addingTimeInterval(Double.random(in: 0..<job.jitter.seconds))
        }
        timesSet.add(1, ordering: .relaxed)
        if let period {
            source.schedule(wallDeadline: DispatchWallTime(date: fireAt), repeating: .milliseconds(Int(period)), leeway: .microseconds(200))
        } else {
            source.schedule(wallDeadline: DispatchWallTime(date: fireAt), leeway: .microseconds(200))
        }
    }

    private func fire() {
        guard let scheduledAt = planned.withLock({ $0 }) else { return }
        // Copied out of its lock once a tick: each read of `job` copies the whole definition.
        let job = self.job
        let now = Date()
        var next = job.schedule.nextFire(after: scheduledAt, phase: phase, timeZone: timeZone, watchingSince: watchingSince)
        var onTheGrid = true
        if let planned = next, planned <= now {
            // Asleep or starved past whole ticks (suspend, clock jump): run once now and
            // resume the schedule from the present instead of firing a burst of catch-ups.
            logger.notice("missed ticks; resuming the schedule", metadata: ["job": .string(job.name)])
            next = job.schedule.nextFire(after: now, phase: phase, timeZone: timeZone, watchingSince: watchingSince)
            onTheGrid = false
        }
        onTick(job, scheduledAt, next)
        if onTheGrid, let period, let next, next.epochMilliseconds == scheduledAt.epochMilliseconds + period {
            planned.withLock { $0 = next }  // the repeating timer fires there by itself
        } else {
            arm(at: next)
        }
    }
}

extension DispatchWallTime {
    init(date: Date) {
        let seconds = date.timeIntervalSince1970
        let whole = seconds.rounded(.down)
        self.init(timespec: timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9)))
    }
}
