import WardenPluginKit

/// Pods with their phase, readiness, restarts, age and node.
public struct ListPodsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "list_pods",
        description: "List Kubernetes pods in a namespace or all namespaces, with label/field selectors: phase, ready, restarts, age, node; fails when more than max_not_ready pods are not ready.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "all_namespaces": ["type": "boolean", "default": false, "description": "List pods of every namespace."],
                "label_selector": ["type": "string", "maxLength": 1024, "description": "e.g. app=web,tier!=cache"],
                "field_selector": ["type": "string", "maxLength": 1024, "description": "e.g. status.phase=Running,spec.nodeName=n1"],
                "limit": ["type": "integer", "minimum": 1, "maximum": 5000, "default": 500, "description": "At most this many pods."],
                "max_not_ready": ["type": "integer", "minimum": 0, "description": "Fail when more running or pending pods than this are not ready (optional)."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let client = try KubeClient(parameters, context: context)
        let namespace = parameters["all_namespaces"]?.boolValue == true ? nil : client.namespace(parameters)
        var query = [("limit", "\(parameters["limit"]?.intValue ?? 500)")]
        if let selector = parameters["label_selector"]?.stringValue { query.append(("labelSelector", selector)) }
        if let selector = parameters["field_selector"]?.stringValue { query.append(("fieldSelector", selector)) }
        let list = try await client.get(KubePods.collection(namespace), query: query, what: "list pods in \(namespace ?? "all namespaces")")
        let pods = list["items"]?.arrayValue ?? []
        var phases: [String: Int] = [:]
        for pod in pods { phases[pod["status"]?["phase"]?.stringValue ?? "Unknown", default: 0] += 1 }
        // Completed pods (Succeeded, and Failed ones such as evictions) are not "not ready".
        let notReady = pods.filter { pod in
            let phase = pod["status"]?["phase"]?.stringValue
            return (phase == "Running" || phase == "Pending") && !KubePods.isReady(pod)
        }
        let data: JSONValue = [
            "namespace": namespace.map(JSONValue.string) ?? "*",
            "count": .int(pods.count),
            "by_phase": .object(phases.mapValues(JSONValue.int)),
            "not_ready": .int(notReady.count),
            "pods": .array(pods.map(KubePods.summary)),
        ]
        let headline = "\(pods.count) pod\(pods.count == 1 ? "" : "s") in \(namespace ?? "all namespaces"), \(notReady.count) not ready"
        if let limit = parameters["max_not_ready"]?.intValue, notReady.count > limit {
            let names = notReady.prefix(5).compactMap { $0["metadata"]?["name"]?.stringValue }.joined(separator: ", ")
            return .failure("\(notReady.count) pods not ready (> \(limit)): \(names)", message: headline, data: data)
        }
        return .ok(data, message: headline)
    }
}
