import Foundation
import WardenPluginKit
import WardenPluginSupport

/// Credentials from a kubeconfig `exec` plugin (`client.authentication.k8s.io/v1`): the
/// command is run when no unexpired credential is cached, and its answer is kept until its
/// `expirationTimestamp` (or until the API answers 401), across runs and jobs.
actor KubeExecCredentials: PluginResource {
    struct Credential: Sendable {
        var token: String?
        var clientCertificate: [UInt8]?
        var clientKey: [UInt8]?
        var expires: Date?
    }

    private let config: KubeExecConfig
    private var cached: Credential?

    init(config: KubeExecConfig) {
        self.config = config
    }

    static func shared(_ config: KubeExecConfig, context: PluginContext) async throws -> KubeExecCredentials {
        let key = "k8s-exec:" + ([config.command] + config.arguments + config.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
            .joined(separator: "\u{1F}")
        return try await context.resources.resource(for: key) { KubeExecCredentials(config: config) }
    }

    func credential(environment: [String: String], timeout: Duration) async throws -> Credential {
        // A minute of margin: a token about to expire may expire in flight.
        if let cached, cached.expires.map({ $0.timeIntervalSinceNow > 60 }) ?? true { return cached }
        let fresh = try await run(environment: environment, timeout: timeout)
        cached = fresh
        return fresh
    }

    /// After a 401: the cached credential was refused.
    func invalidate() {
        cached = nil
    }

    func close() async {
        cached = nil
    }

    private func run(environment: [String: String], timeout: Duration) async throws -> Credential {
        let executable = try Self.resolve(config.command, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        var childEnvironment = ContainedProcess.minimalEnvironment
        for name in ["HOME", "PATH", "USER"] { if let value = environment[name] { childEnvironment[name] = value } }
        childEnvironment.merge(config.environment) { _, new in new }
        childEnvironment["KUBERNETES_EXEC_INFO"] = #"{"apiVersion":"\#(config.apiVersion)","kind":"ExecCredential","spec":{"interactive":false}}"#
        let outcome = try await ContainedProcess.run(.init(
            executable: executable, arguments: config.arguments, environment: childEnvironment, timeout: timeout))
        let name = (config.command as NSString).lastPathComponent
        guard !outcome.timedOut else {
            throw PluginError("exec credential plugin `\(name)` did not answer within \(timeout.formattedSeconds)", message: "no Kubernetes credentials", retry: true)
        }
        guard outcome.termination == .exited(0) else {
            let stderr = outcome.standardErrorText.trimmingCharacters(in: .whitespacesAndNewlines).prefix(500)
            throw PluginError("exec credential plugin `\(name)` \(outcome.termination): \(stderr)", message: "no Kubernetes credentials", retry: true)
        }
        guard let answer = try? JSONValue.parse(String(decoding: outcome.standardOutput, as: UTF8.self)),
              answer["kind"]?.stringValue == "ExecCredential", let status = answer["status"]
        else {
            throw PluginError("exec credential plugin `\(name)` did not print an ExecCredential", message: "no Kubernetes credentials")
        }
        let credential = Credential(
            token: status["token"]?.stringValue,
            clientCertificate: status["clientCertificateData"]?.stringValue.map { Array($0.utf8) },
            clientKey: status["clientKeyData"]?.stringValue.map { Array($0.utf8) },
            expires: status["expirationTimestamp"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) })
        guard credential.token != nil || (credential.clientCertificate != nil && credential.clientKey != nil) else {
            throw PluginError("exec credential plugin `\(name)` gave neither a token nor a client certificate and key", message: "no Kubernetes credentials")
        }
        return credential
    }

    private static func resolve(_ command: String, path: String) throws -> String {
        if command.contains("/") { return command }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(command)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw PluginError("exec credential plugin `\(command)` is not on PATH", message: "no Kubernetes credentials")
    }
}
