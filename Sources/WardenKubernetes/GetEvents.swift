import Foundation
import WardenPluginKit

/// Recent events of a namespace or one object, Warnings first in mind.
public struct GetEventsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "get_events",
        description: "List Kubernetes events in a namespace (or all), optionally of one involved object and of given types, newer than since_seconds; fails when more than max_warnings Warning events are found.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": KubeParameters.properties([
                "all_namespaces": ["type": "boolean", "default": false, "description": "Events of every namespace."],
                "involved_object": KubeParameters.objectName("Only events about the object with this name"),
                "kind": ["type": "string", "pattern": "^[A-Z][A-Za-z]*$", "description": "Only events about objects of this kind (Pod, Deployment, Node…)."],
                "types": ["type": "array", "items": ["type": "string", "enum": ["Normal", "Warning"]], "description": "Only these event types (default both)."],
                "since_seconds": ["type": "integer", "minimum": 1, "default": 3600, "description": "Only events that last happened within this many seconds."],
                "limit": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 100, "description": "At most this many events, newest kept."],
                "max_warnings": ["type": "integer", "minimum": 0, "description": "Fail when more Warning events than this are found (optional)."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let client = try KubeClient(parameters, context: context)
        let namespace = parameters["all_namespaces"]?.boolValue == true ? nil : client.namespace(parameters)
        var fields: [String] = []
        if let name = parameters["involved_object"]?.stringValue { fields.append("involvedObject.name=\(name)") }
        if let kind = parameters["kind"]?.stringValue { fields.append("involvedObject.kind=\(kind)") }
        let types = Set(parameters["types"]?.arrayValue?.compactMap(\.stringValue) ?? ["Normal", "Warning"])
        if types.count == 1, let only = types.first { fields.append("type=\(only)") }
        let query = fields.isEmpty ? [] : [("fieldSelector", fields.joined(separator: ","))]
        let list = try await client.get(KubeEvents.collection(namespace), query: query, what: "list events in \(namespace ?? "all namespaces")")
        let cutoff = Date().addingTimeInterval(-Double(parameters["since_seconds"]?.intValue ?? 3600))
        let events = KubeEvents.sorted((list["items"]?.arrayValue ?? []).filter { event in
            types.contains(event["type"]?.stringValue ?? "Normal") && (KubeEvents.time(event) ?? .distantPast) >= cutoff
        }).suffix(parameters["limit"]?.intValue ?? 100)
        let warnings = events.filter { $0["type"] == "Warning" }
        let data: JSONValue = [
            "namespace": namespace.map(JSONValue.string) ?? "*",
            "count": .int(events.count), "warnings": .int(warnings.count),
            "events": .array(events.map(KubeEvents.summary)),
        ]
        let headline = "\(events.count) event\(events.count == 1 ? "" : "s") (\(warnings.count) warning\(warnings.count == 1 ? "" : "s")) in \(namespace ?? "all namespaces")"
        if let limit = parameters["max_warnings"]?.intValue, warnings.count > limit {
            let latest = warnings.last.map { "\($0["reason"]?.stringValue ?? "?"): \($0["message"]?.stringValue ?? "")" } ?? ""
            return .failure("\(warnings.count) warning events (> \(limit)); latest \(latest)", message: headline, data: data)
        }
        return .ok(data, message: headline)
    }
}
