import Foundation
import Logging
import WardenPluginKit

/// A loaded, validated configuration: everything the daemon needs, nothing left to check.
public struct WardenConfig: Sendable {
    /// The file it came from (for messages and for resolving relative paths).
    public var source: String
    public var daemon: DaemonSettings
    public var jobs: [JobDefinition]
    public var rules: [RuleDefinition] = []
    public var maintenance: [MaintenanceWindow] = []
    /// `notifiers:`; `daemon.notify` routes to them by default.
    public var notifiers: [NotifierDefinition] = []
    /// Loads, but worth a second look: explicit opt-outs of safe defaults, allow-list checks
    /// that can only happen at run time.
    public var warnings: [ConfigProblem] = []

    public func job(named name: String) -> JobDefinition? {
        jobs.first { $0.name == name }
    }
}

/// The `daemon:` section.
public struct DaemonSettings: Sendable, Hashable {
    public static let defaultDatabase = "/var/lib/warden/history.db"

    public var database: String = DaemonSettings.defaultDatabase
    public var pluginDirectories: [String] = ["/etc/warden/plugins.d"]
    /// Plugins running at once, across all jobs.
    public var maxConcurrency: Int = 16
    /// Runs waiting for a free slot; a run that finds the queue full is recorded as skipped.
    public var maxQueue: Int = 1024
    public var defaultTimeout: Duration = .seconds(30)
    /// Runs older than this are pruned; nil keeps everything.
    public var retention: Duration? = .seconds(30 * 86_400)
    /// Newest runs kept per job; nil means no per-job limit.
    public var maxRunsPerJob: Int?
    public var logLevel: Logger.Level = .info
    /// How long in-flight runs may take to finish after SIGTERM before they are interrupted.
    public var shutdownGrace: Duration = .seconds(10)
    public var databaseSync: DatabaseSync = .normal
    /// `on`, `dry-run` (record what would run, run nothing) or `off`.
    public var remediation: RemediationMode = .on
    public var maxConcurrentRemediations: Int = 4
    /// Flap detection thresholds, percent of weighted state changes over the last 21 runs.
    public var flapHigh: Double = 50
    public var flapLow: Double = 25
    /// Systemd units (globs) the systemd_* remediation plugins may touch; empty: none.
    public var allowedUnits: [String] = []
    /// Programs (absolute paths or globs) `shell.exec` may run.
    public var shellAllow: [String] = []
    /// Programs (absolute paths or globs) the remediation `shell.exec_write` may run; empty: none.
    public var shellWriteAllow: [String] = []
    /// Directory of Markdown runbooks for `runbook.search`.
    public var runbooks: String = HostLimits.defaultRunbooks
    /// Where every event goes unless a job or rule says otherwise; nil: nowhere.
    public var notify: NotificationRoute?
    /// A rule whose remediations stay suppressed (silence, window, cooldown, budget…) this
    /// long while its job fails sends `remediation_suppressed`.
    public var notifySuppressedAfter: Duration = .seconds(1800)
    /// The HTTP listener (`/metrics`, `/healthz`, `/api/v1/…`, the status page); nil: off.
    public var http: HTTPSettings?

    public init() {}

    /// What plugins see of these settings (`PluginContext.limits`).
    public var pluginLimits: HostLimits {
        HostLimits(allowedUnits: allowedUnits, shellAllow: shellAllow, shellWriteAllow: shellWriteAllow, runbooks: runbooks)
    }

    /// Settings a reload cannot change under a running daemon: the history it writes (and
    /// the lock that keeps it to one daemon). Every other key takes effect on SIGHUP.
    public static let restartOnlyKeys = ["database"]

    /// The restart-only settings that differ between `self` and `new`, as messages.
    public func restartOnlyChanges(to new: DaemonSettings) -> [String] {
        var changes: [String] = []
        if database != new.database {
            changes.append("daemon.database changed (\(database) → \(new.database)); it applies only on restart: `systemctl restart warden`")
        }
        if http != new.http {
            changes.append("daemon.http changed; the listener applies only on restart: `systemctl restart warden`")
        }
        return changes
    }
}

/// `daemon.http`: where the listener binds, and the bearer token it asks for.
public struct HTTPSettings: Sendable, Hashable {
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unixSocket(let path): return path
            }
        }

        /// Loopback or a unix socket: reachable from this host only.
        public var isLocal: Bool {
            switch self {
            case .tcp(let host, _): return host == "127.0.0.1" || host == "::1" || host == "localhost"
            case .unixSocket: return true
            }
        }
    }

    public var address: Address
    /// Required as `Authorization: Bearer …` on everything but `/healthz`; nil: none.
    public var token: String?
}

/// SQLite's `synchronous` level for the history database (in WAL mode).
public enum DatabaseSync: String, Sendable, Hashable, CaseIterable {
    /// Survives a crash of Warden; a power loss may lose the last commits, never the file.
    case normal
    /// Every commit is on disk before the writer goes on.
    case full
}

/// One scheduled job, with parameters validated (defaults applied) and secrets resolved.
public struct JobDefinition: Sendable {
    /// A job's definition goes to each of its ticks and to its runs' observer: one reference
    /// to its fields, not a copy of each (`CopyOnWrite`).
    private var fields: CopyOnWrite<Fields>

    private struct Fields: Sendable {
        var name: String
        var plugin: String
        var description: String?
        var parameters: JSONObject
        var schedule: JobSchedule
        var jitter: Duration
        var timeout: Duration
        var retry: RetryPolicy
        var enabled: Bool
        var expectations: [Expectation] = []
        var dependsOn: [String] = []
        var alerting: JobAlerting = JobAlerting()
        var maintenance: [MaintenanceWindow] = []
        var secretValues: [String]
        var configHash: String
        var location: ConfigLocation
    }

    public var name: String {
        get { fields.value.name }
        _modify { yield &fields.value.name }
    }

    public var plugin: String {
        get { fields.value.plugin }
        _modify { yield &fields.value.plugin }
    }

    public var description: String? {
        get { fields.value.description }
        _modify { yield &fields.value.description }
    }

    /// Validated parameters, secrets resolved: what the plugin receives. Never log these.
    public var parameters: JSONObject {
        get { fields.value.parameters }
        _modify { yield &fields.value.parameters }
    }

    public var schedule: JobSchedule {
        get { fields.value.schedule }
        _modify { yield &fields.value.schedule }
    }

    public var jitter: Duration {
        get { fields.value.jitter }
        _modify { yield &fields.value.jitter }
    }

    public var timeout: Duration {
        get { fields.value.timeout }
        _modify { yield &fields.value.timeout }
    }

    public var retry: RetryPolicy {
        get { fields.value.retry }
        _modify { yield &fields.value.retry }
    }

    public var enabled: Bool {
        get { fields.value.enabled }
        _modify { yield &fields.value.enabled }
    }

    /// `expect:` conditions; a run whose result fails one of them has failed.
    public var expectations: [Expectation] {
        get { fields.value.expectations }
        _modify { yield &fields.value.expectations }
    }

    /// `depends_on:` while one of these jobs fails, remediation for this one is suppressed.
    public var dependsOn: [String] {
        get { fields.value.dependsOn }
        _modify { yield &fields.value.dependsOn }
    }

    /// `notify_after`, `recover_after` and the job's route (its `notify:` or `daemon.notify`).
    public var alerting: JobAlerting {
        get { fields.value.alerting }
        _modify { yield &fields.value.alerting }
    }

    /// The maintenance windows that cover this job: while one is active, people are not told.
    public var maintenance: [MaintenanceWindow] {
        get { fields.value.maintenance }
        _modify { yield &fields.value.maintenance }
    }

    /// Values that came from `${env:…}` / `${file:…}`: scrubbed from results and logs.
    public var secretValues: [String] {
        get { fields.value.secretValues }
        _modify { yield &fields.value.secretValues }
    }

    /// Identifies this job's configuration (computed over its unresolved text, so no secret
    /// can be recovered from it); stored with every run.
    public var configHash: String {
        get { fields.value.configHash }
        _modify { yield &fields.value.configHash }
    }

    /// Where the job is defined, for messages.
    public var location: ConfigLocation {
        get { fields.value.location }
        _modify { yield &fields.value.location }
    }

    public init(
        name: String, plugin: String, description: String? = nil, parameters: JSONObject, schedule: JobSchedule,
        jitter: Duration = .zero, timeout: Duration, retry: RetryPolicy = .none, enabled: Bool = true,
        secretValues: [String] = [], configHash: String, location: ConfigLocation
    ) {
        fields = CopyOnWrite(Fields(
            name: name, plugin: plugin, description: description, parameters: parameters, schedule: schedule, jitter: jitter,
            timeout: timeout, retry: retry, enabled: enabled, secretValues: secretValues, configHash: configHash, location: location
        ))
    }
}

/// A `file:line:column` position in a config file.
public struct ConfigLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One thing wrong with a config file.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    public var location: ConfigLocation
    public var message: String

    public init(location: ConfigLocation, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// Every problem found in one pass over a config file.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }

    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }
}
