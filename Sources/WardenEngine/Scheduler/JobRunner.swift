import Foundation
import Logging
import Synchronization
import WardenPluginKit

/// Turns ticks into recorded runs: refuses overlap, waits for a concurrency slot, runs the
/// attempts, and hands the record to the writer. Keeps the in-flight runs so that shutdown
/// can let them finish, then interrupt what is left.
public final class JobRunner: Sendable {
    /// What a run of a job needs that only a reload changes: found at the job's first tick and
    /// kept, where every run looked its plugin up twice and built its plugin's logger. A class:
    /// each run takes it along, and a copy of the struct was two dozen retains.
    final class RunPlan: Sendable {
        let entry: RegisteredPlugin
        /// Where the run goes (`PluginExecutor.preferredExecutor(for:)`).
        let executor: (any TaskExecutor)?
        /// What the first attempt's plugin logs with (`AttemptLoop.pluginLogger`).
        let firstAttemptLogger: Logger
        /// The job's parameters as its plugin decoded them.
        let parameters = ParameterSlot()

        init(entry: RegisteredPlugin, executor: (any TaskExecutor)?, firstAttemptLogger: Logger) {
            self.entry = entry
            self.executor = executor
            self.firstAttemptLogger = firstAttemptLogger
        }
    }

    /// One job as the runner knows it between runs. A class: the dictionary's entry is looked
    /// up and changed in place, where a struct went through the dictionary's `modify`
    /// accessor, whose frame was a `malloc` at each tick and at each run's end (callgrind).
    private final class JobSlot {
        /// The run going, if any: a tick while it runs is an overlap.
        var running: Task<Void, Never>?
        /// nil: not planned since the last reload, or the job's plugin is not registered.
        var plan: RunPlan?

        init(running: Task<Void, Never>? = nil) {
            self.running = running
        }

        /// Starts a run of `job` unless one is going (false: the tick overlaps it), planning
        /// the job first when it has no plan or one for another plugin: a tick of a job's old
        /// definition can come between a reload's new registry and its new timers.
        func start(
            _ job: JobDefinition, planning makePlan: () -> RunPlan?, run: (RunPlan?) -> Task<Void, Never>
        ) -> Bool {
            guard running == nil else { return false }
            if plan?.entry.spec.name != job.plugin { plan = makePlan() }
            running = run(plan)
            return true
        }
    }

    private struct Jobs {
        var slots: [String: JobSlot] = [:]
        /// What plans are made from; a reload replaces it and drops the plans (`use`).
        var registry: PluginRegistry
    }

    private let loop: AttemptLoop
    private let limiter: ConcurrencyLimiter
    /// Hands a record to the writer; never waits (the writer buffers).
    private let record: @Sendable (RunRecord) -> Void
    private let logger: Logger
    private let jobs: Mutex<Jobs>

    public init(
        registry: PluginRegistry,
        loop: AttemptLoop,
        limiter: ConcurrencyLimiter,
        logger: Logger,
        record: @escaping @Sendable (RunRecord) -> Void
    ) {
        self.jobs = Mutex(Jobs(registry: registry))
        self.loop = loop
        self.limiter = limiter
        self.logger = logger
        self.record = record
    }

    /// Called from the scheduler's queue when a job's timer fires; never blocks.
    public func tick(_ job: JobDefinition, scheduledAt: Date, nextTick: Date?) {
        let started = jobs.withLock { jobs -> Bool in
            let registry = jobs.registry
            let slot = jobs.slots[job.name] ?? {
                let slot = JobSlot()
                jobs.slots[job.name] = slot
                return slot
            }()
            return slot.start(job, planning: { plan(job, from: registry) }) { plan in
                // A run of a plugin that does not block goes to the event loops its reply
                // arrives on, from start to record: on Swift's pool, the run hopped there and
                // back around the plugin, two thread wake-ups per check (BENCHMARKS.md). The
                // task is created inside the lock so that the slot holds it before it can
                // finish and clear it.
                Task(executorPreference: plan?.executor) { [self] in
                    await self.perform(job, plan: plan, trigger: .schedule, scheduledAt: scheduledAt, nextTick: nextTick)
                    self.jobs.withLock { jobs in
                        if let slot = jobs.slots[job.name] { slot.running = nil }
                    }
                }
            }
        }
        if !started {
            logger.warning("run skipped: previous run still going", metadata: ["job": .string(job.name)])
            record(RunRecord.skipped(job, scheduledAt: scheduledAt, reason: .overlap))
        }
    }

    /// `job`'s plan from `registry`; nil when its plugin is not registered there.
    private func plan(_ job: JobDefinition, from registry: PluginRegistry) -> RunPlan? {
        registry.lookup(job.plugin).map { entry in
            RunPlan(
                entry: entry, executor: loop.executor.preferredExecutor(for: entry),
                firstAttemptLogger: loop.pluginLogger(for: job, plugin: entry, attempt: 1)
            )
        }
    }

    /// One run of `job` under the concurrency bound, recorded. Returns the record.
    ///
    /// `nonisolated(nonsending)`, as the run path's other async functions (the limiter,
    /// `AttemptLoop.run`, `PluginExecutor.execute`, `runWithDeadline`, `PlainHTTPClient`): each
    /// runs on its caller's executor, where a plain nonisolated call hopped, asking the runtime
    /// for the task's executor preference under its status lock (~2,400 instructions a check).
    @discardableResult
    public nonisolated(nonsending) func perform(_ job: JobDefinition, trigger: RunRecord.Trigger, scheduledAt: Date, nextTick: Date?) async -> RunRecord {
        await perform(job, plan: plan(job, from: jobs.withLock(\.registry)), trigger: trigger, scheduledAt: scheduledAt, nextTick: nextTick)
    }

    @discardableResult
    private nonisolated(nonsending) func perform(_ job: JobDefinition, plan: RunPlan?, trigger: RunRecord.Trigger, scheduledAt: Date, nextTick: Date?) async -> RunRecord {
        let run: RunRecord
        switch await limiter.acquire() {
        case .granted:
            defer { limiter.release() }
            if let plan {
                run = await plan.parameters.withCurrent {
                    await loop.run(
                        job, plugin: plan.entry, trigger: trigger, scheduledAt: scheduledAt, nextTick: nextTick, logger: logger,
                        firstAttemptLogger: plan.firstAttemptLogger
                    )
                }
            } else {
                // A custom plugin removed from disk since the config was loaded.
                let now = Date()
                run = RunRecord(
                    job: job.name, plugin: job.plugin, trigger: trigger, scheduledAt: scheduledAt, startedAt: now,
                    finishedAt: now, duration: .zero, status: .unknown, message: "plugin `\(job.plugin)` is no longer registered",
                    error: "unknown plugin `\(job.plugin)`", retry: false, data: .null, configHash: job.configHash, attempts: []
                )
            }
        case .queueFull:
            logger.warning("run skipped: max_concurrency reached and the queue is full", metadata: ["job": .string(job.name)])
            run = RunRecord.skipped(job, scheduledAt: scheduledAt, reason: .queueFull)
        case .closed:
            var interrupted = RunRecord.skipped(job, scheduledAt: scheduledAt, reason: .shutdown)
            interrupted.status = .interrupted
            interrupted.message = "interrupted: the daemon stopped before this run got a slot"
            run = interrupted
        }
        record(run)
        return run
    }

    /// After a reload: the plugins the new configuration was validated against.
    /// Every job is planned afresh at its next tick (its plugin may have changed, or be gone);
    /// a job the reload removed keeps a slot only while its last run goes (then an empty one,
    /// until the next reload).
    public func use(_ newRegistry: PluginRegistry) {
        jobs.withLock { jobs in
            jobs.registry = newRegistry
            jobs.slots = jobs.slots.compactMapValues { $0.running.map { JobSlot(running: $0) } }
        }
    }

    /// How many runs are going (waiting for a slot or running).
    public var inFlightCount: Int { jobs.withLock { $0.slots.values.count { $0.running != nil } } }

    /// Waits for in-flight runs up to `grace`, then cancels the rest (their runs are recorded
    /// as interrupted, external plugins killed with their process group) and waits for them.
    /// Call once the scheduler has stopped: no run starts after it.
    public func drain(grace: Duration) async {
        let remaining = jobs.withLock { $0.slots.values.compactMap(\.running) }
        guard !remaining.isEmpty else { return }
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for task in remaining { await task.value }
                return true
            }
            group.addTask {
                do { try await Task.sleep(for: grace) } catch { return true }
                return false
            }
            if await group.next() == false {
                logger.notice("interrupting \(self.inFlightCount) runs still going after the shutdown grace")
                remaining.forEach { $0.cancel() }
            }
            group.cancelAll()
        }
    }
}
