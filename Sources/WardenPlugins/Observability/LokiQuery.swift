import Foundation
import WardenPluginKit

/// Recent log lines matching a LogQL query, newest first (Loki's query_range API).
public struct LokiQueryPlugin: Plugin {
    public let spec = PluginSpec(
        name: "loki.query",
        description: "Query Loki with LogQL over the last `since`; returns the newest lines with their labels; fails above max_lines.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "url": ["type": "string", "description": "Loki base URL.", "default": "http://127.0.0.1:3100", "pattern": "^https?://"],
                "query": ["type": "string", "description": "LogQL, e.g. {unit=\"nginx.service\"} |= \"error\".", "minLength": 1, "maxLength": 8192],
                "limit": ["type": "integer", "description": "Most lines returned.", "default": 100, "minimum": 1, "maximum": 5000],
                "since": JSONSchema.duration("How far back, e.g. 15m, 1h.", default: "1h"),
                "max_lines": ["type": "integer", "description": "Fail when more lines than this match (optional).", "minimum": 0],
                "tenant": ["type": "string", "description": "X-Scope-OrgID for multi-tenant Loki (optional)."],
                "timeout": JSONSchema.duration("How long the request may take.", default: 10, maximum: 300),
            ],
            "required": ["query"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let base = try parameters.required("url", \.stringValue)
        let query = try parameters.required("query", \.stringValue)
        let limit = parameters["limit"]?.intValue ?? 100
        let since = try parameters.duration("since")
        let timeout = try parameters.duration("timeout")
        let end = Date()
        let nanoseconds = { (date: Date) in String(Int64(date.timeIntervalSince1970 * 1e9)) }
        let url = ObservabilityAPI.url(base, "/loki/api/v1/query_range", [
            ("query", query), ("limit", String(limit)), ("start", nanoseconds(end.addingTimeInterval(-since.seconds))),
            ("end", nanoseconds(end)), ("direction", "backward"),
        ])
        let headers = parameters["tenant"]?.stringValue.map { ["X-Scope-OrgID": $0] } ?? [:]
        let answer = try await ObservabilityAPI.getJSON(url, headers: headers, timeout: timeout, context: context)
        guard answer.body["status"]?.stringValue == "success", let data = answer.body["data"] else {
            let message = answer.body["message"]?.stringValue ?? answer.body["error"]?.stringValue ?? "HTTP \(answer.status)"
            throw PluginError(message, message: "Loki refused the query", retry: answer.status >= 500 || answer.status == 429)
        }
        var lines: [(time: Int64, labels: JSONValue, line: String)] = []
        for stream in data["result"]?.arrayValue ?? [] {
            for value in stream["values"]?.arrayValue ?? [] {
                guard let pair = value.arrayValue, pair.count >= 2, let time = pair[0].stringValue.flatMap(Int64.init), let line = pair[1].stringValue else { continue }
                lines.append((time, stream["stream"] ?? [:], line))
            }
        }
        lines.sort { $0.time > $1.time }
        let kept = lines.prefix(limit)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let result: JSONValue = [
            "count": .int(lines.count),
            "lines": .array(kept.map { ["time": .string(formatter.string(from: Date(timeIntervalSince1970: Double($0.time) / 1e9))), "labels": $0.labels, "line": .string($0.line)] }),
        ]
        let summary = "\(lines.count) line\(lines.count == 1 ? "" : "s") for \(query) in the last \(since.wardenFormatted)"
        if let maximum = parameters["max_lines"]?.intValue, lines.count > maximum {
            return PluginResult(success: false, data: result, message: summary, error: "\(lines.count) lines, at most \(maximum) expected")
        }
        return .ok(result, message: summary)
    }
}
