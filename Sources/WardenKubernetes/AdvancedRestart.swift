import Foundation
import WardenPluginKit

/// The seed's worked example: restart a Deployment's pods, rolling or all at once.
public struct AdvancedRestartPlugin: Plugin {
    public let spec = PluginSpec(
        name: "advanced_restart",
        description: "Restart a Kubernetes Deployment. rolling: patch spec.template.metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"] (what `kubectl rollout restart` does); recreate: scale to 0, wait until its pods are gone, scale back to the previous count. Optionally waits for the rollout and reports ready/updated/available. Dry run uses dryRun=All.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties(KubeParameters.rollout.merging([
                "deployment": KubeParameters.objectName("Deployment name"),
                "strategy": ["type": "string", "enum": ["rolling", "recreate"], "default": "rolling", "description": "rolling keeps serving; recreate stops every pod first."],
            ]) { mine, _ in mine }),
            "required": ["deployment"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let (client, namespace, name) = try KubeClient.target(parameters, context: context, name: "deployment")
        let strategy = parameters["strategy"]?.stringValue ?? "rolling"
        let waitLimit = try parameters.duration("wait_timeout")
        let wait = parameters["wait"]?.boolValue == true && !context.dryRun
        var data: JSONObject = ["deployment": .string(name), "namespace": .string(namespace), "strategy": .string(strategy), "dry_run": .bool(context.dryRun)]
        let path = KubeRollout.deploymentPath(namespace, name)
        switch strategy {
        case "recreate":
            let deployment = try await client.get(path, what: "get deployment \(namespace)/\(name)")
            let replicas = deployment["spec"]?["replicas"]?.intValue ?? 1
            data["replicas"] = .int(replicas)
            guard replicas > 0 else {
                return .failure("deployment \(namespace)/\(name) has 0 replicas: nothing to recreate", message: "nothing restarted", data: .object(data))
            }
            let scale = path + "/scale"
            _ = try await client.patch(scale, ["spec": ["replicas": 0]], type: .merge, dryRun: context.dryRun, what: "scale deployment \(namespace)/\(name) to 0")
            var gone = true
            if !context.dryRun {
                gone = try await waitForNoPods(client, namespace: namespace, selector: KubeRollout.selector(deployment), limit: waitLimit)
            }
            // Scaled back even when pods linger: a restart must never leave the service at zero.
            _ = try await client.patch(scale, ["spec": ["replicas": .int(replicas)]], type: .merge, dryRun: context.dryRun,
                                       what: "scale deployment \(namespace)/\(name) back to \(replicas)")
            data["pods_gone_before_scale_up"] = .bool(gone)
            let done = "\(context.dryRun ? "would recreate" : "recreated") deployment \(namespace)/\(name): \(replicas) → 0 → \(replicas)"
            guard gone else {
                return .failure("old pods were still terminating when the wait ran out; scaled back to \(replicas) anyway", message: done, data: .object(data), retry: true)
            }
            let waited = wait ? try await KubeRollout.wait(client, namespace: namespace, name: name, limit: waitLimit) : nil
            return KubeRollout.result(data, waited: waited, done: done)
        default:
            let stamp = ISO8601DateFormatter().string(from: Date())
            let patch: JSONValue = ["spec": ["template": ["metadata": ["annotations": ["kubectl.kubernetes.io/restartedAt": .string(stamp)]]]]]
            _ = try await client.patch(path, patch, type: .strategicMerge, dryRun: context.dryRun, what: "restart deployment \(namespace)/\(name)")
            data["restarted_at"] = .string(stamp)
            let done = "\(context.dryRun ? "would start" : "started") a rolling restart of deployment \(namespace)/\(name)"
            let waited = wait ? try await KubeRollout.wait(client, namespace: namespace, name: name, limit: waitLimit) : nil
            return KubeRollout.result(data, waited: waited, done: done)
        }
    }

    /// Polls the Deployment's pods until none is left (or the time is up).
    private func waitForNoPods(_ client: KubeClient, namespace: String, selector: String, limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + min(limit, client.context.remaining - .seconds(2))
        while true {
            let pods = try await client.get(KubePods.collection(namespace), query: [("labelSelector", selector)],
                                            what: "list pods of \(namespace) matching \(selector)")
            if pods["items"]?.arrayValue?.isEmpty ?? true { return true }
            if ContinuousClock.now + .milliseconds(500) > deadline { return false }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}
