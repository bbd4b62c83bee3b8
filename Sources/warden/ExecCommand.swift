import ArgumentParser
import Foundation
import WardenEngine
import WardenPluginKit

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run one plugin once and print its result.",
        discussion: """
            Exit status: 0 the plugin succeeded, 1 it reported failure, 2 usage or parameter error.
            Remediation plugins change the system: they run only with --allow-write (or --dry-run).
            """
    )

    @OptionGroup var loading: PluginLoadingOptions

    @Argument(help: "Plugin name (see `warden plugins`).")
    var name: String

    @Option(name: .customLong("param"), help: ArgumentHelp(
        "A parameter as key=value; the value is read as the schema's type (repeatable, wins over --params).",
        valueName: "key=value"))
    var parameterAssignments: [String] = []

    @Option(name: .customLong("params"), help: ArgumentHelp("Parameters as one JSON object.", valueName: "json"))
    var parametersJSON: String?

    @Option(help: "Bound on the whole run, e.g. 500ms, 30s, 2m.")
    var timeout: String = "30s"

    @Flag(name: .customLong("allow-write"), help: "Allow a remediation plugin to change the system.")
    var allowWrite = false

    @Flag(name: .customLong("dry-run"), help: "Ask a remediation plugin to report what it would do, changing nothing.")
    var dryRun = false

    @Flag(help: "Print the result as JSON: {success, data, message, error, retry}.")
    var json = false

    @Option(name: .customLong("config"), help: ArgumentHelp(
        "A config whose daemon limits (allowed_units, shell_allow, runbooks) apply; none are applied when it does not exist.",
        valueName: "path"))
    var configPath: String = ConfigLoader.defaultPath

    func run() async throws {
        let limit: Duration
        do {
            limit = try DurationText.parse(timeout)
        } catch {
            throw UsageError("--timeout: \(error.description)")
        }
        guard limit > .zero else { throw UsageError("--timeout must be greater than zero") }

        let runtime = try await CommandRuntime.load(loading)
        let entry = try runtime.lookup(name)
        if entry.spec.category == .remediation && !allowWrite && !dryRun {
            throw UsageError(
                "`\(name)` is a remediation plugin: it changes the system. Pass --allow-write to run it, or --dry-run to see what it would do."
            )
        }
        let parameters = try ParameterInput.combine(json: parametersJSON, assignments: parameterAssignments, schema: entry.schema)
        let validated: JSONObject
        switch entry.validate(parameters) {
        case .success(let value):
            validated = value
        case .failure(let error):
            let lines = error.violations.map { violation in
                "  parameter `\(violation.parameter ?? "(root)")`: \(violation)"
            }
            throw UsageError("invalid parameters for `\(name)`:\n" + lines.joined(separator: "\n"))
        }

        let httpClient = SharedHTTPClient.make()
        let limits = FileManager.default.fileExists(atPath: configPath)
            ? (ConfigLoader.daemonSettings(path: configPath) ?? DaemonSettings()).pluginLimits : HostLimits()
        let executor = PluginExecutor(
            httpClient: httpClient,
            logger: runtime.logger,
            environment: ProcessInfo.processInfo.environment,
            limits: limits
        )
        let execution = await executor.execute(entry, parameters: validated, timeout: limit, dryRun: dryRun)
        await executor.resources.closeAll()
        try? await httpClient.shutdown()

        if json {
            // The result's own shape, plus the status the history would record.
            var json = execution.result.json.objectValue ?? [:]
            json["status"] = .string(RunStatus(execution.outcome).rawValue)
            print(JSONValue.object(json).jsonText(pretty: true))
        } else {
            print(ResultText.render(execution.result, status: RunStatus(execution.outcome), plugin: name, duration: execution.duration))
        }
        throw ExitCode(execution.result.success ? ExitStatus.success : ExitStatus.pluginFailed)
    }
}

/// Builds the parameter object from `--params` JSON and `--param key=value` pairs.
enum ParameterInput {
    static func combine(json: String?, assignments: [String], schema: JSONSchema) throws -> JSONObject {
        var parameters: JSONObject = [:]
        if let json {
            let parsed: JSONValue
            do {
                parsed = try JSONValue.parse(json)
            } catch {
                throw UsageError("--params: \(error)")
            }
            guard let object = parsed.objectValue else {
                throw UsageError("--params: expected a JSON object, got \(parsed.typeName)")
            }
            parameters = object
        }
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                throw UsageError("--param `\(assignment)`: expected key=value")
            }
            let key = String(assignment[..<equals])
            let text = String(assignment[assignment.index(after: equals)...])
            parameters[key] = schema.properties[key]?.coerce(argument: text) ?? .string(text)
        }
        return parameters
    }
}

/// The human form of a result.
enum ResultText {
    static func render(_ result: PluginResult, status: RunStatus, plugin: String, duration: Duration) -> String {
        let milliseconds = Int((duration.seconds * 1000).rounded())
        var lines = ["\(status.rawValue.uppercased()) \(plugin) (\(milliseconds) ms): \(result.message)"]
        if let error = result.error { lines.append("error: \(error)") }
        if !result.success { lines.append("retry: \(result.retry ? "yes (transient)" : "no")") }
        if !result.data.isNull {
            lines.append("data:")
            lines.append(contentsOf: result.data.jsonText(pretty: true).split(separator: "\n").map { "  \($0)" })
        }
        return lines.joined(separator: "\n")
    }
}
