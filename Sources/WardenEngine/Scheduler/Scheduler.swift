import Dispatch
import Foundation
import Logging
import Synchronization

/// Fires each enabled job on one serial queue: the interval jobs of a slot (`TimerSlots`: the
/// same interval and phase, no jitter) from one repeating `DispatchSourceTimer`, a cron or
/// jittered job from one of its own.
///
/// Each timer fires at the time computed from the schedule (never from when a run ended),
/// against the wall clock, so cron jobs follow the local time and interval jobs keep their
/// phase. A timer per job cost a fire of Dispatch's timer machinery per check (its manager
/// thread's heap, a source invocation on this queue): about 5 % of the daemon's CPU at 1,000
/// checks a second (perf, BENCHMARKS.md), for jobs that fire at the same instant anyway.
/// When the wall clock is set, every timer is armed again from the new time (`WallClockWatch`).
public final class Scheduler: Sendable {
    public typealias Tick = @Sendable (_ job: JobDefinition, _ scheduledAt: Date, _ nextTick: Date?) -> Void

    private struct Timers {
        /// Cron and jittered jobs, each with its own timer.
        var own: [String: JobTimer] = [:]
        /// Interval jobs without jitter, by the slot whose timer fires them.
        var slots: [SlotTimer.Key: SlotTimer] = [:]
        var slotOf: [String: SlotTimer.Key] = [:]
    }

    private let queue = DispatchQueue(label: "warden.scheduler")
    private let timers = Mutex(Timers())
    /// From the first `start` to `stop`.
    private let clockWatch = Mutex<WallClockWatch?>(nil)
    private let clockSets = Atomic<Int>(0)
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
        watchTheWallClock()
        start(jobs, slots: TimerSlots(jobs, maxConcurrency: maxConcurrency))
    }

    private func watchTheWallClock() {
        clockWatch.withLock { watch in
            guard watch == nil else { return }
            watch = WallClockWatch(queue: queue, logger: logger) { [weak self] step in self?.wallClockWasSet(step: step) }
        }
    }

    /// After a step back the timers' deadlines lie ahead by the step, so every job would wait
    /// that long. Armed again from the new time, each job runs at its next planned time (after
    /// a step forward, the ticks it jumped over were never due in elapsed time; Dispatch may
    /// still deliver the passed deadline first).
    private func wallClockWasSet(step: TimeInterval) {
        let now = Date()
        let (own, slots) = timers.withLock { (Array($0.own.values), Array($0.slots.values)) }
        clockSets.add(1, ordering: .relaxed)
        let seconds = String(format: "%.3f", step)
        logger.notice("the wall clock was set, about \(step >= 0 ? "+" : "")\(seconds) s; every job's timer is armed again from the new time", metadata: [
            "message_id": .string(MessageID.wallClockSet), "step_seconds": .string(seconds),
        ])
        slots.forEach { $0.arm(after: now) }
        own.forEach { $0.arm(after: now) }
    }

    /// `slots`: where the whole configuration's jobs fall in their intervals. A job whose slot
    /// already has a timer joins it and fires at its next tick.
    private func start(_ jobs: [JobDefinition], slots: TimerSlots) {
        var armed: [SlotTimer] = []
        for job in jobs where job.enabled {
            let phase = slots.phase(of: job)
            if let key = SlotTimer.Key(job, phase: phase) {
                timers.withLock { timers in
                    if let slot = timers.slots[key] {
                        slot.add(job)
                    } else {
                        let slot = SlotTimer(key: key, queue: queue, logger: logger, onTick: onTick)
                        slot.add(job)
                        timers.slots[key] = slot
                        armed.append(slot)
                    }
                    timers.slotOf[job.name] = key
                }
            } else {
                let timer = JobTimer(job: job, queue: queue, timeZone: timeZone, logger: logger, phase: phase, onTick: onTick)
                timers.withLock { $0.own[job.name] = timer }
                timer.arm(after: Date())
            }
        }
        let now = Date()
        armed.forEach { $0.arm(after: now) }
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
        func note(_ name: String) {
            if wanted[name] == nil { changes.removed.append(name) } else { changes.changed.append(name) }
        }
        let (stopped, emptied, kept): ([JobTimer], [SlotTimer], Set<String>) = timers.withLock { timers in
            var stopped: [JobTimer] = []
            var emptied: [SlotTimer] = []
            var kept = Set<String>()
            for (name, timer) in timers.own {
                if let job = wanted[name], job.configHash == timer.job.configHash {
                    timer.replace(job)
                    kept.insert(name)
                    changes.unchanged.append(name)
                } else {
                    stopped.append(timer)
                    timers.own[name] = nil
                    note(name)
                }
            }
            for (name, key) in timers.slotOf {
                guard let slot = timers.slots[key] else { continue }
                if let job = wanted[name], slot.replace(job) {
                    kept.insert(name)
                    changes.unchanged.append(name)
                } else {
                    timers.slotOf[name] = nil
                    if slot.remove(name) {
                        emptied.append(slot)
                        timers.slots[key] = nil
                    }
                    note(name)
                }
            }
            return (stopped, emptied, kept)
        }
        stopped.forEach { $0.cancel() }
        emptied.forEach { $0.cancel() }
        let fresh = jobs.filter { $0.enabled && !kept.contains($0.name) }
        for job in fresh where !changes.changed.contains(job.name) { changes.added.append(job.name) }
        start(fresh, slots: TimerSlots(jobs, maxConcurrency: maxConcurrency))
        return changes
    }

    /// Stops every timer; runs already going are not touched.
    public func stop() {
        let (own, slots) = timers.withLock { timers in
            defer { timers = Timers() }
            return (Array(timers.own.values), Array(timers.slots.values))
        }
        own.forEach { $0.cancel() }
        slots.forEach { $0.cancel() }
        clockWatch.withLock { watch in
            watch?.cancel()
            watch = nil
        }
    }

    /// The next planned fire time of each job (for status and tests).
    public var nextFireTimes: [String: Date] {
        timers.withLock { timers in
            var times = timers.own.compactMapValues(\.nextFire)
            for (name, key) in timers.slotOf { times[name] = timers.slots[key]?.nextFire }
            return times
        }
    }

    /// How many times each job's timer was set (tests).
    var timerSettings: [String: Int] {
        timers.withLock { timers in
            var settings = timers.own.mapValues(\.settings)
            for (name, key) in timers.slotOf { settings[name] = timers.slots[key]?.settings }
            return settings
        }
    }

    /// How many times the wall clock was seen set (tests).
    var wallClockSets: Int { clockSets.load(ordering: .relaxed) }

    /// How many Dispatch timers fire the jobs (tests).
    var timerCount: Int { timers.withLock { $0.own.count + $0.slots.count } }

    /// Runs `body` on the scheduler's queue: a heartbeat proves the queue is not stalled.
    public func onQueue(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }
}

/// The interval jobs of one slot: fired from one timer that repeats every interval (Dispatch
/// re-arms it itself), each tick handing every job the same scheduled and next times.
/// `@unchecked` only for the Dispatch source, whose schedule and cancel calls are thread-safe.
final class SlotTimer: @unchecked Sendable {
    /// An interval and a phase within it, in milliseconds.
    struct Key: Hashable {
        let interval: Int64
        let phase: Int64

        /// nil: a job that needs a timer of its own (a cron schedule, or jitter).
        init?(_ job: JobDefinition, phase: Duration) {
            guard case .every(let every) = job.schedule, job.jitter == .zero, every.milliseconds > 0 else { return nil }
            interval = every.milliseconds
            self.phase = phase.milliseconds
        }
    }

    private let key: Key
    private let schedule: JobSchedule
    private let source: any DispatchSourceTimer
    private let logger: Logger
    private let onTick: Scheduler.Tick
    /// In the order they joined.
    private let members = Mutex<[JobDefinition]>([])
    /// The planned time of the armed fire.
    private let planned = Mutex<Date?>(nil)
    private let timesSet = Atomic<Int>(0)

    init(key: Key, queue: DispatchQueue, logger: Logger, onTick: @escaping Scheduler.Tick) {
        self.key = key
        self.schedule = .every(.milliseconds(key.interval))
        self.logger = logger
        self.onTick = onTick
        source = DispatchSource.makeTimerSource(flags: [.strict], queue: queue)
        // Built here, outside any actor: a handler inferred as @MainActor would trap when it
        // fires on the scheduler queue.
        source.setEventHandler { [weak self] in self?.fire() }
        source.activate()
    }

    var nextFire: Date? { planned.withLock { $0 } }
    var settings: Int { timesSet.load(ordering: .relaxed) }

    func add(_ job: JobDefinition) {
        members.withLock { $0.append(job) }
    }

    /// Swaps in `job`'s new definition when its config hash is unchanged (false: it changed,
    /// or the job is not here).
    func replace(_ job: JobDefinition) -> Bool {
        members.withLock { members in
            guard let index = members.firstIndex(where: { $0.name == job.name }), members[index].configHash == job.configHash else { return false }
            members[index] = job
            return true
        }
    }

    /// Takes the job out; true when none is left (then cancel the timer).
    func remove(_ name: String) -> Bool {
        members.withLock { members in
            members.removeAll { $0.name == name }
            return members.isEmpty
        }
    }

    func cancel() {
        source.cancel()
    }

    func arm(after date: Date) {
        arm(at: schedule.nextFire(after: date, phase: .milliseconds(key.phase)))
    }

    private func arm(at next: Date?) {
        planned.withLock { $0 = next }
        guard let next else { return }
        timesSet.add(1, ordering: .relaxed)
        source.schedule(wallDeadline: DispatchWallTime(date: next), repeating: .milliseconds(Int(key.interval)), leeway: .microseconds(200))
    }

    private func fire() {
        guard let scheduledAt = planned.withLock({ $0 }) else { return }
        let now = Date()
        // A fire of the deadline a wall-clock set replaced, delivered after it: the timer
        // fires again at the planned time.
        guard !scheduledAt.isFarAhead(of: now) else { return }
        let jobs = members.withLock { $0 }
        var next = schedule.nextFire(after: scheduledAt, phase: .milliseconds(key.phase))
        var onTheGrid = true
        if let planned = next, planned <= now {
            // Asleep or starved past whole ticks (suspend, clock jump): run once now and
            // resume the schedule from the present instead of firing a burst of catch-ups.
            logger.notice("missed ticks; resuming the schedule", metadata: ["jobs": .string(jobs.map(\.name).joined(separator: ","))])
            next = schedule.nextFire(after: now, phase: .milliseconds(key.phase))
            onTheGrid = false
        }
        for job in jobs { onTick(job, scheduledAt, next) }
        if onTheGrid, let next, next.epochMilliseconds == scheduledAt.epochMilliseconds + key.interval {
            planned.withLock { $0 = next }  // the repeating timer fires there by itself
        } else {
            arm(at: next)
        }
    }
}

/// The timer of a cron or jittered job, set again for each fire. `@unchecked` only for the
/// Dispatch source, whose schedule and cancel calls are thread-safe; the other mutable state
/// sits behind a Mutex.
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
    private let timesSet = Atomic<Int>(0)

    init(job: JobDefinition, queue: DispatchQueue, timeZone: TimeZone, logger: Logger, phase: Duration, onTick: @escaping Scheduler.Tick) {
        self.definition = Mutex(job)
        self.timeZone = timeZone
        self.logger = logger
        self.onTick = onTick
        self.phase = phase
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
        source.schedule(wallDeadline: DispatchWallTime(date: fireAt), leeway: .microseconds(200))
    }

    private func fire() {
        guard let scheduledAt = planned.withLock({ $0 }) else { return }
        // Copied out of its lock once a tick: each read of `job` copies the whole definition.
        let now = Date()
        // A fire of the deadline a wall-clock set replaced (see `SlotTimer.fire`).
        guard !scheduledAt.isFarAhead(of: now) else { return }
        let job = self.job
        var next = job.schedule.nextFire(after: scheduledAt, phase: phase, timeZone: timeZone, watchingSince: watchingSince)
        if let planned = next, planned <= now {
            // Asleep or starved past whole ticks (suspend, clock jump): run once now and
            // resume the schedule from the present instead of firing a burst of catch-ups.
            logger.notice("missed ticks; resuming the schedule", metadata: ["job": .string(job.name)])
            next = job.schedule.nextFire(after: now, phase: phase, timeZone: timeZone, watchingSince: watchingSince)
        }
        onTick(job, scheduledAt, next)
        arm(at: next)
    }
}

extension Date {
    /// Later than `now` by more than a timer's lateness could explain (its leeway is 200 µs).
    fileprivate func isFarAhead(of now: Date) -> Bool {
        timeIntervalSince(now) > 0.05
    }
}

extension DispatchWallTime {
    init(date: Date) {
        let seconds = date.timeIntervalSince1970
        let whole = seconds.rounded(.down)
        self.init(timespec: timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9)))
    }
}
