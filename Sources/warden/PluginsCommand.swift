import ArgumentParser
import Foundation
import WardenPluginKit

struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the plugins Warden knows, or show one.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List plugins: name, category, description.")

        @OptionGroup var loading: PluginLoadingOptions

        @Option(help: "Only this category: diagnostic or remediation.")
        var category: PluginCategory?

        @Flag(help: "Machine-readable output: an array of specs.")
        var json = false

        @Flag(help: "Markdown reference of every plugin (generates docs/plugins.md).")
        var markdown = false

        func run() async throws {
            let runtime = try await CommandRuntime.load(loading)
            let plugins = runtime.registry.list(category: category)
            if json {
                print(JSONValue.array(plugins.map(\.listingJSON)).jsonText(pretty: true))
            } else if markdown {
                print(PluginMarkdown.document(for: plugins), terminator: "")
            } else {
                print(PluginTable.render(plugins))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one plugin's spec and parameter schema.")

        @OptionGroup var loading: PluginLoadingOptions

        @Argument(help: "Plugin name.")
        var name: String

        @Flag(help: "Machine-readable output: the spec as JSON.")
        var json = false

        func run() async throws {
            let runtime = try await CommandRuntime.load(loading)
            let entry = try runtime.lookup(name)
            if json {
                print(entry.listingJSON.jsonText(pretty: true))
            } else {
                print(PluginMarkdown.section(for: entry, headingLevel: 1), terminator: "")
            }
        }
    }
}

extension PluginCategory: ExpressibleByArgument {}

extension RegisteredPlugin {
    /// The spec plus where the plugin came from.
    var listingJSON: JSONValue {
        var object = spec.json.objectValue ?? [:]
        switch origin {
        case .builtin: object["origin"] = "builtin"
        case .executable(let path): object["origin"] = .string(path)
        }
        return .object(object)
    }
}
