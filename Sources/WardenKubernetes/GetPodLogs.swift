import WardenPluginKit

/// A container's log lines: the latest, since a time, or of its previous instance.
public struct GetPodLogsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "get_pod_logs",
        description: "Fetch a Kubernetes pod's container logs: tail lines, since seconds, the previous (crashed) instance; the lines as data.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "name": KubeParameters.objectName("Pod name"),
                "container": ["type": "string", "pattern": .string(KubeParameters.labelPattern), "maxLength": 63, "description": "Container name; needed when the pod has several."],
                "tail_lines": ["type": "integer", "minimum": 1, "maximum": 100_000, "default": 100, "description": "Only the last N lines."],
                "since_seconds": ["type": "integer", "minimum": 1, "description": "Only lines newer than this many seconds (optional)."],
                "previous": ["type": "boolean", "default": false, "description": "The previous instance of the container (after a crash)."],
                "limit_bytes": ["type": "integer", "minimum": 1, "maximum": 16_777_216, "default": 1_048_576, "description": "At most this many bytes."],
            ]),
            "required": ["name"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let (client, namespace, name) = try KubeClient.target(parameters, context: context)
        let options = try parameters.decode(Options.self)
        var query = [("tailLines", "\(options.tailLines)"), ("limitBytes", "\(options.limitBytes)")]
        if let container = options.container { query.append(("container", container)) }
        if let since = options.sinceSeconds { query.append(("sinceSeconds", "\(since)")) }
        if options.previous { query.append(("previous", "true")) }
        let text = try await client.text(KubePods.path(namespace, name) + "/log", query: query, what: "read logs of pod \(namespace)/\(name)")
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let data: JSONValue = [
            "pod": .string(name), "namespace": .string(namespace),
            "container": options.container.map(JSONValue.string) ?? .null, "previous": .bool(options.previous),
            "line_count": .int(lines.count), "lines": .array(lines.map(JSONValue.string)),
        ]
        return .ok(data, message: "\(lines.count) log line\(lines.count == 1 ? "" : "s") from \(namespace)/\(name)")
    }
}

extension GetPodLogsPlugin {
    /// The schema's own parameters, defaults applied.
    struct Options: Decodable {
        let container: String?
        let tailLines: Int
        let sinceSeconds: Int?
        let previous: Bool
        let limitBytes: Int
    }
}
