import WardenPluginKit

/// How pods are addressed and summarised, shared by the pod plugins.
enum KubePods {
    static func collection(_ namespace: String?) -> String {
        namespace.map { "/api/v1/namespaces/\(KubeParameters.encode($0))/pods" } ?? "/api/v1/pods"
    }

    static func path(_ namespace: String, _ name: String) -> String {
        collection(namespace) + "/" + KubeParameters.encode(name)
    }

    static func isReady(_ pod: JSONValue) -> Bool {
        pod["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Ready" && $0["status"] == "True" } ?? false
    }

    static func restarts(_ pod: JSONValue) -> Int {
        (pod["status"]?["containerStatuses"]?.arrayValue ?? []).reduce(0) { $0 + ($1["restartCount"]?.intValue ?? 0) }
    }

    /// One line of `kubectl get pods -o wide`, as JSON.
    static func summary(_ pod: JSONValue) -> JSONValue {
        let statuses = pod["status"]?["containerStatuses"]?.arrayValue ?? []
        let readyCount = statuses.filter { $0["ready"] == true }.count
        let total = max(statuses.count, pod["spec"]?["containers"]?.arrayValue?.count ?? 0)
        // The reason a pod is not running, as kubectl shows it (CrashLoopBackOff, Evicted…).
        let waiting = statuses.compactMap { $0["state"]?["waiting"]?["reason"]?.stringValue }.first
        return [
            "name": pod["metadata"]?["name"] ?? .null,
            "namespace": pod["metadata"]?["namespace"] ?? .null,
            "phase": pod["status"]?["phase"] ?? .null,
            "ready": .string("\(readyCount)/\(total)"),
            "is_ready": .bool(isReady(pod)),
            "restarts": .int(restarts(pod)),
            "age_seconds": KubeParameters.age(since: pod["metadata"]?["creationTimestamp"]?.stringValue),
            "node": pod["spec"]?["nodeName"] ?? .null,
            "reason": waiting.map(JSONValue.string) ?? pod["status"]?["reason"] ?? .null,
        ]
    }
}
