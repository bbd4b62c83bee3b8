import WardenPluginKit

/// Marks a node unschedulable (cordon) or schedulable again (uncordon).
public struct CordonNodePlugin: Plugin {
    public let spec = PluginSpec(
        name: "cordon_node",
        description: "Cordon a Kubernetes node (spec.unschedulable: true) so no new pods land on it, or uncordon it with `uncordon: true`; running pods stay. Dry run uses dryRun=All.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "name": KubeParameters.objectName("Node name"),
                "uncordon": ["type": "boolean", "default": false, "description": "Make the node schedulable again instead."],
            ], namespaced: false),
            "required": ["name"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let client = try KubeClient(parameters, context: context)
        let name = try parameters.required("name", \.stringValue)
        let unschedulable = !(parameters["uncordon"]?.boolValue ?? false)
        let verb = unschedulable ? "cordon" : "uncordon"
        let path = "/api/v1/nodes/\(KubeParameters.encode(name))"
        let node = try await client.get(path, what: "get node \(name)")
        let was = node["spec"]?["unschedulable"]?.boolValue ?? false
        var data: JSONObject = ["node": .string(name), "unschedulable_before": .bool(was), "dry_run": .bool(context.dryRun)]
        guard was != unschedulable else {
            data["unschedulable"] = .bool(was)
            return .ok(.object(data), message: "node \(name) is already \(unschedulable ? "cordoned" : "schedulable")")
        }
        let after = try await client.patch(path, ["spec": ["unschedulable": .bool(unschedulable)]], type: .strategicMerge,
                                           dryRun: context.dryRun, what: "\(verb) node \(name)")
        data["unschedulable"] = .bool(after["spec"]?["unschedulable"]?.boolValue ?? false)
        return .ok(.object(data), message: "\(context.dryRun ? "would \(verb)" : "\(verb)ed") node \(name)")
    }
}
