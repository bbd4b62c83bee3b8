import WardenPluginKit

/// Deployment paths, replica counts, and waiting for a rollout the way
/// `kubectl rollout status` decides it is done.
enum KubeRollout {
    static func deploymentPath(_ namespace: String, _ name: String) -> String {
        "/apis/apps/v1/namespaces/\(KubeParameters.encode(namespace))/deployments/\(KubeParameters.encode(name))"
    }

    static func counts(_ deployment: JSONValue) -> JSONValue {
        let status = deployment["status"]
        return [
            "desired": .int(deployment["spec"]?["replicas"]?.intValue ?? 1),
            "replicas": .int(status?["replicas"]?.intValue ?? 0),
            "updated": .int(status?["updatedReplicas"]?.intValue ?? 0),
            "ready": .int(status?["readyReplicas"]?.intValue ?? 0),
            "available": .int(status?["availableReplicas"]?.intValue ?? 0),
        ]
    }

    /// Observed the latest spec, every replica updated and available, no old ones left.
    static func isComplete(_ deployment: JSONValue) -> Bool {
        let generation = deployment["metadata"]?["generation"]?.intValue ?? 0
        let status = deployment["status"]
        let desired = deployment["spec"]?["replicas"]?.intValue ?? 1
        return (status?["observedGeneration"]?.intValue ?? 0) >= generation
            && (status?["updatedReplicas"]?.intValue ?? 0) == desired
            && (status?["replicas"]?.intValue ?? 0) == desired
            && (status?["availableReplicas"]?.intValue ?? 0) == desired
    }

    /// Polls until complete or `limit` passes; returns the last state seen.
    static func wait(_ client: KubeClient, namespace: String, name: String, limit: Duration) async throws -> (complete: Bool, deployment: JSONValue) {
        let deadline = ContinuousClock.now + min(limit, client.context.remaining - .milliseconds(500))
        while true {
            let deployment = try await client.get(deploymentPath(namespace, name), what: "read deployment \(namespace)/\(name)")
            if isComplete(deployment) { return (true, deployment) }
            if ContinuousClock.now + .seconds(1) > deadline { return (false, deployment) }
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// The plugin result after a change: the counts, and a failure when waiting ran out.
    static func result(_ data: JSONObject, waited: (complete: Bool, deployment: JSONValue)?, done: String) -> PluginResult {
        var data = data
        guard let waited else { return .ok(.object(data), message: done) }
        data["rollout"] = counts(waited.deployment)
        data["rollout_complete"] = .bool(waited.complete)
        let counts = counts(waited.deployment)
        let summary = "\(counts["ready"]?.intValue ?? 0)/\(counts["desired"]?.intValue ?? 0) ready, \(counts["updated"]?.intValue ?? 0) updated, \(counts["available"]?.intValue ?? 0) available"
        guard waited.complete else {
            return .failure("the rollout did not complete in time (\(summary))", message: done, data: .object(data), retry: true)
        }
        return .ok(.object(data), message: "\(done); rollout complete: \(summary)")
    }
}

extension KubeRollout {
    /// The Deployment's label selector as a query string (`app=web,tier=front`). Only
    /// `matchLabels` and `In` expressions, which is what Deployments use in practice.
    static func selector(_ deployment: JSONValue) -> String {
        let selector = deployment["spec"]?["selector"]
        var parts = (selector?["matchLabels"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
            .compactMap { key, value in value.stringValue.map { "\(key)=\($0)" } }
        for expression in selector?["matchExpressions"]?.arrayValue ?? [] where expression["operator"] == "In" {
            let values = expression["values"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if let key = expression["key"]?.stringValue { parts.append("\(key) in (\(values.joined(separator: ",")))") }
        }
        return parts.joined(separator: ",")
    }

    static let revisionAnnotation = "deployment.kubernetes.io/revision"

    static func revision(_ object: JSONValue) -> Int? {
        object["metadata"]?["annotations"]?[revisionAnnotation]?.stringValue.flatMap { Int($0) }
    }
}
