import WardenPluginKit

/// Clears pods the kubelet evicted (Failed, reason Evicted), which linger until deleted.
public struct DeleteEvictedPodsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "delete_evicted_pods",
        description: "Delete Kubernetes pods that were evicted (phase Failed, reason Evicted) in a namespace or all, at most max_pods per run. Dry run uses dryRun=All.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "all_namespaces": ["type": "boolean", "default": false, "description": "Evicted pods of every namespace."],
                "max_pods": ["type": "integer", "minimum": 1, "maximum": 10_000, "default": 100, "description": "Delete at most this many in one run."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let client = try KubeClient(parameters, context: context)
        let options = try parameters.decode(Options.self)
        let namespace = options.allNamespaces ? nil : client.namespace(parameters)
        let maxPods = options.maxPods
        let list = try await client.get(KubePods.collection(namespace), query: [("fieldSelector", "status.phase=Failed")],
                                        what: "list failed pods in \(namespace ?? "all namespaces")")
        let evicted = (list["items"]?.arrayValue ?? []).filter { $0["status"]?["reason"] == "Evicted" }
        var deleted: [JSONValue] = []
        for pod in evicted.prefix(maxPods) {
            let podNamespace = pod["metadata"]?["namespace"]?.stringValue ?? namespace ?? "default"
            let name = pod["metadata"]?["name"]?.stringValue ?? ""
            _ = try await client.delete(KubePods.path(podNamespace, name), query: context.dryRun ? [("dryRun", "All")] : [],
                                        what: "delete evicted pod \(podNamespace)/\(name)")
            deleted.append(["name": .string(name), "namespace": .string(podNamespace), "message": pod["status"]?["message"] ?? .null])
        }
        let data: JSONValue = [
            "namespace": namespace.map(JSONValue.string) ?? "*", "dry_run": .bool(context.dryRun),
            "evicted": .int(evicted.count), "deleted": .int(deleted.count), "left": .int(evicted.count - deleted.count),
            "pods": .array(deleted),
        ]
        let verb = context.dryRun ? "would delete" : "deleted"
        return .ok(data, message: "\(verb) \(deleted.count) of \(evicted.count) evicted pod\(evicted.count == 1 ? "" : "s") in \(namespace ?? "all namespaces")")
    }
}

extension DeleteEvictedPodsPlugin {
    /// The schema's own parameters, defaults applied.
    struct Options: Decodable {
        let allNamespaces: Bool
        let maxPods: Int
    }
}
