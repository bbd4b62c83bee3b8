import Logging

/// What a plugin gets besides its parameters. Clients and the environment are
/// injected so that tests hand in real local servers and their own variables.
public struct PluginContext: Sendable {
    /// Carries `plugin=<name>` (and the job/run metadata the engine adds) on every line.
    public var logger: Logger
    /// The instant by which the plugin must have returned; the engine cancels it then.
    public var deadline: ContinuousClock.Instant
    /// Clients the host shares with every run (the HTTP client: connection pooling across
    /// runs), by type; the plugin families read what they need.
    public var services: PluginServices
    /// When true a remediation reports what it would do and changes nothing.
    public var dryRun: Bool
    /// Configuration from the environment (`EXTERNAL_API_KEY`, …), never `getenv` directly.
    public var environment: [String: String]
    /// Values of this run's secret (`writeOnly`) parameters, so a plugin can scrub them from
    /// anything it logs; the engine scrubs the result itself.
    public var secrets: [String]
    /// Host-wide limits from the daemon's config that bound what plugins may touch.
    public var limits: HostLimits
    /// Pools and caches kept between runs; closed by the daemon on reload and shutdown.
    public var resources: PluginResources

    public init(
        logger: Logger,
        deadline: ContinuousClock.Instant,
        services: PluginServices = PluginServices(),
        dryRun: Bool = false,
        environment: [String: String] = [:],
        secrets: [String] = [],
        limits: HostLimits = HostLimits(),
        resources: PluginResources = PluginResources()
    ) {
        self.logger = logger
        self.deadline = deadline
        self.services = services
        self.dryRun = dryRun
        self.environment = environment
        self.secrets = secrets
        self.limits = limits
        self.resources = resources
    }

    /// Time left before the deadline (zero once it has passed).
    public var remaining: Duration {
        max(.zero, deadline - .now)
    }
}

extension Duration {
    /// The duration in (fractional) seconds: for timestamps, timeouts and response times.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
