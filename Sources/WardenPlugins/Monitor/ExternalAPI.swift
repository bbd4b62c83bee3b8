import AsyncHTTPClient
import Foundation
import NIOCore
import WardenPluginKit
import WardenPluginSupport

/// Authenticated GET against an external API (the seed's worked example `external_api`).
/// Base URL from `EXTERNAL_API_URL`, bearer key from `EXTERNAL_API_KEY`; the key never
/// appears in a result or a log line.
public struct ExternalAPIPlugin: Plugin {
    public let spec = PluginSpec(
        name: "external_api",
        description: "Query an external HTTP API with a bearer key from EXTERNAL_API_KEY (base URL from EXTERNAL_API_URL).",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "endpoint": [
                    "type": "string",
                    "description": "Path below the base URL, e.g. `v1/status`.",
                    "minLength": 1,
                    "maxLength": 1024,
                ],
                "params": [
                    "type": "object",
                    "description": "Query parameters; arrays repeat the key.",
                    "additionalProperties": true,
                ],
                "timeout": JSONSchema.duration("How long to wait for the whole response.", default: 30, maximum: 300),
            ],
            "required": ["endpoint"],
            "additionalProperties": false,
        ]
    )

    public static let defaultBaseURL = "https://api.example.com"
    static let bodyLimit = 4 << 20

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        guard let apiKey = context.environment["EXTERNAL_API_KEY"], !apiKey.isEmpty else {
            return .failure("API key not configured", message: "Set the EXTERNAL_API_KEY environment variable")
        }
        let base = context.environment["EXTERNAL_API_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultBaseURL
        let endpoint = try parameters.required("endpoint", \.stringValue)
        let timeout = try parameters.duration("timeout")
        let url = Self.url(base: base, endpoint: endpoint, query: parameters["params"]?.objectValue ?? [:])

        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        request.headers.add(name: "Accept", value: "application/json")

        let status: Int
        let body: ByteBuffer
        do {
            let response = try await context.httpClient.execute(request, timeout: TimeAmount(timeout))
            status = Int(response.status.code)
            let read = try await HTTPFailure.readBody(response, limit: Self.bodyLimit)
            guard !read.truncated else {
                return .failure("response too large", message: "\(url) returned more than \(Self.bodyLimit) bytes")
            }
            body = read.bytes
        } catch {
            throw HTTPFailure.error(error, url: url, timeout: timeout)
        }

        let text = String(buffer: body)
        // An API that echoes the key (error pages sometimes do) must not leak it.
        let data = ((try? JSONValue.parse(text)) ?? .object(["body": .string(text)])).redactingOccurrences(of: [apiKey])
        guard (200..<300).contains(status) else {
            return PluginResult(
                success: false,
                data: data,
                message: "\(url) answered HTTP \(status)",
                error: "HTTP \(status)",
                retry: status == 429 || status >= 500
            )
        }
        return .ok(data, message: "query succeeded: HTTP \(status)")
    }

    static func url(base: String, endpoint: String, query: JSONObject) -> String {
        var url = base.hasSuffix("/") ? String(base.dropLast()) : base
        url += endpoint.hasPrefix("/") ? endpoint : "/" + endpoint
        var items: [String] = []
        for key in query.keys.sorted() {
            let values: [JSONValue] = query[key]?.arrayValue ?? [query[key]!]
            for value in values {
                let text = value.stringValue ?? value.jsonText()
                items.append("\(percentEncode(key))=\(percentEncode(text))")
            }
        }
        return items.isEmpty ? url : url + (url.contains("?") ? "&" : "?") + items.joined(separator: "&")
    }

    private static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
