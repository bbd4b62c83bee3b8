import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals
import WardenPluginKit

/// A configuration and the plugins it was validated against.
public struct LoadedConfiguration: Sendable {
    public var config: WardenConfig
    public var registry: PluginRegistry

    public init(config: WardenConfig, registry: PluginRegistry) {
        self.config = config
        self.registry = registry
    }
}

/// The daemon: opens the history, arms the scheduler, tells systemd (READY, STATUS,
/// WATCHDOG, RELOADING, STOPPING), reloads on SIGHUP, and on graceful shutdown (SIGTERM or
/// SIGINT through swift-service-lifecycle) stops scheduling, lets in-flight runs finish
/// within the grace period, records the rest as interrupted, and flushes every result.
public final class WardenDaemon: Service, Sendable {
    public typealias Reloader = @Sendable () async -> Result<LoadedConfiguration, ConfigError>

    private let initial: LoadedConfiguration
    private let logger: Logger
    private let httpClient: HTTPClient
    private let environment: [String: String]
    private let clock: any RunClock
    private let reloader: Reloader?
    private let notifier: SystemdNotifier
    /// Called once the daemon is fully up (tests; systemd gets READY=1 at the same point).
    private let onReady: (@Sendable () -> Void)?
    /// Set to `daemon.log_level` on each reload; nil when the level is pinned (`--log-level`).
    private let logLevel: LogLevelControl?
    /// How `exec` and `email` notifiers run their programs (contained, from the executable).
    private let commandRunner: CommandRunner?

    public init(
        configuration: LoadedConfiguration,
        logger: Logger,
        httpClient: HTTPClient,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        clock: any RunClock = SystemRunClock(),
        notifier: SystemdNotifier = SystemdNotifier(),
        reloader: Reloader? = nil,
        logLevel: LogLevelControl? = nil,
        commandRunner: CommandRunner? = nil,
        onReady: (@Sendable () -> Void)? = nil
    ) {
        self.logLevel = logLevel
        self.commandRunner = commandRunner
        self.initial = configuration
        self.logger = logger
        self.httpClient = httpClient
        self.environment = environment
        self.clock = clock
        self.notifier = notifier
        self.reloader = reloader
        self.onReady = onReady
    }

    public func run() async throws {
        let settings = initial.config.daemon
        // First of all: a second daemon on this database must not schedule anything.
        let lock: DaemonLock
        do {
            lock = try DaemonLock.acquire(database: settings.database)
        } catch {
            logger.critical("\(error)", metadata: ["message_id": .string(MessageID.databaseInUse)])
            throw error
        }
        defer { lock.release() }
        let store = try HistoryStore.openForWriting(path: settings.database, sync: settings.databaseSync)
        try store.sizeWriter(forJobs: initial.config.jobs.count)
        let executor = PluginExecutor(httpClient: httpClient, logger: logger, environment: environment, limits: settings.pluginLimits)
        let metrics = WardenMetrics()
        let current = CurrentConfiguration(initial)
        // Recorded runs reach the engine (journal lines, job trackers, rules) in order, off the
        // writer's path: at their commit (with ids), or at once while the database refuses writes.
        let (observed, feed) = AsyncStream.makeStream(of: [ObservedRun].self)
        let writer = HistoryWriter(
            store: store, logger: logger, linger: HistoryWriter.commitWindow(forJobs: initial.config.jobs.count), troubleRoute: { current.withLock { $0.config.daemon.notify } },
            onObserve: { @Sendable runs in _ = feed.yield(runs) }
        )
        let engine = RemediationEngine(config: initial.config, registry: initial.registry, executor: executor, store: store, writer: writer, clock: clock, metrics: metrics, logger: logger)
        await engine.restore()
        let state = DaemonState(configuration: current, engine: engine)
        let limiter = ConcurrencyLimiter(maxConcurrent: settings.maxConcurrency, maxQueue: settings.maxQueue)
        let runner = JobRunner(
            registry: initial.registry, loop: AttemptLoop(executor: executor, clock: clock), limiter: limiter, logger: logger,
            record: { writer.record($0) }
        )
        let scheduler = Scheduler(logger: logger) { job, scheduledAt, nextTick in
            runner.tick(job, scheduledAt: scheduledAt, nextTick: nextTick)
        }
        let sender = NotificationSender(store: store, httpClient: httpClient, notifiers: initial.config.notifiers, runCommand: commandRunner, metrics: metrics, logger: logger)
        // SIGHUP is trapped before READY=1: a reload request can never kill the daemon.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let status = StatusReporter(state: state, history: { writer.health }, notifier: notifier)
        // `/healthz` reads the scheduler's pulse; the listener is off unless `daemon.http` is set.
        let heartbeat = Heartbeat()
        let pruner = RetentionPruner(store: store, settings: { state.configuration.withLock { $0.config.daemon } }, jobs: { state.jobNames }, logger: logger)

        // The daemon's parts, all of them, as child tasks in nested rings. A ring ends only when
        // every part in it has, so shutdown waits for each part by construction; the rings say
        // in which order they stop.
        //   outer, until the end:           notification sender, HTTP listener
        //   history, until it is flushed:   history writer (remediations still commit through it)
        //   observer, until runs are seen:  run observer (journal, metrics, rules)
        //   inner, until runs have drained: reload on SIGHUP, STATUS= reporter, watchdog,
        //                                   heartbeat pulse (these four stop as shutdown
        //                                   starts), retention pruner
        await withDiscardingTaskGroup { outer in
            // Notifications leave the outbox on their own loops: a dead receiver delays nothing else.
            outer.addTask { await sender.run() }
            if let http = settings.http {
                let listener = HTTPListener(
                    settings: http, metrics: metrics, heartbeat: heartbeat, store: store,
                    configuration: { state.configuration.withLock { $0.config } }, history: { writer.health }, logger: logger
                )
                outer.addTask { await self.listen(listener, address: http.address) }
            }
            await withDiscardingTaskGroup { history in
                history.addTask { await writer.run() }
                let grace = await withDiscardingTaskGroup { observer -> Duration in
                    observer.addTask {
                        for await runs in observed {
                            metrics.observe(runs)
                            await engine.observe(runs)
                        }
                    }
                    let grace = await withDiscardingTaskGroup { inner -> Duration in
                        inner.addTask {
                            for await _ in hangups.cancelOnGracefulShutdown() {
                                await self.reload(state: state, scheduler: scheduler, runner: runner, limiter: limiter, executor: executor, store: store, writer: writer, sender: sender, metrics: metrics, status: status)
                            }
                        }
                        inner.addTask { await cancelWhenGracefulShutdown { await status.run() } }
                        inner.addTask { await cancelWhenGracefulShutdown { await Watchdog(notifier: self.notifier, scheduler: scheduler, environment: self.environment, logger: self.logger).run() } }
                        inner.addTask {
                            await cancelWhenGracefulShutdown {
                                while !Task.isCancelled {
                                    scheduler.onQueue { heartbeat.beat() }
                                    do { try await Task.sleep(for: .seconds(1)) } catch { return }
                                }
                            }
                        }
                        inner.addTask { await pruner.run() }

                        scheduler.start(initial.config.jobs, maxConcurrency: initial.config.daemon.maxConcurrency)
                        let enabled = initial.config.jobs.filter(\.enabled).count
                        logger.notice("warden started", metadata: [
                            "config": .string(initial.config.source), "database": .string(store.path),
                            "jobs": .stringConvertible(enabled), "disabled": .stringConvertible(initial.config.jobs.count - enabled),
                            "rules": .stringConvertible(initial.config.rules.count), "version": .string(WardenVersion.current),
                        ])
                        notifier.ready(status: await status.line())
                        onReady?()
                        // Off the cooperative pool: reclaiming pages is a blocking system call.
                        _ = try? await BlockingQueue(label: "warden.startup-pages").run { StartupPages.release() }

                        // Returns on SIGTERM/SIGINT (graceful shutdown) or when the group is cancelled.
                        try? await gracefulShutdown()

                        let grace = state.configuration.withLock { $0.config.daemon.shutdownGrace }
                        // Drain, then remediations, may each take the grace; ask systemd for that and a margin.
                        notifier.stopping(extend: grace * 2 + .seconds(10))
                        logger.notice("stopping: no new runs; waiting up to \(grace.wardenFormatted) for \(runner.inFlightCount) in flight")
                        scheduler.stop()
                        limiter.close()
                        await runner.drain(grace: grace)
                        inner.cancelAll()
                        return grace
                    }
                    // Every run so far reaches the rules before remediations are drained.
                    await writer.flush(giveUpAfter: grace)
                    feed.finish()
                    return grace
                }
                // Remediations under way (and their verification runs, through the writer) get
                // the same grace, then stop; then the writer commits what is left and closes.
                await engine.drain(grace: grace)
                await writer.close()
            }
            // What is still in the outbox stays there and goes out after the next start; the
            // listener got the graceful shutdown too and is closing its connections.
            outer.cancelAll()
        }
        // Database pools and cached credentials: nothing runs any more.
        await executor.resources.closeAll()
        do {
            try store.close()
        } catch {
            logger.error("closing the history failed", metadata: ["error": "\(HistoryStore.describe(error))"])
        }
        logger.notice("warden stopped; history flushed")
    }

    /// Serves `daemon.http`; the graceful shutdown starts closing its connections, and the
    /// outer ring's cancellation at the very end stops whatever is left.
    private func listen(_ listener: HTTPListener, address: HTTPSettings.Address) async {
        do {
            try await listener.run()
        } catch is CancellationError {
        } catch {
            logger.error("the HTTP listener on \(address) stopped: \(error)")
        }
    }

    /// SIGHUP: RELOADING=1, load and validate the file again; on success apply it (unchanged
    /// jobs keep their timers and state), on failure keep running the old one and say why in
    /// STATUS=. Then READY=1 either way.
    private func reload(
        state: DaemonState, scheduler: Scheduler, runner: JobRunner, limiter: ConcurrencyLimiter, executor: PluginExecutor, store: HistoryStore,
        writer: HistoryWriter, sender: NotificationSender, metrics: WardenMetrics, status: StatusReporter
    ) async {
        guard let reloader else { return }
        notifier.reloading()
        logger.notice("reloading the configuration")
        var result = await reloader()
        // A key that only a restart can change refuses the whole reload: half-applied is worse
        // than not applied.
        if case .success(let loaded) = result {
            let current = state.configuration.withLock { $0.config }
            let refused = current.daemon.restartOnlyChanges(to: loaded.config.daemon)
            if !refused.isEmpty {
                let location = ConfigLocation(file: loaded.config.source, line: 1, column: 1)
                result = .failure(ConfigError(problems: refused.map { ConfigProblem(location: location, message: $0) }))
            }
        }
        switch result {
        case .failure(let error):
            for problem in error.problems {
                logger.error("reload failed: \(problem)", metadata: ["message_id": .string(MessageID.reloadFailed)])
            }
            let first = error.problems.first.map { ": \($0)" } ?? ""
            let summary = "reload failed (\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s")\(first)); running the previous configuration"
            await status.setReloadFailure(summary)
            let route = state.configuration.withLock { $0.config.daemon.notify }
            let event = NotificationEvent(kind: .reloadFailed, message: summary, at: Date())
            do {
                try await BlockingQueue(label: "warden.reload").run { try store.enqueue(event, route: route) }
            } catch {
                logger.error("cannot queue the reload-failed notification: \(HistoryStore.describe(error))")
            }
        case .success(let loaded):
            // Every other `daemon:` key takes effect here (docs/operations.md lists them).
            let daemon = loaded.config.daemon
            executor.update(limits: daemon.pluginLimits)
            limiter.resize(maxConcurrent: daemon.maxConcurrency, maxQueue: daemon.maxQueue)
            logLevel?.level = daemon.logLevel
            do {
                try await BlockingQueue(label: "warden.reload").run {
                    try store.setSynchronous(daemon.databaseSync)
                    try store.sizeWriter(forJobs: loaded.config.jobs.count)
                }
            } catch {
                logger.error("cannot apply daemon.database_sync or size the history writer: \(HistoryStore.describe(error))")
            }
            writer.setLinger(HistoryWriter.commitWindow(forJobs: loaded.config.jobs.count))
            for warning in loaded.config.warnings { logger.warning("config: \(warning)") }
            runner.use(loaded.registry)
            sender.update(loaded.config.notifiers)
            let changes = scheduler.update(loaded.config.jobs, maxConcurrency: daemon.maxConcurrency)
            await state.engine.apply(loaded.config, registry: loaded.registry)
            metrics.keepJobs(Set(loaded.config.jobs.map(\.name)))
            state.configuration.withLock { $0 = loaded }
            // Targets and credentials may have changed: pools are rebuilt on next use. Runs in
            // flight finish on the connections they hold, which close when returned.
            await executor.resources.closeAll()
            await status.setReloadFailure(nil)
            logger.notice("reload done: \(changes)", metadata: ["message_id": .string(MessageID.reloadDone)])
        }
        notifier.ready(status: await status.line())
    }
}

/// The configuration in force, which a reload swaps; read by every part that follows reloads.
final class CurrentConfiguration: Sendable {
    private let value: Mutex<LoadedConfiguration>

    init(_ configuration: LoadedConfiguration) {
        value = Mutex(configuration)
    }

    func withLock<Result>(_ body: (inout LoadedConfiguration) -> Result) -> Result {
        value.withLock { body(&$0) }
    }
}

/// What the daemon runs now: the configuration a reload swaps, and the one remediation engine.
final class DaemonState: Sendable {
    let configuration: CurrentConfiguration
    let engine: RemediationEngine

    init(configuration: CurrentConfiguration, engine: RemediationEngine) {
        self.configuration = configuration
        self.engine = engine
    }

    var jobNames: [String] { configuration.withLock { $0.config.jobs.map(\.name) } }
}

/// `STATUS=` kept current: `42 jobs · 2 failing · 1 remediating · last run 3s ago`.
actor StatusReporter {
    private let state: DaemonState
    private let history: @Sendable () -> HistoryWriter.Health
    private let notifier: SystemdNotifier
    private var reloadFailure: String?

    init(state: DaemonState, history: @escaping @Sendable () -> HistoryWriter.Health, notifier: SystemdNotifier) {
        self.state = state
        self.history = history
        self.notifier = notifier
    }

    func setReloadFailure(_ text: String?) {
        reloadFailure = text
    }

    func line() async -> String {
        let jobs = state.configuration.withLock { $0.config.jobs.filter(\.enabled).map(\.name) }
        let remediating = await state.engine.activeCount
        var parts = ["\(jobs.count) jobs", "\(await state.engine.failingCount(among: Set(jobs))) failing", "\(remediating) remediating"]
        if let last = await state.engine.lastRunAt {
            parts.append("last run \(max(0, Int(Date().timeIntervalSince(last))))s ago")
        } else {
            parts.append("no run yet")
        }
        let health = history()
        if let since = health.failingSince {
            parts.append("history writes failing for \(max(0, Int(Date().timeIntervalSince(since))))s: \(health.buffered) runs buffered (\(health.lastError ?? "unknown error"))")
        }
        if health.dropped > 0 { parts.append("\(health.dropped) runs dropped (see history_gaps)") }
        if let reloadFailure { parts.append(reloadFailure) }
        return parts.joined(separator: " · ")
    }

    func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(5)) } catch { return }
            notifier.status(await line())
        }
    }
}

/// `WATCHDOG=1` every half of `WatchdogSec=`, sent from the scheduler's own queue: if that
/// queue stalls, the pings stop and systemd restarts Warden.
struct Watchdog: Sendable {
    /// Test-only fault injection: stall the scheduler queue this many seconds after start.
    static let stallVariable = "WARDEN_TEST_STALL_SCHEDULER_AFTER"

    let notifier: SystemdNotifier
    let scheduler: Scheduler
    let environment: [String: String]
    let logger: Logger

    func run() async {
        await withDiscardingTaskGroup { group in
            if let text = environment[Self.stallVariable], let seconds = Double(text) {
                group.addTask {
                    do { try await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) } catch { return }
                    logger.critical("test fault injection: stalling the scheduler queue (\(Self.stallVariable))")
                    scheduler.onQueue { while true { sleep(3600) } }
                }
            }
            guard let interval = notifier.watchdogPingInterval() else { return }
            logger.info("systemd watchdog enabled: pinging every \(interval.wardenFormatted) from the scheduler queue")
            let notifier = self.notifier
            while !Task.isCancelled {
                scheduler.onQueue { notifier.watchdog() }
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}

/// Deletes runs past retention in small chunks, once a minute, off the writer's path.
struct RetentionPruner: Sendable {
    let store: HistoryStore
    /// Read at each pass, so that a reload's `retention` and `max_runs_per_job` apply.
    let settings: @Sendable () -> DaemonSettings
    let jobs: @Sendable () -> [String]
    let logger: Logger
    private let work = BlockingQueue(label: "warden.pruner")

    init(store: HistoryStore, settings: @escaping @Sendable () -> DaemonSettings, jobs: @escaping @Sendable () -> [String], logger: Logger) {
        self.store = store
        self.settings = settings
        self.jobs = jobs
        self.logger = logger
    }

    func run() async {
        var delay = Duration.seconds(10)
        while !Task.isCancelled {
            do { try await Task.sleep(for: delay) } catch { return }
            delay = .seconds(60)
            let settings = self.settings()
            guard settings.retention != nil || settings.maxRunsPerJob != nil else { continue }
            var total = 0
            let names = jobs()
            while !Task.isCancelled {
                let cutoff = settings.retention.map { Date().addingTimeInterval(-$0.seconds) }
                let removed: Int
                do {
                    removed = try await work.run { try store.prune(olderThan: cutoff, maxRunsPerJob: settings.maxRunsPerJob, jobs: names) }
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
