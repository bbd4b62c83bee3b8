import Foundation
import WardenPluginKit
import WardenPluginSupport

/// Runs a program that changes the system (a remediation): argv only, an explicit
/// environment, bounded output, a timeout that kills the process group. Dry run: reports
/// the command line and changes nothing.
public struct ShellExecWritePlugin: Plugin {
    public let spec = PluginSpec(
        name: "shell.exec_write",
        description: "Run a program from daemon.shell_write_allow that changes the system: argv only, explicit environment, bounded output, process group killed on timeout.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": .object(CommandOutcome.parameters(allowedBy: .shellWriteAllow).merging([
                "env": [
                    "type": "object", "description": "The whole environment of the program (PATH and a UTF-8 locale are added when missing).",
                    "additionalProperties": ["type": "string"], "default": [:],
                ],
            ]) { first, _ in first }),
            "required": ["command"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        // A remediation may change anything its program can: only what the operator listed runs.
        try CommandOutcome.checkAllowed(try parameters.required("command", \.stringValue), by: .shellWriteAllow, context: context)
        var environment = ContainedProcess.minimalEnvironment
        for (key, value) in parameters["env"]?.objectValue ?? [:] {
            if let text = value.stringValue { environment[key] = text }
        }
        let request = try CommandOutcome.request(parameters, environment: environment, context: context)
        let line = ([request.executable] + request.arguments).joined(separator: " ")
        if context.dryRun {
            return .ok(["command": .string(request.executable), "args": .array(request.arguments.map(JSONValue.string)), "dry_run": true],
                       message: "dry run: would run \(line)")
        }
        return CommandOutcome.result(try await ContainedProcess.run(request), request: request)
    }
}
