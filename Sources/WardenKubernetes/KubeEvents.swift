import Foundation
import WardenPluginKit

/// Events, newest last, in the shape the plugins report them.
enum KubeEvents {
    static func collection(_ namespace: String?) -> String {
        namespace.map { "/api/v1/namespaces/\(KubeParameters.encode($0))/events" } ?? "/api/v1/events"
    }

    /// When the event last happened (`lastTimestamp`, else `eventTime`, else creation).
    static func time(_ event: JSONValue) -> Date? {
        for key in ["lastTimestamp", "eventTime", "firstTimestamp"] {
            if let text = event[key]?.stringValue, let date = KubeTime.parse(text) { return date }
        }
        return event["metadata"]?["creationTimestamp"]?.stringValue.flatMap(KubeTime.parse)
    }

    static func summary(_ event: JSONValue) -> JSONValue {
        [
            "type": event["type"] ?? .null,
            "reason": event["reason"] ?? .null,
            "message": event["message"] ?? .null,
            "object": .string("\(event["involvedObject"]?["kind"]?.stringValue ?? "?")/\(event["involvedObject"]?["name"]?.stringValue ?? "?")"),
            "namespace": event["metadata"]?["namespace"] ?? .null,
            "count": event["count"] ?? .null,
            "last_seen": time(event).map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null,
        ]
    }

    static func sorted(_ events: [JSONValue]) -> [JSONValue] {
        events.sorted { (time($0) ?? .distantPast) < (time($1) ?? .distantPast) }
    }
}

enum KubeTime {
    /// RFC 3339, with or without fractional seconds (MicroTime).
    static func parse(_ text: String) -> Date? {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }
}
