import Foundation
import Subprocess
import SystemPackage

/// Runs a program and collects its output, awaited without blocking a thread of the test
/// run's small pool (a blocking wait there stalls every other test's timers on 2 cores).
public enum TestCommand {
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var json: Any? { try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) }
    }

    public static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Output {
        var overrides: [Environment.Key: String?] = [:]
        for (key, value) in environment { overrides[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(path)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(overrides),
            output: .string(limit: 4 << 20),
            error: .string(limit: 4 << 20)
        )
        let status: Int32
        switch result.terminationStatus {
        case .exited(let code): status = code
        case .signaled(let signal): status = 128 + signal
        }
        return Output(status: status, stdout: result.standardOutput, stderr: result.standardError)
    }

    /// Like `run`, but a non-zero exit is an error carrying the command and its stderr.
    @discardableResult
    public static func check(_ path: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Output {
        let output = try await run(path, arguments, environment: environment)
        guard output.status == 0 else {
            throw TestCommandError(description: "\(path) \(arguments.joined(separator: " ")) exited \(output.status): \(output.stderr)\(output.stdout)")
        }
        return output
    }
}

public struct TestCommandError: Error, CustomStringConvertible {
    public let description: String
}
