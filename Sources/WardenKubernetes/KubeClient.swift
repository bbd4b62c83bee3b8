import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import WardenPluginKit
import WardenPluginSupport

/// The Kubernetes REST API over the shared HTTP client: just enough typing for what the
/// plugins read; bodies stay JSON. Every call that fails throws a `PluginError` carrying the
/// API's `Status` reason and message. Credentials never appear in a message or a log line.
struct KubeClient: Sendable {
    let endpoint: KubeEndpoint
    let context: PluginContext
    let timeout: Duration

    /// Patch bodies the API understands.
    enum PatchType: String {
        case merge = "application/merge-patch+json"
        case strategicMerge = "application/strategic-merge-patch+json"
        case json = "application/json-patch+json"
    }

    init(_ parameters: JSONObject, context: PluginContext) throws {
        endpoint = try KubeConfigLoader.endpoint(parameters, environment: context.environment)
        self.context = context
        timeout = min(try parameters.duration("timeout"), context.remaining)
        if endpoint.insecureSkipTLSVerify {
            context.logger.warning("insecure-skip-tls-verify: the API server's certificate is not checked", metadata: ["cluster": .string(endpoint.server)])
        }
    }

    /// What most plugins start with: the client, the namespace, and the name of the object
    /// they act on (the `key` parameter, which the schema requires).
    static func target(_ parameters: JSONObject, context: PluginContext, name key: String = "name") throws -> (client: KubeClient, namespace: String, name: String) {
        let client = try KubeClient(parameters, context: context)
        return (client, client.namespace(parameters), try parameters.required(key, \.stringValue))
    }

    /// The namespace a plugin acts in: its parameter, else the context's, else `default`.
    func namespace(_ parameters: JSONObject) -> String {
        parameters["namespace"]?.stringValue ?? endpoint.namespace ?? "default"
    }

    func get(_ path: String, query: [(String, String)] = [], what: String) async throws -> JSONValue {
        try await Self.reporting { try await json(.GET, path, query: query, what: what) }
    }

    func delete(_ path: String, query: [(String, String)] = [], body: JSONValue? = nil, what: String) async throws -> JSONValue {
        try await Self.reporting { try await json(.DELETE, path, query: query, body: body, what: what) }
    }

    /// A PATCH; a 409 Conflict (someone else changed the object) is retried once.
    func patch(_ path: String, _ body: JSONValue, type: PatchType, dryRun: Bool, what: String) async throws -> JSONValue {
        let query = dryRun ? [("dryRun", "All")] : []
        return try await Self.reporting {
            do {
                return try await json(.PATCH, path, query: query, body: body, contentType: type.rawValue, what: what)
            } catch let failure as KubeAPIFailure where failure.status == 409 {
                context.logger.info("conflict on \(what); retrying once")
                return try await json(.PATCH, path, query: query, body: body, contentType: type.rawValue, what: what)
            }
        }
    }

    /// Plain text (container logs).
    func text(_ path: String, query: [(String, String)], what: String) async throws -> String {
        let (status, body) = try await send(.GET, path, query: query, body: nil, contentType: nil, accept: "text/plain", what: what)
        guard (200..<300).contains(status) else { throw KubeAPIFailure(status: status, body: body, what: what).pluginError }
        return body
    }

    /// A non-2xx answer throws `KubeAPIFailure`, so `patch` can tell a conflict apart;
    /// the public calls turn it into a `PluginError`.
    private func json(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil,
              contentType: String = "application/json", what: String) async throws -> JSONValue {
        let (status, text) = try await send(method, path, query: query, body: body, contentType: body == nil ? nil : contentType,
                                            accept: "application/json", what: what)
        guard (200..<300).contains(status) else { throw KubeAPIFailure(status: status, body: text, what: what) }
        guard let value = try? JSONValue.parse(text) else {
            throw PluginError("HTTP \(status) with a body that is not JSON", message: "\(what): unexpected answer from \(endpoint.server)", retry: status >= 500)
        }
        return value
    }

    private func send(_ method: HTTPMethod, _ path: String, query: [(String, String)], body: JSONValue?,
                      contentType: String?, accept: String, what: String) async throws -> (Int, String) {
        var components = URLComponents(string: endpoint.server.hasSuffix("/") ? String(endpoint.server.dropLast()) : endpoint.server)
        components?.percentEncodedPath += path
        if !query.isEmpty { components?.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        guard let url = components?.url?.absoluteString.replacingOccurrences(of: "+", with: "%2B") else {
            throw PluginError("invalid API server URL \(endpoint.server)", message: "\(what) failed")
        }
        for attempt in 1...2 {
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Accept", value: accept)
            request.headers.add(name: "User-Agent", value: "warden")
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            if let body { request.body = .bytes(ByteBuffer(string: body.jsonText())) }
            var tls = try baseTLS()
            switch endpoint.credentials {
            case .none:
                break
            case .token(let token):
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
            case .tokenFile(let file):
                request.headers.add(name: "Authorization", value: "Bearer \(try Self.readToken(file))")
            case .clientCertificate(let certificate, let key):
                try Self.present(certificate: certificate, key: key, in: &tls)
            case .exec(let config):
                let credential = try await KubeExecCredentials.shared(config, context: context)
                    .credential(environment: context.environment, timeout: min(timeout, .seconds(30)))
                if let token = credential.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                if let certificate = credential.clientCertificate, let key = credential.clientKey {
                    try Self.present(certificate: certificate, key: key, in: &tls)
                }
            }
            request.tlsConfiguration = tls
            let (status, text) = try await HTTPExchange.text(request, url: url, timeout: timeout, limit: 16 << 20, client: context.httpClient)
            // An exec plugin's cached token was refused: ask the plugin again, once.
            if status == 401, attempt == 1, case .exec(let config) = endpoint.credentials {
                await (try? KubeExecCredentials.shared(config, context: context))?.invalidate()
                continue
            }
            return (status, text)
        }
        throw PluginError("the API server refused the credentials twice", message: "\(what) failed")
    }

    private func baseTLS() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if endpoint.insecureSkipTLSVerify {
            tls.certificateVerification = .none
        } else if let authority = endpoint.certificateAuthority {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(authority))
            } catch {
                throw PluginError("the cluster's certificate authority is not PEM: \(error)", message: "no Kubernetes credentials")
            }
        }
        return tls
    }

    private static func present(certificate: [UInt8], key: [UInt8], in tls: inout TLSConfiguration) throws {
        do {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
        } catch {
            throw PluginError("the client certificate or key is not PEM: \(error)", message: "no Kubernetes credentials")
        }
    }

    private static func readToken(_ file: String) throws -> String {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw PluginError("cannot read the token file \(file)", message: "no Kubernetes credentials")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A non-2xx answer, described from the `Status` object the API sends.
struct KubeAPIFailure: Error, CustomStringConvertible {
    let status: Int
    let reason: String
    let message: String
    let what: String

    init(status: Int, body: String, what: String) {
        self.status = status
        self.what = what
        let object = try? JSONValue.parse(body)
        if object?["kind"]?.stringValue == "Status" {
            reason = object?["reason"]?.stringValue ?? "HTTP \(status)"
            message = object?["message"]?.stringValue ?? ""
        } else {
            reason = "HTTP \(status)"
            message = String(body.prefix(300))
        }
    }

    var description: String { message.isEmpty ? reason : "\(reason): \(message)" }

    var pluginError: PluginError {
        var text = description
        if status == 403 { text += " (while trying to \(what))" }
        return PluginError(text, message: "\(what) failed", retry: status == 429 || status >= 500)
    }
}

extension KubeClient {
    /// Runs `body` and turns API failures into plugin errors with the Status reason.
    private static func reporting<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as KubeAPIFailure {
            throw failure.pluginError
        }
    }
}
