import Foundation
import WardenPluginKit

/// CPU and memory per pod from metrics.k8s.io (metrics-server), heaviest first.
public struct TopPodsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "top_pods",
        description: "CPU (millicores) and memory (bytes) per Kubernetes pod from metrics.k8s.io, sorted by cpu or memory; fails when a pod is above max_cpu_millicores or max_memory_bytes.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "all_namespaces": ["type": "boolean", "default": false, "description": "Pods of every namespace."],
                "label_selector": ["type": "string", "maxLength": 1024, "description": "e.g. app=web"],
                "sort_by": ["type": "string", "enum": ["cpu", "memory"], "default": "cpu", "description": "Order, heaviest first."],
                "limit": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 20, "description": "At most this many pods."],
                "max_cpu_millicores": ["type": "number", "minimum": 0, "description": "Fail when a pod uses more CPU (optional)."],
                "max_memory_bytes": ["type": "integer", "minimum": 0, "description": "Fail when a pod uses more memory (optional)."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let client = try KubeClient(parameters, context: context)
        let namespace = parameters["all_namespaces"]?.boolValue == true ? nil : client.namespace(parameters)
        let path = namespace.map { "/apis/metrics.k8s.io/v1beta1/namespaces/\(KubeParameters.encode($0))/pods" } ?? "/apis/metrics.k8s.io/v1beta1/pods"
        let query = parameters["label_selector"]?.stringValue.map { [("labelSelector", $0)] } ?? []
        let list = try await client.get(path, query: query, what: "read pod metrics in \(namespace ?? "all namespaces")")
        struct Usage { let name: String; let namespace: String; let cpu: Double; let memory: Double; let containers: [JSONValue] }
        let usages = (list["items"]?.arrayValue ?? []).map { item -> Usage in
            let containers = item["containers"]?.arrayValue ?? []
            let cpu = containers.reduce(0) { $0 + (KubeQuantity.value($1["usage"]?["cpu"]?.stringValue) ?? 0) }
            let memory = containers.reduce(0) { $0 + (KubeQuantity.value($1["usage"]?["memory"]?.stringValue) ?? 0) }
            return Usage(
                name: item["metadata"]?["name"]?.stringValue ?? "?", namespace: item["metadata"]?["namespace"]?.stringValue ?? "?",
                cpu: cpu * 1000, memory: memory,
                containers: containers.map { container in
                    ["name": container["name"] ?? .null,
                     "cpu_millicores": .double(((KubeQuantity.value(container["usage"]?["cpu"]?.stringValue) ?? 0) * 1000 * 10).rounded() / 10),
                     "memory_bytes": .int(Int(KubeQuantity.value(container["usage"]?["memory"]?.stringValue) ?? 0))]
                })
        }
        let byMemory = parameters["sort_by"]?.stringValue == "memory"
        let sorted = usages.sorted { byMemory ? $0.memory > $1.memory : $0.cpu > $1.cpu }.prefix(parameters["limit"]?.intValue ?? 20)
        let data: JSONValue = [
            "namespace": namespace.map(JSONValue.string) ?? "*",
            "count": .int(usages.count),
            "total_cpu_millicores": .double((usages.reduce(0) { $0 + $1.cpu } * 10).rounded() / 10),
            "total_memory_bytes": .int(Int(usages.reduce(0) { $0 + $1.memory })),
            "pods": .array(sorted.map { usage in
                ["name": .string(usage.name), "namespace": .string(usage.namespace),
                 "cpu_millicores": .double((usage.cpu * 10).rounded() / 10), "memory_bytes": .int(Int(usage.memory)),
                 "containers": .array(usage.containers)]
            }),
        ]
        var problems: [String] = []
        if let limit = parameters["max_cpu_millicores"]?.doubleValue {
            for usage in usages where usage.cpu > limit { problems.append("\(usage.namespace)/\(usage.name) uses \(Int(usage.cpu))m CPU (> \(Int(limit))m)") }
        }
        if let limit = parameters["max_memory_bytes"]?.intValue {
            for usage in usages where usage.memory > Double(limit) { problems.append("\(usage.namespace)/\(usage.name) uses \(Int(usage.memory)) bytes (> \(limit))") }
        }
        let top = sorted.first.map { "; top \($0.name): \(Int($0.cpu))m, \(Int($0.memory / 1_048_576))Mi" } ?? ""
        let headline = "\(usages.count) pods measured in \(namespace ?? "all namespaces")\(top)"
        guard problems.isEmpty else { return .failure(problems.joined(separator: "; "), message: headline, data: data) }
        return .ok(data, message: headline)
    }
}

/// Kubernetes resource quantities (`250m`, `1.5`, `128Mi`, `1G`, `12345n`) as plain numbers
/// (cores, bytes).
enum KubeQuantity {
    static func value(_ text: String?) -> Double? {
        guard let text, !text.isEmpty else { return nil }
        let suffixes: [(String, Double)] = [
            ("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776), ("Pi", 1_125_899_906_842_624),
            ("Ei", 1_152_921_504_606_846_976),
            ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18),
        ]
        for (suffix, factor) in suffixes where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * factor }
        }
        return Double(text)
    }
}
