import Foundation
import Logging
import WardenPluginKit
import WardenPluginSupport

/// A custom plugin: an executable that speaks Warden's JSON protocol
/// (docs/plugin-protocol.md). Parameters go in as one JSON object on stdin, the result
/// comes back as one JSON object on stdout; stderr is logged, bounded and scrubbed.
public struct ExecutablePlugin: Plugin {
    public let spec: PluginSpec
    public let path: String
    public let environment: [String: String]
    public let outputLimit: Int
    public let killGrace: Duration

    public init(spec: PluginSpec, path: String, environment: [String: String] = ContainedProcess.minimalEnvironment,
                outputLimit: Int = 1 << 20, killGrace: Duration = .seconds(2)) {
        self.spec = spec
        self.path = path
        self.environment = environment
        self.outputLimit = outputLimit
        self.killGrace = killGrace
    }

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        var environment = self.environment
        environment["WARDEN_PLUGIN"] = spec.name
        environment["WARDEN_DRY_RUN"] = context.dryRun ? "1" : "0"
        let input = Array(JSONValue.object(parameters).jsonText().utf8)
        let outcome: ContainedProcess.Outcome
        do {
            outcome = try await ContainedProcess.run(.init(
                executable: path, environment: environment, standardInput: input,
                outputLimit: outputLimit, timeout: context.remaining, killGrace: killGrace
            ))
        } catch {
            // Removed or made non-executable since discovery, or the system is out of processes.
            throw PluginError("cannot start \(path): \(error)", retry: true)
        }
        if !outcome.standardError.isEmpty {
            let text = JSONValue.string(outcome.standardErrorText).redactingOccurrences(of: context.secrets).stringValue ?? ""
            context.logger.warning("plugin wrote to stderr", metadata: [
                "stderr": .string(text + (outcome.errorTruncated ? " …[truncated]" : "")),
            ])
        }
        // Killed at the run's deadline: the executor's timeout, whichever of us noticed first.
        if outcome.timedOut { throw PluginTimedOut("\(path) did not finish in time; its process group was killed") }
        let result = Self.interpret(outcome, path: path, outputLimit: outputLimit)
        // A crash is not the plugin's verdict on the target: it is an error (`retry_on: [error]`
        // retries it). A kill by our own timeout or cancellation is reported by the executor.
        if case .signaled = outcome.termination, !outcome.timedOut, !Task.isCancelled {
            throw PluginError(result.error ?? "crashed", message: result.message, retry: result.retry)
        }
        return result
    }

    /// Maps how the process ended and what it printed onto a result; every way of going
    /// wrong gets its own error text.
    /// A result the plugin printed keeps its own severity (`critical` when it gave none);
    /// anything else (a timeout, a crash, no or bad output) is `unknown`: it could not tell.
    static func interpret(_ outcome: ContainedProcess.Outcome, path: String, outputLimit: Int) -> PluginResult {
        let name = (path as NSString).lastPathComponent
        if outcome.timedOut {
            return .failure("timed out; process group killed", message: "\(name) did not finish in time and was killed", retry: true, severity: .unknown)
        }
        if outcome.outputOverflowed {
            return .failure("output exceeded \(outputLimit) bytes", message: "\(name) printed more than \(outputLimit) bytes; it was killed", severity: .unknown)
        }
        let text = String(decoding: outcome.standardOutput, as: UTF8.self).trimmingWhitespace()
        if case .signaled(let signal) = outcome.termination {
            return .failure("crashed: killed by \(signalName(signal))", message: "\(name) crashed (\(outcome.termination))", severity: .unknown)
        }
        if text.isEmpty {
            if case .exited(let code) = outcome.termination, code != 0 {
                return .failure("exited with status \(code) without a result", message: "\(name) exited with status \(code) and printed no result", severity: .unknown)
            }
            return .failure("no output", message: "\(name) printed no result", severity: .unknown)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(text)
        } catch {
            let preview = String(text.prefix(200))
            return .failure("output is not JSON", message: "\(name) printed something that is not JSON: \(preview)", severity: .unknown)
        }
        do {
            return try PluginResult(json: json)
        } catch {
            return .failure("invalid result: \(error.reason)", message: "\(name) printed JSON that is not a result: \(error.reason)", severity: .unknown)
        }
    }
}
