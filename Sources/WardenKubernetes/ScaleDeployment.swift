import WardenPluginKit

/// Sets a Deployment's replica count through the scale subresource, within bounds.
public struct ScaleDeploymentPlugin: Plugin {
    public let spec = PluginSpec(
        name: "scale_deployment",
        description: "Scale a Kubernetes Deployment through its scale subresource to `replicas` (or by `delta`), refusing results outside min/max; optionally waits for the rollout. Dry run uses dryRun=All.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties(KubeParameters.rollout.merging([
                "name": KubeParameters.objectName("Deployment name"),
                "replicas": ["type": "integer", "minimum": 0, "maximum": 10_000, "description": "The replica count to set (give this or delta)."],
                "delta": ["type": "integer", "minimum": -10_000, "maximum": 10_000, "description": "Change the current count by this much."],
                "min": ["type": "integer", "minimum": 0, "default": 0, "description": "Never scale below this."],
                "max": ["type": "integer", "minimum": 0, "default": 100, "description": "Never scale above this."],
            ]) { mine, _ in mine }),
            "required": ["name"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let (client, namespace, name) = try KubeClient.target(parameters, context: context)
        let lower = parameters["min"]?.intValue ?? 0
        let upper = parameters["max"]?.intValue ?? 100
        let scalePath = KubeRollout.deploymentPath(namespace, name) + "/scale"
        let scale = try await client.get(scalePath, what: "read the scale of deployment \(namespace)/\(name)")
        let current = scale["spec"]?["replicas"]?.intValue ?? 0
        let target: Int
        if let replicas = parameters["replicas"]?.intValue {
            target = replicas
        } else if let delta = parameters["delta"]?.intValue {
            target = current + delta
        } else {
            throw PluginError("give `replicas` or `delta`", message: "nothing to scale to")
        }
        var data: JSONObject = [
            "deployment": .string(name), "namespace": .string(namespace), "dry_run": .bool(context.dryRun),
            "from": .int(current), "to": .int(target), "min": .int(lower), "max": .int(upper),
        ]
        guard (lower...max(lower, upper)).contains(target) else {
            return .failure("\(target) replicas is outside the bounds \(lower)…\(upper)", message: "refused to scale \(namespace)/\(name)", data: .object(data))
        }
        _ = try await client.patch(scalePath, ["spec": ["replicas": .int(target)]], type: .merge, dryRun: context.dryRun,
                                   what: "scale deployment \(namespace)/\(name)")
        let done = "\(context.dryRun ? "would scale" : "scaled") deployment \(namespace)/\(name) from \(current) to \(target)"
        guard parameters["wait"]?.boolValue == true, !context.dryRun else { return .ok(.object(data), message: done) }
        data["waited"] = true
        let waited = try await KubeRollout.wait(client, namespace: namespace, name: name, limit: try parameters.duration("wait_timeout"))
        return KubeRollout.result(data, waited: waited, done: done)
    }
}
