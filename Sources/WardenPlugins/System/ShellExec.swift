import Foundation
import WardenPluginKit
import WardenPluginSupport

/// Runs a read-only program from the daemon's allow-list (`daemon.shell_allow`): a way to
/// collect facts (`ss -tlnp`, `df -i`, `systemctl list-units --failed`) as a check or as
/// context for a remediation.
public struct ShellExecPlugin: Plugin {
    public let spec = PluginSpec(
        name: "shell.exec",
        description: "Run an allow-listed read-only program (daemon.shell_allow), argv only, bounded output, timeout; succeeds on exit 0.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": .object(CommandOutcome.parameters(allowedBy: .shellAllow)),
            "required": ["command"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let command = try parameters.required("command", \.stringValue)
        // A diagnostic must not change anything: only programs the operator listed may run.
        try CommandOutcome.checkAllowed(command, by: .shellAllow, context: context)
        let request = try CommandOutcome.request(parameters, environment: ContainedProcess.minimalEnvironment, context: context)
        return CommandOutcome.result(try await ContainedProcess.run(request), request: request)
    }
}
