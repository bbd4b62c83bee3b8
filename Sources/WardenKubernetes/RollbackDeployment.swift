import WardenPluginKit

/// `kubectl rollout undo`: puts the pod template of an earlier revision back.
public struct RollbackDeploymentPlugin: Plugin {
    public let spec = PluginSpec(
        name: "rollback_deployment",
        description: "Roll a Kubernetes Deployment back to the previous revision (or `to_revision`) the way `kubectl rollout undo` does: the pod template of that revision's ReplicaSet is patched into the Deployment; optionally waits for the rollout. Dry run uses dryRun=All.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties(KubeParameters.rollout.merging([
                "name": KubeParameters.objectName("Deployment name"),
                "to_revision": ["type": "integer", "minimum": 0, "default": 0, "description": "The revision to return to; 0 means the one before the current."],
            ]) { mine, _ in mine }),
            "required": ["name"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let (client, namespace, name) = try KubeClient.target(parameters, context: context)
        let requested = parameters["to_revision"]?.intValue ?? 0
        let path = KubeRollout.deploymentPath(namespace, name)
        let deployment = try await client.get(path, what: "get deployment \(namespace)/\(name)")
        if deployment["spec"]?["paused"] == true {
            return .failure("deployment \(namespace)/\(name) is paused; resume it before rolling back", message: "refused to roll back")
        }
        let uid = deployment["metadata"]?["uid"]
        let list = try await client.get("/apis/apps/v1/namespaces/\(KubeParameters.encode(namespace))/replicasets",
                                        query: [("labelSelector", KubeRollout.selector(deployment))],
                                        what: "list replicasets of deployment \(namespace)/\(name)")
        let owned = (list["items"]?.arrayValue ?? []).filter { set in
            set["metadata"]?["ownerReferences"]?.arrayValue?.contains { $0["controller"] == true && $0["uid"] == uid } ?? false
        }
        let revisions = owned.compactMap { set in KubeRollout.revision(set).map { ($0, set) } }.sorted { $0.0 < $1.0 }
        let current = KubeRollout.revision(deployment) ?? revisions.last?.0 ?? 0
        let target: (Int, JSONValue)?
        if requested > 0 {
            target = revisions.first { $0.0 == requested }
        } else {
            target = revisions.last { $0.0 < current }
        }
        var data: JSONObject = [
            "deployment": .string(name), "namespace": .string(namespace), "dry_run": .bool(context.dryRun),
            "current_revision": .int(current), "revisions": .array(revisions.map { .int($0.0) }),
        ]
        guard let (revision, replicaSet) = target else {
            let why = requested > 0 ? "revision \(requested) not found" : "no revision before \(current)"
            return .failure("\(why) (known: \(revisions.map { "\($0.0)" }.joined(separator: ", ")))", message: "nothing to roll back to", data: .object(data))
        }
        data["to_revision"] = .int(revision)
        data["replicaset"] = replicaSet["metadata"]?["name"] ?? .null
        // The ReplicaSet's template carries the hash label its controller added; the
        // Deployment's must not.
        var template = replicaSet["spec"]?["template"]?.objectValue ?? [:]
        if var metadata = template["metadata"]?.objectValue, var labels = metadata["labels"]?.objectValue {
            labels["pod-template-hash"] = nil
            metadata["labels"] = .object(labels)
            template["metadata"] = .object(metadata)
        }
        if deployment["spec"]?["template"] == .object(template) {
            return .ok(.object(data), message: "deployment \(namespace)/\(name) already runs revision \(revision)'s template; skipped")
        }
        let patch: JSONValue = [["op": "replace", "path": "/spec/template", "value": .object(template)]]
        _ = try await client.patch(path, patch, type: .json, dryRun: context.dryRun, what: "roll back deployment \(namespace)/\(name)")
        let done = "\(context.dryRun ? "would roll" : "rolled") deployment \(namespace)/\(name) back from revision \(current) to \(revision)"
        guard parameters["wait"]?.boolValue == true, !context.dryRun else { return .ok(.object(data), message: done) }
        let waited = try await KubeRollout.wait(client, namespace: namespace, name: name, limit: try parameters.duration("wait_timeout"))
        return KubeRollout.result(data, waited: waited, done: done)
    }
}
