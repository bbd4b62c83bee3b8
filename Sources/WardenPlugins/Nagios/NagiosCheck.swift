import Foundation
import WardenPluginKit
import WardenPluginSupport

/// Runs a classic Nagios / monitoring-plugins check (`check_disk`, `check_http`, …) as a
/// contained child process, without a shell, and maps its exit code and perfdata.
public struct NagiosCheckPlugin: Plugin {
    public let spec = PluginSpec(
        name: "nagios",
        description: "Run a Nagios/monitoring-plugins check; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; perfdata parsed.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "command": [
                    "type": "string",
                    "description": "Absolute path of the check, e.g. /usr/lib/nagios/plugins/check_disk.",
                    "pattern": "^/",
                    "maxLength": 4096,
                ],
                "args": [
                    "type": "array",
                    "description": "Arguments, passed as they are (never through a shell).",
                    "items": ["type": "string", "maxLength": 4096],
                    "maxItems": 256,
                    "default": [],
                ],
                "timeout": JSONSchema.duration("How long before the check's process group is killed.", default: 30, maximum: 3600),
            ],
            "required": ["command"],
            "additionalProperties": false,
        ]
    )

    static let states = ["ok", "warning", "critical", "unknown"]

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let options = try parameters.decode(Options.self)
        let command = options.command
        let arguments = options.args
        let timeout = min(options.timeout.duration, context.remaining)

        guard FileManager.default.isExecutableFile(atPath: command) else {
            return .failure("not executable", message: "\(command) does not exist or is not executable", data: ["state": "unknown"], severity: .unknown)
        }
        let outcome = try await ContainedProcess.run(.init(
            executable: command, arguments: arguments, outputLimit: 256 << 10, timeout: timeout
        ))
        if outcome.timedOut {
            return .failure(
                "timed out after \(timeout.formattedSeconds)",
                message: "\(command) did not finish within \(timeout.formattedSeconds); its process group was killed",
                data: ["state": "unknown"], retry: true, severity: .unknown
            )
        }
        let parsed = NagiosOutput(parsing: String(decoding: outcome.standardOutput, as: UTF8.self))
        var data: JSONObject = [
            "output": .string(parsed.output),
            "long_output": .string(parsed.longOutput),
            "perfdata": .array(parsed.perfdata.map(\.json)),
        ]
        if !parsed.perfdataProblems.isEmpty {
            data["perfdata_problems"] = .array(parsed.perfdataProblems.map(JSONValue.string))
        }
        if !outcome.standardError.isEmpty {
            data["stderr"] = .string(outcome.standardErrorText.trimmingWhitespace())
        }
        switch outcome.termination {
        case .exited(let code) where (0...3).contains(code):
            let state = Self.states[Int(code)]
            data["state"] = .string(state)
            data["exit_code"] = .int(Int(code))
            let message = parsed.output.isEmpty ? "\(state.uppercased()) (no output)" : parsed.output
            if code == 0 { return .ok(.object(data), message: message) }
            // Exit codes map one to one: 1 warning, 2 critical, 3 unknown.
            return PluginResult(success: false, data: .object(data), message: message, error: state.uppercased(), severity: Severity(rawValue: state))
        case .exited(let code):
            data["state"] = "unknown"
            data["exit_code"] = .int(Int(code))
            return .failure("exit status \(code) is not a plugin state", message: "\(command) exited with status \(code)", data: .object(data), severity: .unknown)
        case .signaled(let signal):
            data["state"] = "unknown"
            return .failure("killed by \(signalName(signal))", message: "\(command) was \(outcome.termination)", data: .object(data), severity: .unknown)
        }
    }
}

extension NagiosCheckPlugin {
    /// The schema's parameters, defaults applied.
    struct Options: Decodable {
        let command: String
        let args: [String]
        let timeout: DurationParameter
    }
}
