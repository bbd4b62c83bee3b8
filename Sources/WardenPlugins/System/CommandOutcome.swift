import Foundation
import WardenPluginKit
import WardenPluginSupport

/// What `shell.exec` and `shell.exec_write` return for a finished command.
enum CommandOutcome {
    /// Parameters both shell plugins share (one fragment, not copied per plugin).
    static let commonParameters: JSONObject = [
        "command": ["type": "string", "description": "Absolute path of the program (run directly, never through a shell).", "pattern": "^/", "maxLength": 4096],
        "args": ["type": "array", "description": "Arguments, passed as they are.", "items": ["type": "string", "maxLength": 4096], "maxItems": 256, "default": []],
        "timeout": JSONSchema.duration("How long before the process group is killed.", default: 30, maximum: 3600),
        "max_output": ["type": "integer", "description": "Bytes of stdout kept (the rest is drained).", "default": 65536, "minimum": 1, "maximum": 1_048_576],
    ]

    /// `commonParameters` with `command` bound to one of the daemon's program allow-lists.
    static func parameters(allowedBy list: HostLimits.List) -> JSONObject {
        var parameters = commonParameters
        var command = parameters["command"]?.objectValue ?? [:]
        command["x-allowed-by"] = .string(list.rawValue)
        parameters["command"] = .object(command)
        return parameters
    }

    /// Only programs the operator listed in `daemon.<list>` may run.
    static func checkAllowed(_ command: String, by list: HostLimits.List, context: PluginContext) throws {
        try context.limits.check(command, by: list, what: "program")
    }

    static func request(_ parameters: JSONObject, environment: [String: String], context: PluginContext) throws -> ContainedProcess.Request {
        let command = try parameters.required("command", \.stringValue)
        guard FileManager.default.isExecutableFile(atPath: command) else {
            throw PluginError("\(command) does not exist or is not executable")
        }
        return ContainedProcess.Request(
            executable: command,
            arguments: (parameters["args"]?.arrayValue ?? []).compactMap(\.stringValue),
            environment: environment,
            outputLimit: parameters["max_output"]?.intValue ?? 65536,
            timeout: min(try parameters.duration("timeout"), context.remaining)
        )
    }

    static func result(_ outcome: ContainedProcess.Outcome, request: ContainedProcess.Request) -> PluginResult {
        let line = ([request.executable] + request.arguments).joined(separator: " ")
        var data: JSONObject = [
            "command": .string(request.executable),
            "args": .array(request.arguments.map(JSONValue.string)),
            "stdout": .string(String(decoding: outcome.standardOutput, as: UTF8.self)),
            "stderr": .string(outcome.standardErrorText),
            "output_truncated": .bool(outcome.outputOverflowed),
        ]
        if outcome.timedOut {
            return .failure("timed out after \(request.timeout.formattedSeconds)", message: "\(line) did not finish; its process group was killed",
                            data: .object(data), retry: true)
        }
        switch outcome.termination {
        case .exited(let code):
            data["exit_code"] = .int(Int(code))
            let firstLine = String(decoding: outcome.standardOutput, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            if code == 0 { return .ok(.object(data), message: firstLine.isEmpty ? "\(line): exit 0" : firstLine) }
            let reason = outcome.standardErrorText.trimmingWhitespace().split(separator: "\n").last.map(String.init) ?? ""
            return PluginResult(success: false, data: .object(data), message: "\(line) exited with status \(code)",
                                error: reason.isEmpty ? "exit status \(code)" : "exit status \(code): \(reason)")
        case .signaled(let signal):
            return PluginResult(success: false, data: .object(data), message: "\(line) was killed by \(signalName(signal))", error: "killed by \(signalName(signal))")
        }
    }
}
