import Foundation
import WardenPluginKit
import Yams

/// Where a cluster is and how to prove who we are: read from a kubeconfig (the parameter,
/// `KUBECONFIG`, `~/.kube/config`) or, inside a pod, from the service account.
struct KubeEndpoint: Sendable {
    var server: String
    /// PEM bundle of the CAs to trust; nil means the system trust store.
    var certificateAuthority: [UInt8]?
    var insecureSkipTLSVerify = false
    var tlsServerName: String?
    var credentials: KubeCredentials
    /// The context's namespace, used when a plugin is not given one.
    var namespace: String?
    /// For messages and cache keys: `context prod (https://…)` or `in-cluster`.
    var origin: String
}

enum KubeCredentials: Sendable {
    case none
    case token(String)
    /// Read at every request: in-cluster service-account tokens are rotated under us.
    case tokenFile(String)
    case clientCertificate(certificate: [UInt8], key: [UInt8])
    case exec(KubeExecConfig)
}

struct KubeExecConfig: Sendable, Hashable {
    var command: String
    var arguments: [String]
    var environment: [String: String]
    var apiVersion: String
}

enum KubeConfigLoader {
    static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The endpoint for these parameters, in client-go's order: an explicit `kubeconfig`,
    /// then `KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account.
    static func endpoint(_ parameters: JSONObject, environment: [String: String]) throws -> KubeEndpoint {
        let context = parameters["context"]?.stringValue
        if let path = parameters["kubeconfig"]?.stringValue {
            return try load(path: path, context: context)
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            // Several files may be listed; the first that exists wins (no merging of parts).
            let paths = list.split(separator: ":").map(String.init)
            guard let path = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                throw PluginError("none of the KUBECONFIG files exists: \(list)", message: "no Kubernetes credentials")
            }
            return try load(path: path, context: context)
        }
        if let home = environment["HOME"], FileManager.default.fileExists(atPath: home + "/.kube/config") {
            return try load(path: home + "/.kube/config", context: context)
        }
        if let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty {
            return try inCluster(host: host, port: environment["KUBERNETES_SERVICE_PORT"] ?? "443",
                                 directory: environment["WARDEN_K8S_SERVICEACCOUNT_DIR"] ?? serviceAccountDirectory)
        }
        throw PluginError(
            "no kubeconfig (parameter, KUBECONFIG, ~/.kube/config) and not running in a cluster (KUBERNETES_SERVICE_HOST unset)",
            message: "no Kubernetes credentials")
    }

    static func inCluster(host: String, port: String, directory: String) throws -> KubeEndpoint {
        let tokenPath = directory + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw PluginError("KUBERNETES_SERVICE_HOST is set but \(tokenPath) is not readable", message: "no Kubernetes credentials")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let namespace = (try? String(contentsOfFile: directory + "/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return KubeEndpoint(
            server: "https://\(hostPart):\(port)",
            certificateAuthority: FileManager.default.contents(atPath: directory + "/ca.crt").map { [UInt8]($0) },
            credentials: .tokenFile(tokenPath), namespace: namespace, origin: "in-cluster")
    }

    static func load(path: String, context requested: String?) throws -> KubeEndpoint {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PluginError("cannot read kubeconfig \(path): \(error.localizedDescription)", message: "no Kubernetes credentials")
        }
        let root: JSONValue
        do {
            root = JSONValue(yaml: try Yams.load(yaml: text))
        } catch {
            throw PluginError("kubeconfig \(path) is not valid YAML: \(error)", message: "no Kubernetes credentials")
        }
        let baseDirectory = (path as NSString).deletingLastPathComponent
        func named(_ list: String, _ name: String) -> JSONValue? {
            root[list]?.arrayValue?.first { $0["name"]?.stringValue == name }
        }
        guard let contextName = requested ?? root["current-context"]?.stringValue, !contextName.isEmpty else {
            throw PluginError("kubeconfig \(path) has no current-context; set the `context` parameter", message: "no Kubernetes credentials")
        }
        guard let context = named("contexts", contextName)?["context"] else {
            let known = root["contexts"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            throw PluginError("context `\(contextName)` is not in \(path) (known: \(known.joined(separator: ", ")))", message: "no Kubernetes credentials")
        }
        guard let clusterName = context["cluster"]?.stringValue, let cluster = named("clusters", clusterName)?["cluster"],
              let server = cluster["server"]?.stringValue
        else {
            throw PluginError("context `\(contextName)` names no cluster with a server in \(path)", message: "no Kubernetes credentials")
        }
        let user = context["user"]?.stringValue.flatMap { named("users", $0)?["user"] } ?? [:]

        func bytes(data key: String, file fileKey: String, in object: JSONValue) throws -> [UInt8]? {
            if let encoded = object[key]?.stringValue {
                guard let decoded = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
                    throw PluginError("`\(key)` in \(path) is not base64", message: "no Kubernetes credentials")
                }
                return [UInt8](decoded)
            }
            guard let file = object[fileKey]?.stringValue else { return nil }
            let resolved = file.hasPrefix("/") ? file : baseDirectory + "/" + file
            guard let contents = FileManager.default.contents(atPath: resolved) else {
                throw PluginError("cannot read \(fileKey) \(resolved)", message: "no Kubernetes credentials")
            }
            return [UInt8](contents)
        }

        let credentials: KubeCredentials
        if let token = user["token"]?.stringValue {
            credentials = .token(token)
        } else if let file = user["tokenFile"]?.stringValue {
            credentials = .tokenFile(file.hasPrefix("/") ? file : baseDirectory + "/" + file)
        } else if let certificate = try bytes(data: "client-certificate-data", file: "client-certificate", in: user) {
            guard let key = try bytes(data: "client-key-data", file: "client-key", in: user) else {
                throw PluginError("user of context `\(contextName)` has a client certificate but no client key", message: "no Kubernetes credentials")
            }
            credentials = .clientCertificate(certificate: certificate, key: key)
        } else if let exec = user["exec"], let command = exec["command"]?.stringValue {
            var environment: [String: String] = [:]
            for item in exec["env"]?.arrayValue ?? [] {
                if let name = item["name"]?.stringValue, let value = item["value"]?.stringValue { environment[name] = value }
            }
            credentials = .exec(KubeExecConfig(
                command: command.contains("/") && !command.hasPrefix("/") ? baseDirectory + "/" + command : command,
                arguments: exec["args"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                environment: environment,
                apiVersion: exec["apiVersion"]?.stringValue ?? "client.authentication.k8s.io/v1"))
        } else {
            credentials = .none
        }
        return KubeEndpoint(
            server: server,
            certificateAuthority: try bytes(data: "certificate-authority-data", file: "certificate-authority", in: cluster),
            insecureSkipTLSVerify: cluster["insecure-skip-tls-verify"]?.boolValue ?? false,
            tlsServerName: cluster["tls-server-name"]?.stringValue,
            credentials: credentials,
            namespace: context["namespace"]?.stringValue,
            origin: "context \(contextName) (\(server))")
    }
}

extension JSONValue {
    /// A value Yams loaded (dictionaries, arrays, scalars) as JSON.
    init(yaml value: Any?) {
        switch value {
        case nil: self = .null
        case let text as String: self = .string(text)
        case let flag as Bool: self = .bool(flag)
        case let number as Int: self = .int(number)
        case let number as Double: self = .double(number)
        case let list as [Any]: self = .array(list.map { JSONValue(yaml: $0) })
        case let map as [String: Any]: self = .object(map.mapValues { JSONValue(yaml: $0) })
        case let map as [AnyHashable: Any]:
            self = .object(Dictionary(map.map { ("\($0.key)", JSONValue(yaml: $0.value)) }, uniquingKeysWith: { first, _ in first }))
        default: self = .string("\(value!)")
        }
    }
}
