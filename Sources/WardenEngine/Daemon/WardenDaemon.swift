import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import WardenPluginKit

/// The daemon: opens the history, arms the scheduler, and on graceful shutdown (SIGTERM or
/// SIGINT through swift-service-lifecycle) stops scheduling, lets in-flight runs finish
/// within the grace period, records the rest as interrupted, and flushes every result.
public final class WardenDaemon: Service, Sendable {
    public let config: WardenConfig
    private let registry: PluginRegistry
    private let logger: Logger
    private let httpClient: HTTPClient
    private let environment: [String: String]
    private let clock: any RunClock
    /// Called once the scheduler is armed (tests, and `READY=1` in issue 5).
    private let onReady: (@Sendable () -> Void)?

    public init(
        config: WardenConfig,
        registry: PluginRegistry,
        logger: Logger,
        httpClient: HTTPClient,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        clock: any RunClock = SystemRunClock(),
        onReady: (@Sendable () -> Void)? = nil
    ) {
        self.config = config
        self.registry = registry
        self.logger = logger
        self.httpClient = httpClient
        self.environment = environment
        self.clock = clock
        self.onReady = onReady
    }

    public func run() async throws {
        let settings = config.daemon
        let store = try HistoryStore.openForWriting(path: settings.database, sync: settings.databaseSync)
        let executor = PluginExecutor(httpClient: httpClient, logger: logger, environment: environment)
        let remediation = RemediationEngine(config: config, registry: registry, executor: executor, store: store, clock: clock, logger: logger)
        await remediation.restore()
        // Committed runs reach the rules in commit order, off the writer's path.
        let (committed, feed) = AsyncStream.makeStream(of: [StoredRun].self)
        let observing = Task {
            for await runs in committed { await remediation.observe(runs) }
        }
        var forward: (@Sendable ([StoredRun]) -> Void)?
        if !config.rules.isEmpty {
            forward = { @Sendable runs in _ = feed.yield(runs) }
        }
        let writer = HistoryWriter(store: store, logger: logger, onCommit: forward)
        let limiter = ConcurrencyLimiter(maxConcurrent: settings.maxConcurrency, maxQueue: settings.maxQueue)
        let runner = JobRunner(
            registry: registry, loop: AttemptLoop(executor: executor, clock: clock), limiter: limiter, logger: logger,
            record: { await writer.record($0) }
        )
        let scheduler = Scheduler(logger: logger) { job, scheduledAt, nextTick in
            runner.tick(job, scheduledAt: scheduledAt, nextTick: nextTick)
        }
        let pruner = RetentionPruner(store: store, settings: settings, jobs: config.jobs.map(\.name), logger: logger)
        let pruning = Task { await pruner.run() }

        scheduler.start(config.jobs)
        let enabled = config.jobs.filter(\.enabled).count
        logger.notice("warden started", metadata: [
            "config": .string(config.source), "database": .string(store.path),
            "jobs": .stringConvertible(enabled), "disabled": .stringConvertible(config.jobs.count - enabled),
            "version": .string(WardenVersion.current),
        ])
        onReady?()

        // Returns on SIGTERM/SIGINT (graceful shutdown) or throws if the group is cancelled.
        try? await gracefulShutdown()

        logger.notice("stopping: no new runs; waiting up to \(settings.shutdownGrace.wardenFormatted) for \(runner.inFlightCount) in flight")
        scheduler.stop()
        limiter.close()
        await runner.drain(grace: settings.shutdownGrace)
        pruning.cancel()
        await pruning.value
        await writer.close()
        feed.finish()
        await observing.value
        // Remediations under way (and their verification) get the same grace, then stop.
        let stopRemediations = Task {
            try? await Task.sleep(for: settings.shutdownGrace)
            await remediation.cancelAll()
        }
        await remediation.waitUntilIdle()
        stopRemediations.cancel()
        do {
            try store.close()
        } catch {
            logger.error("closing the history failed", metadata: ["error": "\(HistoryStore.describe(error))"])
        }
        logger.notice("warden stopped; history flushed")
    }
}

/// Deletes runs past retention in small chunks, once a minute, off the writer's path.
struct RetentionPruner: Sendable {
    let store: HistoryStore
    let settings: DaemonSettings
    let jobs: [String]
    let logger: Logger

    func run() async {
        guard settings.retention != nil || settings.maxRunsPerJob != nil else { return }
        var delay = Duration.seconds(10)
        while !Task.isCancelled {
            do { try await Task.sleep(for: delay) } catch { return }
            delay = .seconds(60)
            var total = 0
            while !Task.isCancelled {
                let cutoff = settings.retention.map { Date().addingTimeInterval(-$0.seconds) }
                let removed: Int
                do {
                    removed = try store.prune(olderThan: cutoff, maxRunsPerJob: settings.maxRunsPerJob, jobs: jobs)
                } catch {
                    logger.error("pruning the history failed", metadata: ["error": "\(HistoryStore.describe(error))"])
                    break
                }
                total += removed
                if removed < 500 { break }
                // Let the writer in between chunks.
                try? await Task.sleep(for: .milliseconds(5))
            }
            if total > 0 { logger.info("pruned \(total) runs past retention") }
        }
    }
}
