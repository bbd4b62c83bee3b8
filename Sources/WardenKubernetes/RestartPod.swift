import WardenPluginKit

/// Restarts a pod by deleting it so its controller makes a new one.
public struct RestartPodPlugin: Plugin {
    public let spec = PluginSpec(
        name: "restart_pod",
        description: "Restart a Kubernetes pod by deleting it so its controller (ReplicaSet, StatefulSet, DaemonSet, Job) recreates it; a bare pod (no controller, so gone for good) is refused unless force. Dry run uses the API's dryRun=All.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "name": KubeParameters.objectName("Pod name"),
                "force": ["type": "boolean", "default": false, "description": "Also delete a pod no controller will recreate."],
                "grace_period_seconds": ["type": "integer", "minimum": 0, "maximum": 3600, "description": "Override the pod's termination grace period (optional)."],
            ]),
            "required": ["name"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let (client, namespace, name) = try KubeClient.target(parameters, context: context)
        let force = parameters["force"]?.boolValue ?? false
        let pod = try await client.get(KubePods.path(namespace, name), what: "get pod \(namespace)/\(name)")
        let owner = pod["metadata"]?["ownerReferences"]?.arrayValue?.first { $0["controller"] == true }
        var data: JSONObject = [
            "pod": .string(name), "namespace": .string(namespace), "dry_run": .bool(context.dryRun),
            "owner": owner.map { .string("\($0["kind"]?.stringValue ?? "?")/\($0["name"]?.stringValue ?? "?")") } ?? .null,
        ]
        guard owner != nil || force else {
            return .failure("pod \(namespace)/\(name) has no controller: deleting it would not restart it but remove it (set force to delete anyway)",
                            message: "refused to delete a bare pod", data: .object(data))
        }
        var query: [(String, String)] = []
        if context.dryRun { query.append(("dryRun", "All")) }
        if let grace = parameters["grace_period_seconds"]?.intValue { query.append(("gracePeriodSeconds", "\(grace)")) }
        // The UID precondition makes sure we delete the pod we looked at, not a successor.
        let body: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1", "preconditions": ["uid": pod["metadata"]?["uid"] ?? .null]]
        _ = try await client.delete(KubePods.path(namespace, name), query: query, body: body, what: "delete pod \(namespace)/\(name)")
        data["restarts_before"] = .int(KubePods.restarts(pod))
        let verb = context.dryRun ? "would delete" : "deleted"
        return .ok(.object(data), message: "\(verb) pod \(namespace)/\(name)\(owner.map { "; \($0["kind"]?.stringValue ?? "its controller") \($0["name"]?.stringValue ?? "") recreates it" } ?? " (no controller: it will not come back)")")
    }
}
