import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import WardenEngine
import WardenPluginKit
import WardenPlugins

/// Options every command that loads plugins shares.
struct PluginLoadingOptions: ParsableArguments {
    @Option(name: .customLong("plugin-dir"), help: ArgumentHelp(
        "Directory of custom plugins (repeatable). Replaces the default \(PluginDirectory.defaultPath).",
        valueName: "dir"))
    var pluginDirectories: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "warning"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("invalid --log-level `\(logLevel)`: expected trace, debug, info, notice, warning, error or critical")
        }
    }

    var directories: [String] { pluginDirectories.isEmpty ? [PluginDirectory.defaultPath] : pluginDirectories }
}

/// The registry with built-ins and custom plugins, and a logger, as a command sees them.
struct CommandRuntime {
    let registry: PluginRegistry
    let logger: Logger
    let problems: [PluginDirectory.Problem]

    static func load(_ options: PluginLoadingOptions) async throws -> CommandRuntime {
        let level = Logger.Level(rawValue: options.logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "warden")
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        let report = await PluginDirectory(paths: options.directories).discover(into: registry, logger: logger)
        return CommandRuntime(registry: registry, logger: logger, problems: report.problems)
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
}
