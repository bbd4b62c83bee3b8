import WardenPluginKit

/// One pod in depth: status, conditions, each container's state and last termination, events.
public struct DescribePodPlugin: Plugin {
    public let spec = PluginSpec(
        name: "describe_pod",
        description: "Describe a Kubernetes pod: phase, conditions, each container's state with its last termination reason and exit code, and the pod's events; fails when the pod is not ready (unless it Succeeded).",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "name": KubeParameters.objectName("Pod name"),
                "events": ["type": "integer", "minimum": 0, "maximum": 200, "default": 20, "description": "How many of the latest events to include."],
            ]),
            "required": ["name"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let (client, namespace, name) = try KubeClient.target(parameters, context: context)
        let eventLimit = try parameters.decode(Options.self).events
        let pod = try await client.get(KubePods.path(namespace, name), what: "get pod \(namespace)/\(name)")
        let events = try await client.get(KubeEvents.collection(namespace), query: [
            ("fieldSelector", "involvedObject.kind=Pod,involvedObject.name=\(name)"),
        ], what: "list events of pod \(namespace)/\(name)")
        let containers = (pod["status"]?["containerStatuses"]?.arrayValue ?? []).map { status -> JSONValue in
            let state = status["state"]?.objectValue ?? [:]
            let current = state.keys.sorted().first ?? "unknown"
            let last = status["lastState"]?["terminated"]
            return [
                "name": status["name"] ?? .null,
                "ready": status["ready"] ?? false,
                "restarts": status["restartCount"] ?? 0,
                "image": status["image"] ?? .null,
                "state": .string(current),
                "state_reason": state[current]?["reason"] ?? .null,
                "state_message": state[current]?["message"] ?? .null,
                "last_termination": last.map { last in
                    ["reason": last["reason"] ?? .null, "exit_code": last["exitCode"] ?? .null, "finished_at": last["finishedAt"] ?? .null]
                } ?? .null,
            ]
        }
        let recent = KubeEvents.sorted(events["items"]?.arrayValue ?? []).suffix(eventLimit)
        var data = KubePods.summary(pod).objectValue ?? [:]
        data["conditions"] = .array((pod["status"]?["conditions"]?.arrayValue ?? []).map { condition in
            ["type": condition["type"] ?? .null, "status": condition["status"] ?? .null,
             "reason": condition["reason"] ?? .null, "message": condition["message"] ?? .null]
        })
        data["containers"] = .array(containers)
        data["events"] = .array(recent.map(KubeEvents.summary))
        data["pod_ip"] = pod["status"]?["podIP"] ?? .null
        data["owner"] = pod["metadata"]?["ownerReferences"]?.arrayValue?.first { $0["controller"] == true }
            .map { .string("\($0["kind"]?.stringValue ?? "?")/\($0["name"]?.stringValue ?? "?")") } ?? .null

        let phase = pod["status"]?["phase"]?.stringValue ?? "Unknown"
        let headline = "pod \(namespace)/\(name): \(phase), ready \(data["ready"]?.stringValue ?? "?"), \(KubePods.restarts(pod)) restarts"
        if phase == "Succeeded" || KubePods.isReady(pod) { return .ok(.object(data), message: headline) }
        let why = containers.compactMap { $0["state_reason"]?.stringValue }.first
            ?? containers.compactMap { $0["last_termination"]?["reason"]?.stringValue }.first
            ?? pod["status"]?["reason"]?.stringValue ?? phase
        return .failure("pod is not ready: \(why)", message: headline, data: .object(data))
    }
}

extension DescribePodPlugin {
    /// The schema's own parameters, defaults applied.
    struct Options: Decodable {
        let events: Int
    }
}
