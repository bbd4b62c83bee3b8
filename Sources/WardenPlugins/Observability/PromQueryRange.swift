import Foundation
import WardenPluginKit

/// A PromQL range query: each series with its [time, value] points.
public struct PromQueryRangePlugin: Plugin {
    public let spec = PluginSpec(
        name: "prom.query_range",
        description: "Run a PromQL range query (start, end, step); returns each series with its points.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": .object(Prometheus.commonParameters.merging([
                "start": ["type": ["string", "number"], "description": "Start (RFC 3339, Unix seconds, or a duration ago).", "default": "1h"],
                "end": ["type": ["string", "number"], "description": "End (same forms); default now."],
                "step": JSONSchema.duration("Time between points.", default: 60),
                "max_points": ["type": "integer", "description": "Points kept per series (the newest).", "default": 1000, "minimum": 1],
            ]) { first, _ in first }),
            "required": ["query"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let base = try parameters.required("url", \.stringValue)
        let query = try parameters.required("query", \.stringValue)
        let timeout = try parameters.duration("timeout")
        let now = Date()
        let start = try ObservabilityAPI.time(parameters["start"], now: now) ?? now.addingTimeInterval(-3600)
        let end = try ObservabilityAPI.time(parameters["end"], now: now) ?? now
        guard start < end else { throw PluginError("`start` must be before `end`") }
        let step = try parameters.duration("step").seconds
        let maxPoints = parameters["max_points"]?.intValue ?? 1000
        let url = ObservabilityAPI.url(base, "/api/v1/query_range", [
            ("query", query), ("start", String(start.timeIntervalSince1970)), ("end", String(end.timeIntervalSince1970)), ("step", String(step)),
        ])
        let data = try Prometheus.data(try await ObservabilityAPI.getJSON(url, timeout: timeout, context: context))
        let series = (data["result"]?.arrayValue ?? []).map { series -> JSONValue in
            let points = (series["values"]?.arrayValue ?? []).suffix(maxPoints).map { point -> JSONValue in
                .array([point.arrayValue?.first ?? .null, Prometheus.number(point.arrayValue?.last)])
            }
            return ["metric": series["metric"] ?? [:], "values": .array(Array(points))]
        }
        let points = series.reduce(0) { $0 + ($1["values"]?.arrayValue?.count ?? 0) }
        return .ok(["result_type": data["resultType"] ?? .null, "series": .array(series)],
                   message: "\(query): \(series.count) series, \(points) points")
    }
}
