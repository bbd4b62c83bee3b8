import Foundation
import WardenPluginKit

/// What prom.query and prom.query_range share: parameters and the API's envelope.
enum Prometheus {
    static let commonParameters: JSONObject = [
        "url": ["type": "string", "description": "Prometheus base URL.", "default": "http://127.0.0.1:9090", "pattern": "^https?://"],
        "query": ["type": "string", "description": "PromQL expression.", "minLength": 1, "maxLength": 8192],
        "timeout": JSONSchema.duration("How long the request may take.", default: 10, maximum: 300),
    ]

    /// The `data` of a `{"status": "success", "data": …}` answer, or a clear error.
    static func data(_ answer: (status: Int, body: JSONValue)) throws -> JSONValue {
        if answer.body["status"]?.stringValue == "success", let data = answer.body["data"] { return data }
        let kind = answer.body["errorType"]?.stringValue ?? "HTTP \(answer.status)"
        let message = answer.body["error"]?.stringValue ?? "unexpected answer"
        // Bad queries (400, 422) will not improve by retrying; an overloaded server may.
        throw PluginError("\(kind): \(message)", message: "Prometheus refused the query", retry: answer.status >= 500 || answer.status == 429)
    }

    static func number(_ text: JSONValue?) -> JSONValue {
        guard let text = text?.stringValue, let value = Double(text) else { return .null }
        return value.isFinite ? .double(value) : .string(text)
    }
}
