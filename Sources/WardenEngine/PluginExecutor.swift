import AsyncHTTPClient
import Logging
import Synchronization
import WardenPluginKit

/// Runs one registered plugin once: parameters already validated, a deadline enforced,
/// any thrown error or timeout turned into a failed result. Nothing a plugin does can
/// crash the caller.
public struct PluginExecutor: Sendable {
    public let httpClient: HTTPClient
    public var logger: Logger
    public var environment: [String: String]
    /// How long a timed-out plugin may take to wind down after cancellation (an external
    /// plugin gets SIGTERM, then SIGKILL) before the executor stops waiting for it.
    public var cancellationGrace: Duration
    /// The daemon's plugin limits, shared by every copy of this executor so that a reload's
    /// new limits reach the very next run.
    private let currentLimits: PluginLimits
    public var limits: HostLimits { currentLimits.current }
    /// Pools and caches plugins keep between runs (one per database target, …).
    public var resources: PluginResources
    /// Where `NonBlockingPlugin`s run: the HTTP client's event loops.
    private let eventLoops: EventLoopTaskExecutor
    /// What every run's context provides (the HTTP client), made once: a dictionary built for
    /// each run was 1,000 instructions of it (callgrind).
    private let services: PluginServices

    public init(
        httpClient: HTTPClient, logger: Logger, environment: [String: String], cancellationGrace: Duration = .seconds(5),
        limits: HostLimits = HostLimits(), resources: PluginResources = PluginResources()
    ) {
        self.httpClient = httpClient
        self.logger = logger
        self.environment = environment
        self.cancellationGrace = cancellationGrace
        self.currentLimits = PluginLimits(limits)
        self.resources = resources
        self.eventLoops = EventLoopTaskExecutor(group: httpClient.eventLoopGroup)
        self.services = PluginServices().providing(httpClient)
    }

    /// Where a run of `entry` should go: a `NonBlockingPlugin`'s whole run, not only the
    /// plugin, on the HTTP client's event loops (nil: Swift's global executor).
    public func preferredExecutor(for entry: RegisteredPlugin) -> (any TaskExecutor)? {
        entry.isNonBlocking ? eventLoops : nil
    }

    /// Puts a reloaded config's plugin limits in force for every run that starts from now on.
    public func update(limits: HostLimits) {
        currentLimits.replace(limits)
    }

    public struct Execution: Sendable {
        public let result: PluginResult
        public let duration: Duration
        /// ok; the result's severity (warning, critical, or unknown, also when the plugin
        /// threw without saying what it means for the target); timeout; or interrupted
        /// (the caller was cancelled, e.g. the daemon is stopping).
        public let outcome: AttemptOutcome
        public var timedOut: Bool { outcome == .timeout }

        public init(result: PluginResult, duration: Duration, outcome: AttemptOutcome) {
            self.result = result
            self.duration = duration
            self.outcome = outcome
        }
    }

    /// The logger a run of `entry` hands its plugin: this executor's, with the plugin's name
    /// and `metadata`.
    public func pluginLogger(for entry: RegisteredPlugin, metadata: Logger.Metadata) -> Logger {
        var pluginLogger = logger
        pluginLogger[metadataKey: "plugin"] = .string(entry.spec.name)
        for (key, value) in metadata { pluginLogger[metadataKey: key] = value }
        return pluginLogger
    }

    /// Executes `entry` with parameters that passed `entry.validate`, handing the plugin
    /// `logger` (made by `pluginLogger(for:metadata:)`; a scheduled job's is made once, not
    /// for every run), or this executor's with the plugin's name.
    public nonisolated(nonsending) func execute(
        _ entry: RegisteredPlugin,
        parameters: JSONObject,
        timeout: Duration,
        dryRun: Bool = false,
        additionalSecrets: [String] = [],
        logger: Logger? = nil
    ) async -> Execution {
        let pluginLogger = logger ?? self.pluginLogger(for: entry, metadata: [:])
        // Whatever a plugin echoes of a secret parameter (an API error quoting the token, a
        // script printing its input) is scrubbed from its result here and from its logs by it.
        // `additionalSecrets` are values the config resolved from `${env:…}`/`${file:…}`.
        let secrets = entry.schema.secretValues(in: .object(parameters)) + additionalSecrets
        pluginLogger.debug("plugin started", metadata: [
            "params": .string(JSONValue.object(entry.redacted(parameters)).redactingOccurrences(of: secrets).jsonText()),
            "timeout": .string(timeout.wardenFormatted),
        ])
        let started = ContinuousClock.now
        let context = PluginContext(
            logger: pluginLogger,
            deadline: started + timeout,
            services: services,
            dryRun: dryRun,
            environment: environment,
            secrets: secrets,
            limits: limits,
            resources: resources
        )
        let plugin = entry.plugin
        let outcome: Result<PluginResult, any Error>?
        // The task a plugin that may block runs in, to be abandoned at the deadline.
        var watched: Task<Void, Never>?
        if entry.isNonBlocking {
            // It ends by `context.deadline` on its own (`NonBlockingPlugin`): run in this task.
            // A task of its own and the wait for it were a tenth of a check (callgrind).
            do { outcome = .success(try await plugin.execute(parameters, context: context)) } catch { outcome = .failure(error) }
        } else {
            (outcome, watched) = await runWithDeadline(timeout) { try await plugin.execute(parameters, context: context) }
        }
        var result: PluginResult
        var attemptOutcome: AttemptOutcome
        switch outcome {
        case .success(let value)?:
            result = value
            attemptOutcome = value.effectiveSeverity.map(AttemptOutcome.init) ?? .ok
        case .failure(let error)? where !(error is PluginTimedOut):
            result = Self.result(for: error)
            attemptOutcome = AttemptOutcome(result.severity ?? .unknown)
        case .failure, nil:
            // The deadline passed: noticed by the executor, or by the plugin's own bound on
            // `context.remaining` (PluginTimedOut), whichever came first.
            if let task = watched {
                task.cancel()
                // Give the plugin its grace to clean up (an external one is being killed by its
                // process group) so that nothing it started outlives this call.
                if await awaitResult(of: task, within: cancellationGrace) == nil {
                    pluginLogger.error("plugin did not stop within \(cancellationGrace) of cancellation; abandoning it")
                }
            }
            result = .failure(
                "timed out after \(timeout.wardenFormatted)",
                message: "\(entry.spec.name) did not finish within \(timeout.wardenFormatted)",
                retry: true
            )
            attemptOutcome = .timeout
        }
        if Task.isCancelled && attemptOutcome != .ok {
            attemptOutcome = .interrupted
            // Whatever the plugin ended with (a child killed by our SIGTERM reads "crashed"),
            // the daemon stopping is what happened.
            result = .failure("interrupted: the daemon is stopping", message: "\(entry.spec.name) was interrupted by shutdown", retry: true)
        }
        let execution = Execution(
            result: result.redactingOccurrences(of: secrets),
            duration: ContinuousClock.now - started,
            outcome: attemptOutcome
        )
        pluginLogger.debug("plugin finished", metadata: [
            "success": .stringConvertible(execution.result.success),
            "retry": .stringConvertible(execution.result.retry),
            "duration": .string(execution.duration.wardenFormatted),
            "error": .string(execution.result.error ?? ""),
        ])
        return execution
    }

    static func result(for error: any Error) -> PluginResult {
        switch error {
        case let pluginError as PluginError:
            return pluginError.result
        case is CancellationError:
            return .failure("cancelled", retry: true, severity: .unknown)
        default:
            return .failure(String(describing: error), severity: .unknown)
        }
    }
}

/// The plugin limits in force; one instance shared by all copies of an executor.
final class PluginLimits: Sendable {
    private let value: Mutex<HostLimits>
    init(_ limits: HostLimits) { value = Mutex(limits) }
    var current: HostLimits { value.withLock { $0 } }
    func replace(_ limits: HostLimits) { value.withLock { $0 = limits } }
}
