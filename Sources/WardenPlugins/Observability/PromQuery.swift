import Foundation
import WardenPluginKit

/// An instant PromQL query: the vector or scalar as data, with optional bounds on the values.
public struct PromQueryPlugin: Plugin {
    public let spec = PluginSpec(
        name: "prom.query",
        description: "Run an instant PromQL query against Prometheus; returns the vector or scalar, fails when a value is outside min/max or nothing matches.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": .object(Prometheus.commonParameters.merging([
                "time": ["type": ["string", "number"], "description": "Evaluation time (RFC 3339, Unix seconds, or a duration ago); default now."],
                "min": ["type": "number", "description": "Fail when a value is below this (optional)."],
                "max": ["type": "number", "description": "Fail when a value is above this (optional)."],
                "allow_empty": ["type": "boolean", "description": "Succeed when the query returns no series.", "default": false],
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
        var items = [("query", query)]
        if let time = try ObservabilityAPI.time(parameters["time"]) { items.append(("time", String(time.timeIntervalSince1970))) }
        let answer = try await ObservabilityAPI.getJSON(ObservabilityAPI.url(base, "/api/v1/query", items), timeout: timeout, context: context)
        let data = try Prometheus.data(answer)
        let type = data["resultType"]?.stringValue ?? "?"
        var samples: [(metric: JSONValue, value: JSONValue)] = []
        switch type {
        case "vector":
            for series in data["result"]?.arrayValue ?? [] {
                samples.append((series["metric"] ?? [:], Prometheus.number(series["value"]?.arrayValue?.last)))
            }
        case "scalar", "string":
            samples.append(([:], type == "scalar" ? Prometheus.number(data["result"]?.arrayValue?.last) : data["result"]?.arrayValue?.last ?? .null))
        default:
            throw PluginError("unexpected result type `\(type)` (use prom.query_range for range vectors)")
        }
        let result: JSONValue = [
            "result_type": .string(type),
            "result": .array(samples.map { ["metric": $0.metric, "value": $0.value] }),
            "value": samples.count == 1 ? samples[0].value : .null,
        ]
        let summary = samples.count == 1
            ? "\(query) = \(samples[0].value.jsonText())"
            : "\(query): \(samples.count) series"
        if samples.isEmpty && parameters["allow_empty"]?.boolValue != true {
            return PluginResult(success: false, data: result, message: summary, error: "the query returned no series")
        }
        let minimum = parameters["min"]?.doubleValue
        let maximum = parameters["max"]?.doubleValue
        let outside = samples.filter { sample in
            guard let value = sample.value.doubleValue else { return false }
            return (minimum.map { value < $0 } ?? false) || (maximum.map { value > $0 } ?? false)
        }
        if let first = outside.first {
            let bound = [minimum.map { "≥ \($0)" }, maximum.map { "≤ \($0)" }].compactMap { $0 }.joined(separator: " and ")
            return PluginResult(success: false, data: result, message: summary,
                                error: "\(outside.count) value\(outside.count == 1 ? "" : "s") outside \(bound), e.g. \(first.value.jsonText()) for \(first.metric.jsonText())")
        }
        return .ok(result, message: summary)
    }
}
