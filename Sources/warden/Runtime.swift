import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import WardenBuiltins
import WardenEngine
import WardenPluginKit
import WardenPlugins

/// Options every command that loads plugins shares.
struct PluginLoadingOptions: ParsableArguments {
    @Option(name: .customLong("plugin-dir"), help: ArgumentHelp(
        "Directory of custom plugins (repeatable). Replaces the config's daemon.plugin_dirs (default \(PluginDirectory.defaultPath)).",
        valueName: "dir"))
    var pluginDirectories: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("invalid --log-level `\(logLevel)`: expected trace, debug, info, notice, warning, error or critical")
        }
    }

    func directories(default fallback: [String] = [PluginDirectory.defaultPath]) -> [String] {
        pluginDirectories.isEmpty ? fallback : pluginDirectories
    }

    func level(default fallback: Logger.Level = .warning) -> Logger.Level {
        logLevel.flatMap(Logger.Level.init(rawValue:)) ?? fallback
    }
}

/// `--config` and `--database`, for the commands that work from a config file.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("The config file.", valueName: "path"))
    var configPath: String = ConfigLoader.defaultPath

    @Option(name: .customLong("database"), help: ArgumentHelp(
        "The history database; overrides the config's daemon.database.", valueName: "path"))
    var databasePath: String?

    var location: StoreLocation { StoreLocation(configPath: configPath, databasePath: databasePath) }

    /// The `daemon:` section (defaults when the file cannot be read), with `--database` applied.
    func daemonSettings() -> DaemonSettings { location.daemonSettings() }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// `--config` and `--database` as plain values: what a report needs to find the database,
/// however its command line was read (`QuickArguments`).
struct StoreLocation: Equatable {
    var configPath = ConfigLoader.defaultPath
    var databasePath: String?

    /// The `daemon:` section (defaults when the file cannot be read), with `--database` applied.
    func daemonSettings() -> DaemonSettings {
        var settings = ConfigLoader.daemonSettings(path: configPath) ?? DaemonSettings()
        if let databasePath { settings.database = ConfigOptions.absolute(databasePath) }
        return settings
    }
}

/// The registry with built-ins and custom plugins, and a logger, as a command sees them.
struct CommandRuntime {
    let registry: PluginRegistry
    let logger: Logger
    let problems: [PluginDirectory.Problem]
    /// The level every logger of this process follows (a reload may change it).
    let logLevel: LogLevelControl

    static func load(directories: [String], level: Logger.Level, target: LogTarget = .stderr) async throws -> CommandRuntime {
        let control = LogLevelControl(level)
        LoggingSystem.bootstrap { _ in target.makeHandler(level: control) }
        let logger = Logger(label: "warden")
        let (registry, problems) = try await discover(directories, logger: logger)
        return CommandRuntime(registry: registry, logger: logger, problems: problems, logLevel: control)
    }

    /// Built-ins plus the custom plugins found in `directories`, in a fresh registry.
    static func discover(_ directories: [String], logger: Logger) async throws -> (PluginRegistry, [PluginDirectory.Problem]) {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        let report = await PluginDirectory(paths: directories).discover(into: registry, logger: logger)
        return (registry, report.problems)
    }

    static func load(_ options: PluginLoadingOptions) async throws -> CommandRuntime {
        try await load(directories: options.directories(), level: options.level())
    }

    func lookup(_ name: String) throws -> RegisteredPlugin {
        if let entry = registry.lookup(name) { return entry }
        var message = "unknown plugin `\(name)`"
        if let near = NameSuggester.nearest(to: name, among: registry.names) {
            message += " — did you mean `\(near)`?"
        } else {
            message += " (see `warden plugins`)"
        }
        throw UsageError(message)
    }

    /// Loads and validates the config against this registry; errors are usage errors.
    func loadConfig(_ options: ConfigOptions) throws -> WardenConfig {
        do {
            var config = try ConfigLoader(registry: registry).load(path: options.configPath)
            if let database = options.databasePath { config.daemon.database = ConfigOptions.absolute(database) }
            return config
        } catch {
            throw ConfigFailure(error: error)
        }
    }
}

/// A config that did not load: every problem printed, exit status 1 (as `check-config`).
struct ConfigFailure: Error {
    let error: ConfigError
}
