import Foundation
import Logging
import Synchronization
import WardenPluginKit

/// Turns ticks into recorded runs: refuses overlap, waits for a concurrency slot, runs the
/// attempts, and hands the record to the writer. Keeps the in-flight runs so that shutdown
/// can let them finish, then interrupt what is left.
public final class JobRunner: Sendable {
    private struct InFlight {
        var task: Task<Void, Never>
    }

    private let registry: Mutex<PluginRegistry>
    private let loop: AttemptLoop
    private let limiter: ConcurrencyLimiter
    /// Hands a record to the writer; never waits (the writer buffers).
    private let record: @Sendable (RunRecord) -> Void
    private let logger: Logger
    private let inFlight = Mutex<[String: InFlight]>([:])

    public init(
        registry: PluginRegistry,
        loop: AttemptLoop,
        limiter: ConcurrencyLimiter,
        logger: Logger,
        record: @escaping @Sendable (RunRecord) -> Void
    ) {
        self.registry = Mutex(registry)
        self.loop = loop
        self.limiter = limiter
        self.logger = logger
        self.record = record
    }

    /// Called from the scheduler's queue when a job's timer fires; never blocks.
    public func tick(_ job: JobDefinition, scheduledAt: Date, nextTick: Date?) {
        // A run of a plugin that does not block goes to the event loops its reply arrives on,
        // from start to record: on Swift's pool, the run hopped there and back around the
        // plugin, two thread wake-ups per check (BENCHMARKS.md).
        let executor = registry.withLock { $0.lookup(job.plugin) }.flatMap { loop.executor.preferredExecutor(for: $0) }
        let skipped = inFlight.withLock { running -> Bool in
            if running[job.name] != nil { return true }
            // The task is created inside the lock so that the entry is there before it can
            // finish and remove itself.
            let task = Task(executorPreference: executor) { [self] in
                await self.perform(job, trigger: .schedule, scheduledAt: scheduledAt, nextTick: nextTick)
                self.inFlight.withLock { _ = $0.removeValue(forKey: job.name) }
            }
            running[job.name] = InFlight(task: task)
            return false
        }
        if skipped {
            logger.warning("run skipped: previous run still going", metadata: ["job": .string(job.name)])
            record(RunRecord.skipped(job, scheduledAt: scheduledAt, reason: .overlap))
        }
    }

    /// One run of `job` under the concurrency bound, recorded. Returns the record.
    @discardableResult
    public func perform(_ job: JobDefinition, trigger: RunRecord.Trigger, scheduledAt: Date, nextTick: Date?) async -> RunRecord {
        let run: RunRecord
        switch await limiter.acquire() {
        case .granted:
            defer { limiter.release() }
            if let entry = registry.withLock({ $0 }).lookup(job.plugin) {
                run = await loop.run(job, plugin: entry, trigger: trigger, scheduledAt: scheduledAt, nextTick: nextTick, logger: logger)
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
    public func use(_ newRegistry: PluginRegistry) {
        registry.withLock { $0 = newRegistry }
    }

    /// How many runs are going (waiting for a slot or running).
    public var inFlightCount: Int { inFlight.withLock { $0.count } }

    /// Waits for in-flight runs up to `grace`, then cancels the rest (their runs are recorded
    /// as interrupted, external plugins killed with their process group) and waits for them.
    /// Call once the scheduler has stopped: no run starts after it.
    public func drain(grace: Duration) async {
        let remaining = inFlight.withLock { $0.values.map(\.task) }
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
