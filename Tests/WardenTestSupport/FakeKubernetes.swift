import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import WardenPluginKit

/// A Kubernetes API server on loopback HTTPS for tests, since none can be installed here.
/// It serves the endpoints Warden's plugins use with real object shapes (Pod, Deployment,
/// ReplicaSet, Node, Event, Status, Scale, PodMetrics) and the semantics they rely on:
/// label and field selectors, merge / strategic-merge / JSON patches of the fields touched,
/// the scale subresource, ReplicaSet revisions kept by a tiny deployment controller,
/// `dryRun=All` changing nothing, Status errors (401/403/404/409/429), and bearer-token or
/// client-certificate authentication. Every request is recorded for the tests to assert on.
public final class FakeKubernetes: Sendable {
    public struct Request: Sendable {
        public let method: String
        public let path: String
        public let query: [String: String]
        public let body: JSONValue?
        public let contentType: String?
        public let authorization: String?
        public let clientCertificate: Bool
    }

    public let port: Int
    public var server: String { "https://127.0.0.1:\(port)" }
    public let certificates: TestCertificates
    private let channel: any Channel
    private let store: FakeClusterStore

    public static func start() async throws -> FakeKubernetes {
        let certificates = try await TestCertificates.make()
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.serverCertificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.serverKey, format: .pem)))
        tls.certificateVerification = .optionalVerification
        tls.trustRoots = .file(certificates.authority)
        let context = try NIOSSLContext(configuration: tls)
        let store = FakeClusterStore()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(FakeKubernetesHandler(store: store))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeKubernetes(port: channel.localAddress?.port ?? 0, certificates: certificates, channel: channel, store: store)
    }

    private init(port: Int, certificates: TestCertificates, channel: any Channel, store: FakeClusterStore) {
        self.port = port
        self.certificates = certificates
        self.channel = channel
        self.store = store
    }

    public func stop() async {
        try? await channel.close()
        certificates.remove()
    }

    // MARK: the cluster's contents

    /// Bearer tokens the server accepts (a client certificate signed by the test CA is
    /// accepted too).
    public func acceptTokens(_ tokens: [String]) { store.state.withLock { $0.tokens = Set(tokens) } }

    /// A Deployment with `replicas` running pods, revision 1.
    public func addDeployment(_ name: String, namespace: String = "default", replicas: Int = 3, image: String = "nginx:1.25") {
        store.state.withLock { $0.addDeployment(name, namespace: namespace, replicas: replicas, image: image) }
    }

    /// Changes the Deployment's image, as a `kubectl set image` would: a new revision.
    public func setImage(_ image: String, deployment name: String, namespace: String = "default") {
        store.state.withLock { cluster in
            guard var deployment = cluster.deployments[namespace + "/" + name] else { return }
            deployment = FakeClusterState.setting(deployment, ["spec", "template", "spec", "containers"],
                                                  [["name": "app", "image": .string(image)]])
            cluster.store(deployment: deployment, specChanged: true)
        }
    }

    public func addPod(_ pod: JSONValue) {
        store.state.withLock { $0.pods[FakeClusterState.key(pod)] = pod }
    }

    public func addNode(_ name: String) {
        store.state.withLock {
            $0.nodes[name] = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(name), "uid": .string(UUID().uuidString)],
                              "spec": [:], "status": ["conditions": [["type": "Ready", "status": "True"]]]]
        }
    }

    public func addEvent(_ event: JSONValue) { store.state.withLock { $0.events.append(event) } }
    public func setLogs(_ lines: [String], pod: String, namespace: String = "default", previous: Bool = false) {
        store.state.withLock { $0.logs[namespace + "/" + pod + (previous ? "#previous" : "")] = lines }
    }
    public func setMetrics(_ items: [JSONValue]) { store.state.withLock { $0.metrics = items } }

    /// The next `count` requests matching method and path prefix get this Status error.
    public func fail(_ method: String, pathPrefix: String, status: Int, reason: String, message: String, count: Int = 1) {
        store.state.withLock { $0.failures.append(.init(method: method, pathPrefix: pathPrefix, status: status, reason: reason, message: message, remaining: count)) }
    }

    public var requests: [Request] { store.state.withLock { $0.requests } }
    public func clearRequests() { store.state.withLock { $0.requests.removeAll() } }

    public func pods(namespace: String = "default") -> [JSONValue] {
        store.state.withLock { $0.pods.values.filter { $0["metadata"]?["namespace"]?.stringValue == namespace } }
    }
    public func deployment(_ name: String, namespace: String = "default") -> JSONValue? {
        store.state.withLock { $0.deployments[namespace + "/" + name] }
    }
    public func node(_ name: String) -> JSONValue? { store.state.withLock { $0.nodes[name] } }
    public func replicaSets(namespace: String = "default") -> [JSONValue] {
        store.state.withLock { $0.replicaSets.values.filter { $0["metadata"]?["namespace"]?.stringValue == namespace } }
    }
}

/// Certificates made with openssl for one test server: a CA, a server certificate for
/// 127.0.0.1, and a client certificate (CN=warden-test) for client-certificate auth.
public struct TestCertificates: Sendable {
    public let directory: String
    public var authority: String { directory + "/ca.crt" }
    public var serverCertificate: String { directory + "/server.crt" }
    public var serverKey: String { directory + "/server.key" }
    public var clientCertificate: String { directory + "/client.crt" }
    public var clientKey: String { directory + "/client.key" }

    public static func make() async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-k8s-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let openssl = "/usr/bin/openssl"
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        try await TestCommand.check(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/ca.key",
            "-out", directory + "/ca.crt", "-days", "2", "-subj", "/CN=warden-test-kube-ca"])
        for (name, subject, ext) in [("server", "/CN=localhost", true), ("client", "/CN=warden-test/O=system:masters", false)] {
            try await TestCommand.check(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(directory)/\(name).key",
                "-out", "\(directory)/\(name).csr", "-subj", subject])
            try await TestCommand.check(openssl, ["x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", directory + "/ca.crt",
                "-CAkey", directory + "/ca.key", "-CAcreateserial", "-out", "\(directory)/\(name).crt", "-days", "2"]
                + (ext ? ["-extfile", directory + "/san.ext"] : []))
        }
        return TestCertificates(directory: directory)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

// MARK: - state and behaviour

final class FakeClusterStore: Sendable {
    let state = Mutex(FakeClusterState())
}

struct FakeClusterState {
    struct Failure {
        let method: String
        let pathPrefix: String
        let status: Int
        let reason: String
        let message: String
        var remaining: Int
    }

    var tokens: Set<String> = []
    var pods: [String: JSONValue] = [:]
    var deployments: [String: JSONValue] = [:]
    var replicaSets: [String: JSONValue] = [:]
    var nodes: [String: JSONValue] = [:]
    var events: [JSONValue] = []
    var metrics: [JSONValue] = []
    var logs: [String: [String]] = [:]
    var failures: [Failure] = []
    var requests: [FakeKubernetes.Request] = []
    private var counter = 0

    static func key(_ object: JSONValue) -> String {
        "\(object["metadata"]?["namespace"]?.stringValue ?? "")/\(object["metadata"]?["name"]?.stringValue ?? "")"
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    mutating func nextSuffix() -> String {
        counter += 1
        return String(counter * 7919 % 1_048_576 + 65_536, radix: 36)
    }

    mutating func addDeployment(_ name: String, namespace: String, replicas: Int, image: String) {
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "uid": .string(UUID().uuidString),
                         "generation": 1, "annotations": [:], "creationTimestamp": .string(Self.now())],
            "spec": [
                "replicas": .int(replicas),
                "selector": ["matchLabels": ["app": .string(name)]],
                "template": ["metadata": ["labels": ["app": .string(name)]],
                             "spec": ["containers": [["name": "app", "image": .string(image)]]]],
            ],
            "status": [:],
        ]
        store(deployment: deployment, specChanged: false)
    }

    /// Saves a Deployment and runs the controller: a ReplicaSet per distinct template (the
    /// current one gets the next revision), pods to match, status caught up at once.
    mutating func store(deployment: JSONValue, specChanged: Bool) {
        var deployment = deployment
        if specChanged {
            let generation = (deployment["metadata"]?["generation"]?.intValue ?? 1) + 1
            deployment = Self.setting(deployment, ["metadata", "generation"], .int(generation))
        }
        let namespace = deployment["metadata"]?["namespace"]?.stringValue ?? "default"
        let name = deployment["metadata"]?["name"]?.stringValue ?? ""
        let uid = deployment["metadata"]?["uid"] ?? .null
        let template = deployment["spec"]?["template"] ?? [:]
        let replicas = deployment["spec"]?["replicas"]?.intValue ?? 1
        let owned = replicaSets.filter { $0.value["metadata"]?["ownerReferences"]?[0]?["uid"] == uid }
        let maxRevision = owned.values.compactMap { Int($0["metadata"]?["annotations"]?["deployment.kubernetes.io/revision"]?.stringValue ?? "") }.max() ?? 0
        func withoutHash(_ template: JSONValue?) -> JSONValue? {
            guard let template else { return nil }
            var labels = template["metadata"]?["labels"]?.objectValue ?? [:]
            labels["pod-template-hash"] = nil
            return Self.setting(template, ["metadata", "labels"], .object(labels))
        }
        var currentKey = owned.first { withoutHash($0.value["spec"]?["template"]) == template }?.key
        if currentKey == nil {
            let hash = String(UInt32(truncatingIfNeeded: template.jsonText().hashValue), radix: 16)
            let rsName = "\(name)-\(hash)"
            var labels = template["metadata"]?["labels"]?.objectValue ?? [:]
            labels["pod-template-hash"] = .string(hash)
            let rs: JSONValue = [
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": ["name": .string(rsName), "namespace": .string(namespace), "uid": .string(UUID().uuidString),
                             "labels": .object(labels), "annotations": ["deployment.kubernetes.io/revision": .string("\(maxRevision + 1)")],
                             "ownerReferences": [["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(name), "uid": uid, "controller": true]]],
                "spec": ["replicas": 0, "selector": ["matchLabels": .object(labels)], "template": Self.setting(template, ["metadata", "labels"], .object(labels))],
            ]
            currentKey = namespace + "/" + rsName
            replicaSets[currentKey!] = rs
        } else if let key = currentKey, let rs = replicaSets[key],
                  Int(rs["metadata"]?["annotations"]?["deployment.kubernetes.io/revision"]?.stringValue ?? "") != maxRevision {
            // Returning to an old template (a rollback) makes its ReplicaSet the newest revision.
            replicaSets[key] = Self.setting(rs, ["metadata", "annotations", "deployment.kubernetes.io/revision"], .string("\(maxRevision + 1)"))
        }
        let revision = replicaSets[currentKey!]?["metadata"]?["annotations"]?["deployment.kubernetes.io/revision"] ?? "1"
        for key in replicaSets.keys where replicaSets[key]?["metadata"]?["ownerReferences"]?[0]?["uid"] == uid {
            replicaSets[key] = Self.setting(replicaSets[key]!, ["spec", "replicas"], .int(key == currentKey ? replicas : 0))
            reconcilePods(of: replicaSets[key]!)
        }
        deployment = Self.setting(deployment, ["metadata", "annotations", "deployment.kubernetes.io/revision"], revision)
        deployment = Self.setting(deployment, ["status"], [
            "observedGeneration": deployment["metadata"]?["generation"] ?? 1,
            "replicas": .int(replicas), "updatedReplicas": .int(replicas), "readyReplicas": .int(replicas), "availableReplicas": .int(replicas),
        ])
        deployments[namespace + "/" + name] = deployment
    }

    /// The ReplicaSet's pods, made or removed to match its replica count.
    mutating func reconcilePods(of rs: JSONValue) {
        let uid = rs["metadata"]?["uid"]
        let namespace = rs["metadata"]?["namespace"]?.stringValue ?? "default"
        let rsName = rs["metadata"]?["name"]?.stringValue ?? ""
        let wanted = rs["spec"]?["replicas"]?.intValue ?? 0
        let mine = pods.filter { $0.value["metadata"]?["ownerReferences"]?[0]?["uid"] == uid }.keys.sorted()
        for key in mine.dropFirst(wanted) { pods[key] = nil }
        guard mine.count < wanted else { return }
        for _ in mine.count..<wanted {
            let name = "\(rsName)-\(nextSuffix())"
            pods[namespace + "/" + name] = Self.runningPod(
                name: name, namespace: namespace, labels: rs["spec"]?["template"]?["metadata"]?["labels"] ?? [:],
                owner: ["apiVersion": "apps/v1", "kind": "ReplicaSet", "name": .string(rsName), "uid": uid ?? .null, "controller": true])
        }
    }

    static func runningPod(name: String, namespace: String, labels: JSONValue, owner: JSONValue?) -> JSONValue {
        var metadata: JSONObject = ["name": .string(name), "namespace": .string(namespace), "uid": .string(UUID().uuidString),
                                    "labels": labels, "creationTimestamp": .string(now())]
        if let owner { metadata["ownerReferences"] = [owner] }
        return [
            "apiVersion": "v1", "kind": "Pod", "metadata": .object(metadata),
            "spec": ["nodeName": "node-1", "containers": [["name": "app", "image": "nginx"]]],
            "status": ["phase": "Running", "podIP": "10.0.0.7",
                       "conditions": [["type": "Ready", "status": "True"]],
                       "containerStatuses": [["name": "app", "ready": true, "restartCount": 0, "image": "nginx",
                                              "state": ["running": ["startedAt": .string(now())]]]]],
        ]
    }

    /// `object` with the value at `path` replaced (intermediate objects created).
    static func setting(_ object: JSONValue, _ path: [String], _ value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        var members = object.objectValue ?? [:]
        members[first] = setting(members[first] ?? [:], Array(path.dropFirst()), value)
        return .object(members)
    }

    /// RFC 7386 merge patch (strategic merge behaves the same for the fields touched here).
    static func merge(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard let patchMembers = patch.objectValue else { return patch }
        var members = target.objectValue ?? [:]
        for (key, value) in patchMembers {
            members[key] = value.isNull ? nil : merge(members[key] ?? [:], value)
        }
        return .object(members)
    }

    /// RFC 6902 `replace`/`add` operations, which is what `kubectl rollout undo` sends.
    static func jsonPatch(_ target: JSONValue, _ operations: JSONValue) -> JSONValue? {
        var result = target
        for operation in operations.arrayValue ?? [] {
            guard let op = operation["op"]?.stringValue, op == "replace" || op == "add",
                  let path = operation["path"]?.stringValue, let value = operation["value"] else { return nil }
            let segments = path.split(separator: "/").map { $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~") }
            result = setting(result, segments, value)
        }
        return result
    }

    // MARK: selectors

    static func matches(labels: JSONValue?, selector: String?) -> Bool {
        guard let selector, !selector.isEmpty else { return true }
        let labels = labels?.objectValue ?? [:]
        var requirements: [String] = []
        var depth = 0, current = ""
        for character in selector {
            if character == "(" { depth += 1 } else if character == ")" { depth -= 1 }
            if character == ",", depth == 0 { requirements.append(current); current = "" } else { current.append(character) }
        }
        requirements.append(current)
        return requirements.allSatisfy { raw in
            let requirement = raw.trimmingCharacters(in: .whitespaces)
            if let range = requirement.range(of: " in (") {
                let key = String(requirement[..<range.lowerBound])
                let values = requirement[range.upperBound...].dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                return labels[key]?.stringValue.map(values.contains) ?? false
            }
            if let range = requirement.range(of: "!=") {
                return labels[String(requirement[..<range.lowerBound])]?.stringValue != String(requirement[range.upperBound...])
            }
            if let range = requirement.range(of: "==") ?? requirement.range(of: "=") {
                return labels[String(requirement[..<range.lowerBound])]?.stringValue == String(requirement[range.upperBound...])
            }
            return labels[requirement] != nil
        }
    }

    static func matches(fields object: JSONValue, selector: String?) -> Bool {
        guard let selector, !selector.isEmpty else { return true }
        return selector.split(separator: ",").allSatisfy { requirement in
            let negate = requirement.contains("!=")
            let parts = requirement.components(separatedBy: negate ? "!=" : (requirement.contains("==") ? "==" : "="))
            guard parts.count == 2 else { return false }
            var value: JSONValue? = object
            for segment in parts[0].split(separator: ".") { value = value?[String(segment)] }
            let text = value?.stringValue ?? value.map { $0.jsonText() } ?? ""
            return negate ? text != parts[1] : text == parts[1]
        }
    }
}

extension JSONValue {
    public subscript(index: Int) -> JSONValue? {
        guard let items = arrayValue, items.indices.contains(index) else { return nil }
        return items[index]
    }
}
