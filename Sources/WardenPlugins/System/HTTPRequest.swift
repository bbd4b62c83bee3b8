import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import WardenPluginKit
import WardenPluginSupport

/// Sends one HTTP request (a webhook, a call into external automation); rules template its
/// URL and body. Dry run: reports the request and sends nothing.
public struct HTTPRequestPlugin: Plugin {
    public let spec = PluginSpec(
        name: "http_request",
        description: "Send an HTTP request (webhook, external automation) with headers and a JSON body; fails on an unexpected status.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": [
                "method": ["type": "string", "description": "HTTP method.", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "POST"],
                "url": ["type": "string", "description": "The URL (http or https).", "pattern": "^https?://", "maxLength": 2048],
                "headers": ["type": "object", "description": "Extra request headers.", "additionalProperties": ["type": "string"], "default": [:]],
                "body": ["description": "A JSON body (sent as application/json)."],
                "expected_status": [
                    "type": ["integer", "array"], "description": "Status code(s) that count as success.", "default": [200, 201, 202, 204],
                    "items": ["type": "integer", "minimum": 100, "maximum": 599], "minimum": 100, "maximum": 599,
                ],
                "timeout": JSONSchema.duration("How long the whole exchange may take.", default: 10, maximum: 300),
            ],
            "required": ["url"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let url = try parameters.required("url", \.stringValue)
        let method = parameters["method"]?.stringValue ?? "POST"
        let timeout = try parameters.duration("timeout")
        let expected = try parameters.decode(ExpectedStatus.self).expectedStatus.values
        let headers = (parameters["headers"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        if context.dryRun {
            return .ok(["method": .string(method), "url": .string(url), "body": parameters["body"] ?? .null, "dry_run": true],
                       message: "dry run: would send \(method) \(url)")
        }
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "User-Agent", value: "warden-http-request")
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request.headers.add(name: name, value: value) }
        if let body = parameters["body"] {
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.jsonText()))
        }
        let (status, text) = try await HTTPExchange.text(request, url: url, timeout: timeout, limit: 256 << 10, client: context.httpClient)
        let data: JSONValue = [
            "status_code": .int(status),
            "body": (try? JSONValue.parse(text)) ?? .string(String(text.prefix(8192))),
        ]
        if expected.contains(status) {
            return .ok(data, message: "\(method) \(url): HTTP \(status)")
        }
        return PluginResult(success: false, data: data, message: "\(method) \(url): HTTP \(status)",
                            error: "unexpected status \(status)", retry: status >= 500 || status == 429)
    }
}
