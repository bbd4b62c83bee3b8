import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import WardenPluginKit

/// Routes one HTTP request to the fake cluster and writes the answer.
final class FakeKubernetesHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let store: FakeClusterStore
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(store: FakeClusterStore) {
        self.store = store
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            let bodyText = body.readString(length: body.readableBytes) ?? ""
            let hasCertificate = (try? context.channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate) != nil
            let (status, contentType, text) = respond(head, bodyText: bodyText, clientCertificate: hasCertificate)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: status), headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private func respond(_ head: HTTPRequestHead, bodyText: String, clientCertificate: Bool) -> (Int, String, String) {
        let components = URLComponents(string: head.uri)
        let path = components?.path ?? head.uri
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let body = bodyText.isEmpty ? nil : try? JSONValue.parse(bodyText)
        let authorization = head.headers.first(name: "Authorization")
        return store.state.withLock { cluster in
            cluster.requests.append(.init(
                method: head.method.rawValue, path: path, query: query, body: body,
                contentType: head.headers.first(name: "Content-Type"), authorization: authorization, clientCertificate: clientCertificate))
            let token = authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard clientCertificate || token.map(cluster.tokens.contains) == true else {
                return Self.status(401, "Unauthorized", "Unauthorized")
            }
            if let index = cluster.failures.firstIndex(where: { $0.method == head.method.rawValue && path.hasPrefix($0.pathPrefix) && $0.remaining > 0 }) {
                cluster.failures[index].remaining -= 1
                let failure = cluster.failures[index]
                return Self.status(failure.status, failure.reason, failure.message)
            }
            let dryRun = query["dryRun"] == "All"
            let segments = path.split(separator: "/").map(String.init)
            return Self.route(&cluster, method: head.method.rawValue, segments: segments, query: query, body: body,
                              contentType: head.headers.first(name: "Content-Type") ?? "", dryRun: dryRun)
        }
    }

    private static func route(_ cluster: inout FakeClusterState, method: String, segments: [String], query: [String: String],
                              body: JSONValue?, contentType: String, dryRun: Bool) -> (Int, String, String) {
        func list(_ kind: String, _ items: [JSONValue]) -> (Int, String, String) {
            let selected = items.filter {
                FakeClusterState.matches(labels: $0["metadata"]?["labels"], selector: query["labelSelector"])
                    && FakeClusterState.matches(fields: $0, selector: query["fieldSelector"])
            }.sorted { FakeClusterState.key($0) < FakeClusterState.key($1) }
            return ok(["apiVersion": "v1", "kind": .string(kind), "metadata": ["resourceVersion": "1"], "items": .array(selected)])
        }
        func inNamespace(_ items: [String: JSONValue], _ namespace: String?) -> [JSONValue] {
            items.values.filter { namespace == nil || $0["metadata"]?["namespace"]?.stringValue == namespace }
        }
        func patched(_ object: JSONValue) -> JSONValue? {
            guard let body else { return nil }
            if contentType.hasPrefix("application/json-patch+json") { return FakeClusterState.jsonPatch(object, body) }
            if contentType.hasPrefix("application/merge-patch+json") || contentType.hasPrefix("application/strategic-merge-patch+json") {
                return FakeClusterState.merge(object, body)
            }
            return nil
        }
        let unsupported = status(415, "UnsupportedMediaType", "the body of the request was in an unknown format")

            if method == "GET", match("api/v1/pods") != nil {
            return list("PodList", Array(cluster.pods.values))
        } else if method == "GET", let captures = match("api/v1/namespaces/*/pods") {
            let namespace = captures[0]
            return list("PodList", inNamespace(cluster.pods, namespace))
        } else if method == "GET", let captures = match("api/v1/namespaces/*/pods/*") {
            let namespace = captures[0], name = captures[1]
            return cluster.pods[namespace + "/" + name].map(ok) ?? notFound("pods", name)
        } else if method == "DELETE", let captures = match("api/v1/namespaces/*/pods/*") {
            let namespace = captures[0], name = captures[1]
            guard let pod = cluster.pods[namespace + "/" + name] else { return notFound("pods", name) }
            if let uid = body?["preconditions"]?["uid"], uid != pod["metadata"]?["uid"] {
                return status(409, "Conflict", "Precondition failed: UID in precondition: \(uid.stringValue ?? ""), UID in object meta: \(pod["metadata"]?["uid"]?.stringValue ?? "")")
            }
            if !dryRun {
                cluster.pods[namespace + "/" + name] = nil
                // The owning ReplicaSet makes a replacement, as its controller would.
                if let owner = pod["metadata"]?["ownerReferences"]?[0], owner["kind"] == "ReplicaSet",
                   let rs = cluster.replicaSets[namespace + "/" + (owner["name"]?.stringValue ?? "")] {
                    cluster.reconcilePods(of: rs)
                }
            }
            return ok(pod)
        } else if method == "GET", let captures = match("api/v1/namespaces/*/pods/*/log") {
            let namespace = captures[0], name = captures[1]
            guard cluster.pods[namespace + "/" + name] != nil else { return notFound("pods", name) }
            let key = namespace + "/" + name + (query["previous"] == "true" ? "#previous" : "")
            guard var lines = cluster.logs[key] else {
                return query["previous"] == "true"
                    ? status(400, "BadRequest", "previous terminated container \"app\" in pod \"\(name)\" not found") : (200, "text/plain", "")
            }
            if let tail = query["tailLines"].flatMap(Int.init) { lines = Array(lines.suffix(tail)) }
            return (200, "text/plain", lines.map { $0 + "\n" }.joined())
        } else if method == "GET", match("api/v1/events") != nil {
            return list("EventList", cluster.events)
        } else if method == "GET", let captures = match("api/v1/namespaces/*/events") {
            let namespace = captures[0]
            return list("EventList", cluster.events.filter { $0["metadata"]?["namespace"]?.stringValue == namespace })
        } else if method == "GET", let captures = match("api/v1/nodes/*") {
            let name = captures[0]
            return cluster.nodes[name].map(ok) ?? notFound("nodes", name)
        } else if method == "PATCH", let captures = match("api/v1/nodes/*") {
            let name = captures[0]
            guard let node = cluster.nodes[name] else { return notFound("nodes", name) }
            guard let updated = patched(node) else { return unsupported }
            if !dryRun { cluster.nodes[name] = updated }
            return ok(updated)
        } else if method == "GET", match("apis/metrics.k8s.io/v1beta1/pods") != nil {
            return list("PodMetricsList", cluster.metrics)
        } else if method == "GET", let captures = match("apis/metrics.k8s.io/v1beta1/namespaces/*/pods") {
            let namespace = captures[0]
            return list("PodMetricsList", cluster.metrics.filter { $0["metadata"]?["namespace"]?.stringValue == namespace })
        } else if method == "GET", let captures = match("apis/apps/v1/namespaces/*/deployments/*") {
            let namespace = captures[0], name = captures[1]
            return cluster.deployments[namespace + "/" + name].map(ok) ?? notFound("deployments.apps", name)
        } else if method == "PATCH", let captures = match("apis/apps/v1/namespaces/*/deployments/*") {
            let namespace = captures[0], name = captures[1]
            guard let deployment = cluster.deployments[namespace + "/" + name] else { return notFound("deployments.apps", name) }
            guard let updated = patched(deployment) else { return unsupported }
            if dryRun { return ok(updated) }
            cluster.store(deployment: updated, specChanged: updated["spec"] != deployment["spec"])
            return ok(cluster.deployments[namespace + "/" + name]!)
        } else if method == "GET", let captures = match("apis/apps/v1/namespaces/*/deployments/*/scale") {
            let namespace = captures[0], name = captures[1]
            return cluster.deployments[namespace + "/" + name].map { ok(scale($0)) } ?? notFound("deployments.apps", name)
        } else if method == "PATCH", let captures = match("apis/apps/v1/namespaces/*/deployments/*/scale") {
            let namespace = captures[0], name = captures[1]
            guard let deployment = cluster.deployments[namespace + "/" + name] else { return notFound("deployments.apps", name) }
            guard let updated = patched(scale(deployment)), let replicas = updated["spec"]?["replicas"]?.intValue else { return unsupported }
            if dryRun { return ok(updated) }
            cluster.store(deployment: FakeClusterState.setting(deployment, ["spec", "replicas"], .int(replicas)), specChanged: true)
            return ok(scale(cluster.deployments[namespace + "/" + name]!))
        } else if method == "GET", let captures = match("apis/apps/v1/namespaces/*/replicasets") {
            let namespace = captures[0]
            return list("ReplicaSetList", inNamespace(cluster.replicaSets, namespace))
        } else {
            return status(404, "NotFound", "the server could not find the requested resource")
        }
        /// The `*` parts of `pattern` when the path has its shape.
        func match(_ pattern: String) -> [String]? {
            let parts = pattern.split(separator: "/").map(String.init)
            guard parts.count == segments.count else { return nil }
            var captures: [String] = []
            for (part, segment) in zip(parts, segments) {
                if part == "*" { captures.append(segment) } else if part != segment { return nil }
            }
            return captures
        }
    }

    private static func scale(_ deployment: JSONValue) -> JSONValue {
        [
            "apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": ["name": deployment["metadata"]?["name"] ?? .null, "namespace": deployment["metadata"]?["namespace"] ?? .null],
            "spec": ["replicas": deployment["spec"]?["replicas"] ?? 1],
            "status": ["replicas": deployment["status"]?["replicas"] ?? 0, "selector": .string("app=\(deployment["metadata"]?["name"]?.stringValue ?? "")")],
        ]
    }

    private static func ok(_ object: JSONValue) -> (Int, String, String) { (200, "application/json", object.jsonText()) }

    private static func notFound(_ resource: String, _ name: String) -> (Int, String, String) {
        status(404, "NotFound", "\(resource) \"\(name)\" not found")
    }

    static func status(_ code: Int, _ reason: String, _ message: String) -> (Int, String, String) {
        let object: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
                                 "message": .string(message), "reason": .string(reason), "code": .int(code)]
        return (code, "application/json", object.jsonText())
    }
}
