import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import WardenEngine
import WardenPluginKit

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon in the foreground (logs to stderr).",
        discussion: """
            SIGTERM or SIGINT stops scheduling, lets in-flight runs finish within daemon.shutdown_grace, \
            records the rest as interrupted, flushes the history and exits 0.
            """
    )

    @OptionGroup var config: ConfigOptions
    @OptionGroup var loading: PluginLoadingOptions

    @Option(name: .customLong("log-target"), help: "auto (the journal when stderr is connected to it), journal or stderr.")
    var logTarget: String = LogTarget.auto.rawValue

    func validate() throws {
        guard LogTarget(rawValue: logTarget) != nil else {
            throw ValidationError("invalid --log-target `\(logTarget)`: expected auto, journal or stderr")
        }
    }

    func run() async throws {
        let settings = config.daemonSettings()
        let runtime = try await CommandRuntime.load(
            directories: loading.directories(default: settings.pluginDirectories),
            level: loading.level(default: settings.logLevel),
            target: LogTarget(rawValue: logTarget) ?? .auto
        )
        for problem in runtime.problems {
            runtime.logger.warning("custom plugin not loaded: \(problem)")
        }
        let loaded = try runtime.loadConfig(config)
        let httpClient = SharedHTTPClient.make()
        let options = (config, loading)
        let logger = runtime.logger
        // SIGHUP: plugins are discovered again and the file re-read and re-validated.
        let reloader: WardenDaemon.Reloader = {
            let settings = options.0.daemonSettings()
            do {
                let (registry, problems) = try await CommandRuntime.discover(options.1.directories(default: settings.pluginDirectories), logger: logger)
                for problem in problems { logger.warning("custom plugin not loaded: \(problem)") }
                var config = try ConfigLoader(registry: registry).load(path: options.0.configPath)
                if let database = options.0.databasePath { config.daemon.database = ConfigOptions.absolute(database) }
                return .success(LoadedConfiguration(config: config, registry: registry))
            } catch let error as ConfigError {
                return .failure(error)
            } catch {
                return .failure(ConfigError(problems: [ConfigProblem(location: ConfigLocation(file: options.0.configPath, line: 1, column: 1), message: "\(error)")]))
            }
        }
        for warning in loaded.warnings { runtime.logger.warning("config: \(warning)") }
        let daemon = WardenDaemon(
            configuration: LoadedConfiguration(config: loaded, registry: runtime.registry),
            logger: runtime.logger, httpClient: httpClient, reloader: reloader,
            // `--log-level` pins the level; otherwise a reload's daemon.log_level applies.
            logLevel: loading.logLevel == nil ? runtime.logLevel : nil,
            commandRunner: ContainedCommand.run
        )
        let group = ServiceGroup(
            services: [daemon],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: runtime.logger
        )
        do {
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            throw FatalError("\(error)")
        }
        try await httpClient.shutdown()
    }
}

struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file: every problem with file:line:column, exit 1 if any."
    )

    @OptionGroup var config: ConfigOptions
    @OptionGroup var loading: PluginLoadingOptions

    @Flag(help: "Print {ok, jobs, enabled, problems: [{file, line, column, message}]}.")
    var json = false

    func run() async throws {
        let settings = config.daemonSettings()
        let runtime = try await CommandRuntime.load(
            directories: loading.directories(default: settings.pluginDirectories),
            level: loading.level(default: .error)
        )
        let problems: [ConfigProblem]
        var jobs: [JobDefinition] = []
        var rules = 0
        var warnings: [ConfigProblem] = []
        do {
            let loaded = try runtime.loadConfig(config)
            jobs = loaded.jobs
            rules = loaded.rules.count
            warnings = loaded.warnings
            problems = []
        } catch let failure as ConfigFailure {
            problems = failure.error.problems
        }
        if json {
            let output: JSONValue = [
                "ok": .bool(problems.isEmpty),
                "jobs": .int(jobs.count),
                "enabled": .int(jobs.filter(\.enabled).count),
                "rules": .int(rules),
                "problems": .array(problems.map { problem in
                    [
                        "file": .string(problem.location.file), "line": .int(problem.location.line),
                        "column": .int(problem.location.column), "message": .string(problem.message),
                    ]
                }),
                "warnings": .array(warnings.map { warning in
                    [
                        "file": .string(warning.location.file), "line": .int(warning.location.line),
                        "column": .int(warning.location.column), "message": .string(warning.message),
                    ]
                }),
                "plugin_warnings": .array(runtime.problems.map { .string($0.description) }),
            ]
            print(output.jsonText(pretty: true))
        } else {
            for problem in runtime.problems { printError("warning: custom plugin not loaded: \(problem)") }
            for warning in warnings { printError("warning: \(warning)") }
            if problems.isEmpty {
                let disabled = jobs.count - jobs.filter(\.enabled).count
                print("OK: \(jobs.count) jobs" + (disabled > 0 ? " (\(disabled) disabled)" : "") + (rules > 0 ? ", \(rules) rules" : ""))
            } else {
                for problem in problems { printError(problem.description) }
                printError("\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(config.configPath)")
            }
        }
        if !problems.isEmpty { throw ExitCode(ExitStatus.pluginFailed) }
    }
}
