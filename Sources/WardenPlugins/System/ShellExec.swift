import Foundation
import WardenPluginKit

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
            "properties": .object(CommandOutcome.commonParameters),
            "required": ["command"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let command = try parameters.required("command", \.stringValue)
        let allowed = context.settings["shell_allow"]?.arrayValue?.compactMap(\.stringValue) ?? []
        // A diagnostic must not change anything: only programs the operator listed may run.
        guard allowed.contains(where: { fnmatch($0, command, FNM_PATHNAME) == 0 }) else {
            throw PluginError(
                "\(command) is not in daemon.shell_allow",
                message: allowed.isEmpty ? "shell.exec runs nothing until daemon.shell_allow lists programs" : "\(command) is not allowed (daemon.shell_allow: \(allowed.joined(separator: ", ")))"
            )
        }
        let request = try CommandOutcome.request(parameters, environment: ContainedProcess.minimalEnvironment, context: context)
        return CommandOutcome.result(try await ContainedProcess.run(request), request: request)
    }
}
