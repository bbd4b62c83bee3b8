import Foundation
import Logging
import WardenPluginKit
import Yams

/// Reads a Warden YAML config into a `WardenConfig`, reporting every problem in one pass,
/// each with `file:line:column`, what was expected, and a suggestion for misspelt keys.
///
/// Parameters are validated against the plugin's schema here, at load time, so a job that
/// would fail on its first tick never gets scheduled. No input crashes the loader.
public struct ConfigLoader: Sendable {
    public static let defaultPath = "/etc/warden/warden.yaml"

    public var registry: PluginRegistry
    /// Where `${env:NAME}` looks; the process environment in production.
    public var environment: [String: String]

    public init(registry: PluginRegistry, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.registry = registry
        self.environment = environment
    }

    public func load(path: String) throws(ConfigError) -> WardenConfig {
        try load(text: Self.text(path: path).get(), file: path)
    }

    /// The file's text: a regular file of at most `ConfigLimits.fileBytes` in UTF-8 (a FIFO
    /// would block a reload forever; a bad byte is reported where it is).
    static func text(path: String) -> Result<String, ConfigError> {
        func refuse(line: Int = 1, column: Int = 1, _ message: String) -> Result<String, ConfigError> {
            .failure(ConfigError(problems: [ConfigProblem(location: ConfigLocation(file: path, line: line, column: column), message: message)]))
        }
        switch RegularFile.read(path, limit: ConfigLimits.fileBytes) {
        case .failure(let failure):
            return refuse("cannot read the config file: \(failure.reason)")
        case .success(let data):
            switch ConfigLimits.decode(data) {
            case .success(let text): return .success(text)
            case .failure(let position):
                return refuse(line: position.line, column: position.column, "invalid UTF-8 here: the config must be UTF-8 text")
            }
        }
    }

    /// Only the `daemon:` section, read before plugins are discovered (it says where they
    /// are, and where the history is). Nil when the file cannot be read or parsed: the full
    /// load then reports why.
    public static func daemonSettings(path: String) -> DaemonSettings? {
        guard let text = try? text(path: path).get(), ConfigLimits.fileBytes >= text.utf8.count,
              let root = try? Yams.compose(yaml: text), case .mapping(let mapping) = root else { return nil }
        var reader = ConfigReader(file: path, registry: PluginRegistry(), secrets: SecretResolver(environment: [:]))
        var settings = DaemonSettings()
        if let node = mapping.first(where: { $0.key.string == "daemon" })?.value {
            settings = reader.readDaemon(node)
        }
        reader.resolvePaths(in: &settings)
        return settings
    }

    /// The job and rule names a config file defines, read without validating the rest
    /// (`warden silence add` and `warden rule reset` check names against it). Nil when the
    /// file cannot be read or parsed.
    public static func names(path: String) -> (jobs: [String], rules: [String])? {
        guard let text = try? text(path: path).get(),
              let root = try? Yams.compose(yaml: text), case .mapping(let mapping) = root else { return nil }
        func names(_ key: String) -> [String] {
            guard case .sequence(let items)? = mapping.first(where: { $0.key.string == key })?.value else { return [] }
            return items.compactMap { item in
                guard case .mapping(let fields) = item else { return nil }
                return fields.first(where: { $0.key.string == "name" })?.value.string
            }
        }
        return (names("jobs"), names("rules"))
    }

    public func load(text: String, file: String) throws(ConfigError) -> WardenConfig {
        var reader = ConfigReader(file: file, registry: registry, secrets: SecretResolver(environment: environment))
        let config = reader.read(text)
        guard reader.problems.isEmpty, let config else {
            throw ConfigError(problems: reader.problems.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) })
        }
        return config
    }
}

/// One pass over one file; collects problems instead of stopping at the first.
struct ConfigReader {
    let file: String
    let registry: PluginRegistry
    let secrets: SecretResolver
    var problems: [ConfigProblem] = []
    /// Things that load but deserve a second look (`check-config` prints them, the daemon logs them).
    var warnings: [ConfigProblem] = []
    /// The `daemon:` section as read so far: rule steps are checked against its allow-lists.
    var daemon = DaemonSettings()

    static let rootKeys = ["daemon", "notifiers", "jobs", "rules", "maintenance"]
    /// Read first: `daemon.notify`, jobs and rules route to them.
    var notifiers: [NotifierDefinition] = []
    static let daemonKeys = [
        "database", "plugin_dirs", "max_concurrency", "max_queue", "default_timeout", "retention",
        "max_runs_per_job", "log_level", "shutdown_grace", "database_sync", "remediation",
        "max_concurrent_remediations", "flap_high", "flap_low", "allowed_units", "shell_allow", "shell_write_allow", "runbooks", "notify", "notify_suppressed_after", "http",
    ]
    static let jobKeys = [
        "name", "plugin", "description", "params", "every", "cron", "jitter", "timeout", "retry", "enabled",
        "expect", "depends_on", "notify", "notify_after", "recover_after",
    ]
    static let retryKeys = ["attempts", "max_delay", "stop_after_delay", "wait", "delay", "multiplier", "min", "max", "exp_base", "retry_on"]

    init(file: String, registry: PluginRegistry, secrets: SecretResolver) {
        self.file = file
        self.registry = registry
        self.secrets = secrets
    }

    mutating func read(_ text: String) -> WardenConfig? {
        guard text.utf8.count <= ConfigLimits.fileBytes else {
            problem(at: nil, "the config is \(text.utf8.count >> 10) KiB: at most \(ConfigLimits.fileBytes >> 20) MiB")
            return nil
        }
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                problem(at: nil, "the config is empty: expected a mapping with `daemon:` and `jobs:`")
                return nil
            }
            root = composed
            if let (node, message) = ConfigLimits.check(root) {
                problem(at: node, message)
                return nil
            }
        } catch let error as YamlError {
            syntaxProblem(error, text: text)
            return nil
        } catch {
            problem(at: nil, "cannot parse YAML: \(error)")
            return nil
        }
        guard let pairs = mapping(root, what: "the config") else { return nil }
        checkKeys(pairs, allowed: Self.rootKeys, in: "the config")

        if let node = pairs.value(for: "notifiers") {
            notifiers = readNotifiers(node)
        }
        if let node = pairs.value(for: "daemon") {
            daemon = readDaemon(node)
        }
        var jobs: [JobDefinition] = []
        if let node = pairs.value(for: "jobs") {
            jobs = readJobs(node, daemon: daemon)
            checkDependencies(jobs, in: node)
        }
        var config = WardenConfig(source: file, daemon: daemon, jobs: jobs)
        config.notifiers = notifiers
        if let node = pairs.value(for: "rules") {
            config.rules = readRules(node, jobs: jobs)
        }
        if let node = pairs.value(for: "maintenance") {
            config.maintenance = readMaintenance(node)
            for index in config.jobs.indices {
                config.jobs[index].maintenance = config.maintenance.filter { $0.covers(job: config.jobs[index].name, rule: "") }
            }
        }
        resolvePaths(in: &config.daemon)
        config.warnings = warnings.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
        return config
    }

    /// Relative paths in the config are relative to the config file's directory.
    func resolvePaths(in daemon: inout DaemonSettings) {
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        daemon.database = Self.absolute(daemon.database, relativeTo: directory)
        daemon.pluginDirectories = daemon.pluginDirectories.map { Self.absolute($0, relativeTo: directory) }
        daemon.runbooks = Self.absolute(daemon.runbooks, relativeTo: directory)
    }

    static func absolute(_ path: String, relativeTo directory: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory, isDirectory: true)).standardizedFileURL.path
    }

    // MARK: daemon

    mutating func readDaemon(_ node: Node) -> DaemonSettings {
        var settings = DaemonSettings()
        guard let pairs = mapping(node, what: "`daemon`") else { return settings }
        checkKeys(pairs, allowed: Self.daemonKeys, in: "`daemon`")
        for (key, _, value) in pairs {
            switch key {
            case "database":
                if let path = string(value, what: "daemon.database"), !path.isEmpty { settings.database = path }
            case "plugin_dirs":
                if let paths = stringList(value, what: "daemon.plugin_dirs") { settings.pluginDirectories = paths }
            case "max_concurrency":
                if let number = integer(value, what: "daemon.max_concurrency", in: 1...10_000) { settings.maxConcurrency = number }
            case "max_queue":
                if let number = integer(value, what: "daemon.max_queue", in: 0...1_000_000) { settings.maxQueue = number }
            case "default_timeout":
                if let duration = duration(value, what: "daemon.default_timeout", positive: true) { settings.defaultTimeout = duration }
            case "retention":
                if isNull(value) || value.string == "forever" {
                    settings.retention = nil
                } else if let duration = duration(value, what: "daemon.retention", positive: true) {
                    settings.retention = duration
                }
            case "max_runs_per_job":
                if isNull(value) {
                    settings.maxRunsPerJob = nil
                } else if let number = integer(value, what: "daemon.max_runs_per_job", in: 1...Int(Int32.max)) {
                    settings.maxRunsPerJob = number
                }
            case "log_level":
                if let text = string(value, what: "daemon.log_level") {
                    if let level = Logger.Level(rawValue: text) {
                        settings.logLevel = level
                    } else {
                        problem(at: value, "invalid daemon.log_level `\(text)`: expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
            case "shutdown_grace":
                if let duration = duration(value, what: "daemon.shutdown_grace", positive: false) { settings.shutdownGrace = duration }
            case "remediation":
                if let text = string(value, what: "daemon.remediation") {
                    if let mode = RemediationMode(rawValue: text) {
                        settings.remediation = mode
                    } else {
                        problem(at: value, "invalid daemon.remediation `\(text)`: expected on, dry-run or off")
                    }
                }
            case "max_concurrent_remediations":
                if let number = integer(value, what: "daemon.max_concurrent_remediations", in: 1...1_000) { settings.maxConcurrentRemediations = number }
            case "flap_high", "flap_low":
                if let number = value.float ?? value.int.map(Double.init), (0...100).contains(number) {
                    if key == "flap_high" { settings.flapHigh = number } else { settings.flapLow = number }
                } else {
                    problem(at: value, "daemon.\(key): expected a percentage from 0 to 100, got \(describe(value))")
                }
            case "allowed_units":
                if let list = stringList(value, what: "daemon.allowed_units") { settings.allowedUnits = list }
            case "shell_allow", "shell_write_allow":
                if let list = stringList(value, what: "daemon.\(key)") {
                    for (index, item) in list.enumerated() where !item.hasPrefix("/") {
                        problem(at: value.array().indices.contains(index) ? value.array()[index] : value, "daemon.\(key): `\(item)` must be an absolute path (or a glob of paths)")
                    }
                    if key == "shell_allow" { settings.shellAllow = list } else { settings.shellWriteAllow = list }
                }
            case "runbooks":
                if let path = string(value, what: "daemon.runbooks") { settings.runbooks = path }
            case "notify":
                settings.notify = readRoute(value, what: "daemon.notify", notifiers: notifiers)
            case "http":
                settings.http = readHTTP(value)
            case "notify_suppressed_after":
                if let duration = duration(value, what: "daemon.notify_suppressed_after", positive: false) { settings.notifySuppressedAfter = duration }
            case "database_sync":
                if let text = string(value, what: "daemon.database_sync") {
                    if let sync = DatabaseSync(rawValue: text) {
                        settings.databaseSync = sync
                    } else {
                        problem(at: value, "invalid daemon.database_sync `\(text)`: expected normal or full")
                    }
                }
            default:
                break
            }
        }
        return settings
    }

    // MARK: jobs

    mutating func readJobs(_ node: Node, daemon: DaemonSettings) -> [JobDefinition] {
        if isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            problem(at: node, "`jobs` must be a list of jobs (`- name: …`), got \(describe(node))")
            return []
        }
        var jobs: [JobDefinition] = []
        var seen: [String: ConfigLocation] = [:]
        for item in sequence {
            // Duplicates are found by name even among jobs that have other problems.
            if case .mapping(let mapping) = item, let name = mapping.first(where: { $0.key.string == "name" })?.value.string {
                if let first = seen[name] {
                    problem(at: item, "duplicate job name `\(name)`: already defined at \(first)")
                    continue
                }
                seen[name] = location(of: item)
            }
            if let job = readJob(item, daemon: daemon) { jobs.append(job) }
        }
        return jobs
    }

    mutating func readJob(_ node: Node, daemon: DaemonSettings) -> JobDefinition? {
        guard let pairs = mapping(node, what: "a job") else { return nil }
        let problemsBefore = problems.count
        checkKeys(pairs, allowed: Self.jobKeys, in: "a job")
        let location = self.location(of: node)

        var name = "?"
        if let value = pairs.value(for: "name") {
            if let text = string(value, what: "the job name") {
                if PluginSpec.isValidName(text) {
                    name = text
                } else {
                    problem(at: value, "invalid job name `\(ConfigReader.excerpt(text))`: use lowercase letters, digits, `_`, `.` and `-`, at most \(PluginSpec.maximumNameLength) bytes")
                }
            }
        } else {
            problem(at: node, "a job needs a `name`")
        }
        let label = "job `\(name)`"

        var entry: RegisteredPlugin?
        if let value = pairs.value(for: "plugin") {
            entry = plugin(value, job: label)
        } else {
            problem(at: node, "\(label) needs a `plugin` (see `warden plugins --category diagnostic`)")
        }

        let schedule = readSchedule(pairs, at: node, job: label)
        var jitter = Duration.zero
        if let value = pairs.value(for: "jitter"), let parsed = duration(value, what: "\(label): jitter", positive: false) {
            jitter = parsed
            if case .every(let interval)? = schedule, parsed >= interval {
                problem(at: value, "\(label): jitter \(parsed.wardenFormatted) must be shorter than the interval (\(interval.wardenFormatted))")
            }
        }
        var timeout = daemon.defaultTimeout
        if let value = pairs.value(for: "timeout"), let parsed = duration(value, what: "\(label): timeout", positive: true) {
            timeout = parsed
        }
        var retry = RetryPolicy.none
        if let value = pairs.value(for: "retry") {
            retry = readRetry(value, job: label)
        }
        var enabled = true
        if let value = pairs.value(for: "enabled"), let flag = boolean(value, what: "\(label): enabled") {
            enabled = flag
        }
        var description: String?
        if let value = pairs.value(for: "description") {
            description = string(value, what: "\(label): description")
        }
        var expectations: [Expectation] = []
        if let value = pairs.value(for: "expect") {
            expectations = readExpectations(value, job: label)
        }
        var dependsOn: [String] = []
        if let value = pairs.value(for: "depends_on") {
            dependsOn = value.string.map { [$0] } ?? stringList(value, what: "\(label): depends_on") ?? []
        }

        var parameters: JSONObject = [:]
        var rawParameters: JSONValue = .object([:])
        var secretValues: [String] = []
        var unresolved = Set<String>()
        let paramsNode = pairs.value(for: "params")
        if let paramsNode, !isNull(paramsNode) {
            if case .mapping(let mapping) = paramsNode {
                rawParameters = json(paramsNode, resolving: false, job: label, secrets: &secretValues)
                for (key, value) in mapping {
                    let name = key.string ?? ""
                    let before = problems.count
                    parameters[name] = json(value, resolving: true, job: label, path: "params.\(name)", secrets: &secretValues)
                    // A value whose secret did not resolve is reported once, not again by the schema.
                    if problems.count > before { unresolved.insert(name) }
                }
            } else {
                problem(at: paramsNode, "\(label): `params` must be a mapping of parameter names to values, got \(describe(paramsNode))")
            }
        }
        if let entry {
            switch entry.validate(parameters) {
            case .success(let validated):
                parameters = validated
                checkAllowLists(entry, parameters: validated, paramsNode: paramsNode, at: node, label: label)
            case .failure(let error):
                for violation in error.violations where !unresolved.contains(violation.parameter ?? "") {
                    let target = paramsNode.flatMap { Self.node(at: violation.pointer, in: $0) } ?? paramsNode ?? node
                    let parameter = violation.pointer.split(separator: "/").joined(separator: ".")
                    let message = violation.message.redactingOccurrences(of: secretValues)
                    problem(at: target, "\(label): parameter `\(parameter.isEmpty ? "(params)" : parameter)`: \(message)")
                }
            }
        }

        guard problems.count == problemsBefore, let entry, let schedule else { return nil }
        let hashInput: JSONValue = [
            "name": .string(name), "plugin": .string(entry.spec.name), "params": rawParameters,
            "schedule": .string(schedule.description), "jitter": .int(Int(jitter.milliseconds)),
            "timeout": .int(Int(timeout.milliseconds)), "retry": .string(String(describing: retry)),
            "enabled": .bool(enabled),
        ]
        var job = JobDefinition(
            name: name,
            plugin: entry.spec.name,
            description: description,
            parameters: parameters,
            schedule: schedule,
            jitter: jitter,
            timeout: timeout,
            retry: retry,
            enabled: enabled,
            secretValues: secretValues,
            configHash: String(format: "%016llx", StableHash.fnv1a(
                hashInput.jsonText() + expectations.map(\.description).joined(separator: "\n") + dependsOn.joined(separator: ","))),
            location: location
        )
        job.expectations = expectations
        job.dependsOn = dependsOn
        job.alerting.route = daemon.notify
        if let value = pairs.value(for: "notify") { job.alerting.route = readRoute(value, what: "\(label): notify", notifiers: notifiers) }
        if let value = pairs.value(for: "notify_after"), let count = integer(value, what: "\(label): notify_after", in: 1...10_000) {
            job.alerting.notifyAfter = count
        }
        if let value = pairs.value(for: "recover_after"), let count = integer(value, what: "\(label): recover_after", in: 1...10_000) {
            job.alerting.recoverAfter = count
        }
        // A reload that only changes who is told still replaces the job.
        job.configHash = String(format: "%016llx", StableHash.fnv1a(job.configHash + "\(job.alerting)"))
        return job
    }

    mutating func plugin(_ node: Node, job label: String) -> RegisteredPlugin? {
        guard let name = string(node, what: "\(label): plugin") else { return nil }
        guard let entry = registry.lookup(name) else {
            let diagnostics = registry.list(category: .diagnostic).map(\.spec.name)
            let hint = NameSuggester.nearest(to: name, among: diagnostics).map { " — did you mean `\($0)`?" } ?? " (see `warden plugins`)"
            problem(at: node, "\(label): unknown plugin `\(name)`\(hint)")
            return nil
        }
        guard entry.spec.category == .diagnostic else {
            problem(at: node, "\(label): `\(name)` is a \(entry.spec.category.rawValue) plugin; jobs may only run diagnostic plugins (remediation runs from rules)")
            return nil
        }
        return entry
    }

    mutating func readSchedule(_ pairs: [MappingEntry], at node: Node, job label: String) -> JobSchedule? {
        let every = pairs.value(for: "every")
        let cron = pairs.value(for: "cron")
        switch (every, cron) {
        case (nil, nil):
            problem(at: node, "\(label) needs a schedule: `every: 30s` or `cron: \"*/5 * * * *\"`")
            return nil
        case (let every?, _?):
            problem(at: every, "\(label) has both `every` and `cron`: expected exactly one schedule")
            return nil
        case (let every?, nil):
            guard let interval = duration(every, what: "\(label): every", positive: true) else { return nil }
            return .every(interval)
        case (nil, let cron?):
            guard let text = string(cron, what: "\(label): cron") else { return nil }
            do {
                return .cron(try CronExpression(text))
            } catch {
                problem(at: cron, "\(label): \(error.description)")
                return nil
            }
        }
    }

    mutating func readRetry(_ node: Node, job label: String) -> RetryPolicy {
        var policy = RetryPolicy()
        guard let pairs = mapping(node, what: "\(label): retry") else { return policy }
        checkKeys(pairs, allowed: Self.retryKeys, in: "`retry`")
        for (key, _, value) in pairs {
            let what = "\(label): retry.\(key)"
            switch key {
            case "attempts":
                if let number = integer(value, what: what, in: 1...100) { policy.attempts = number }
            case "max_delay":
                if let parsed = duration(value, what: what, positive: true) { policy.maxDelay = parsed }
            case "stop_after_delay":
                if let parsed = duration(value, what: what, positive: true) { policy.stopAfterDelay = parsed }
            case "wait":
                if let text = string(value, what: what) {
                    if let wait = RetryPolicy.Wait(rawValue: text) {
                        policy.wait = wait
                    } else {
                        problem(at: value, "invalid \(what) `\(text)`: expected \(RetryPolicy.Wait.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
            case "delay":
                if let parsed = duration(value, what: what, positive: false) { policy.delay = parsed }
            case "multiplier":
                if let parsed = duration(value, what: what, positive: false) { policy.multiplier = parsed }
            case "min":
                if let parsed = duration(value, what: what, positive: false) { policy.minimum = parsed }
            case "max":
                if let parsed = duration(value, what: what, positive: false) { policy.maximum = parsed }
            case "exp_base":
                if let number = value.float ?? value.int.map(Double.init), number >= 1, number.isFinite, number <= 100 {
                    policy.exponentBase = number
                } else {
                    problem(at: value, "\(what): expected a number from 1 to 100, got \(describe(value))")
                }
            case "retry_on":
                let items = value.string.map { [$0] } ?? stringList(value, what: what) ?? []
                var conditions = Set<RetryPolicy.Condition>()
                for item in items {
                    if let condition = RetryPolicy.Condition(rawValue: item) {
                        conditions.insert(condition)
                    } else {
                        let names = RetryPolicy.Condition.allCases.map(\.rawValue)
                        let hint = NameSuggester.nearest(to: item, among: names).map { " — did you mean `\($0)`?" } ?? ""
                        problem(at: value, "invalid \(what) `\(item)`: expected any of \(names.joined(separator: ", "))\(hint)")
                    }
                }
                if !conditions.isEmpty { policy.retryOn = conditions }
            default:
                break
            }
        }
        if policy.minimum > policy.maximum {
            problem(at: node, "\(label): retry.min (\(policy.minimum.wardenFormatted)) is greater than retry.max (\(policy.maximum.wardenFormatted))")
        }
        return policy
    }

    // MARK: parameters

    /// YAML → JSON, with `${env:…}`/`${file:…}` resolved when `resolving` (collecting the
    /// resolved values as secrets).
    mutating func json(_ node: Node, resolving: Bool, job label: String, path: String = "params", secrets found: inout [String]) -> JSONValue {
        json(node, resolving: resolving, job: label, at: .root(path), secrets: &found)
    }

    /// Where in the parameters a value is, spelled out only for a problem: building the text
    /// for every value made a YAML alias bomb of 260,000 values take seconds to refuse.
    indirect enum ParameterPath: CustomStringConvertible {
        case root(String)
        case member(ParameterPath, String)
        case item(ParameterPath, Int)

        var description: String {
            switch self {
            case .root(let name): name
            case .member(let parent, let name): "\(parent).\(name)"
            case .item(let parent, let index): "\(parent)[\(index)]"
            }
        }
    }

    private mutating func json(_ node: Node, resolving: Bool, job label: String, at path: ParameterPath, secrets found: inout [String]) -> JSONValue {
        switch node {
        case .mapping(let mapping):
            var object: JSONObject = [:]
            for (key, value) in mapping {
                let name = key.string ?? ""
                object[name] = json(value, resolving: resolving, job: label, at: .member(path, name), secrets: &found)
            }
            return .object(object)
        case .sequence(let sequence):
            var items: [JSONValue] = []
            items.reserveCapacity(sequence.count)
            for (index, item) in sequence.enumerated() {
                items.append(json(item, resolving: resolving, job: label, at: .item(path, index), secrets: &found))
            }
            return .array(items)
        case .alias:
            if resolving { problem(at: node, "\(label): \(path): YAML aliases are not supported in params") }
            return .null
        case .scalar(let scalar):
            switch node.tagName {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return node.int.map(JSONValue.int) ?? .string(scalar.string)
            case .float:
                if let number = node.float, number.isFinite { return .double(number) }
                if resolving { problem(at: node, "\(label): \(path): expected a finite number, got \(scalar.string)") }
                return .null
            default:
                guard resolving else { return .string(scalar.string) }
                switch secrets.resolve(scalar.string) {
                case .success(let resolved):
                    found += resolved.secrets
                    return .string(resolved.text)
                case .failure(let error):
                    problem(at: node, "\(label): \(path): \(error.description)")
                    return .string("")
                }
            }
        }
    }

    /// The node a JSON pointer into the parameters refers to (the deepest one that exists).
    static func node(at pointer: String, in root: Node) -> Node? {
        var current = root
        for token in pointer.split(separator: "/") {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch current {
            case .mapping(let mapping):
                guard let next = mapping.first(where: { $0.key.string == key }) else { return current }
                current = next.value
            case .sequence(let sequence):
                guard let index = Int(key), sequence.indices.contains(index) else { return current }
                current = sequence[index]
            default:
                return current
            }
        }
        return current
    }
}
