import AsyncHTTPClient
import Foundation
import NIOCore
import WardenPluginKit
import WardenPluginSupport

/// GET a JSON document from an observability API (Prometheus, Loki, Sentry) with the
/// shared client, turning transport and HTTP errors into plugin errors.
enum ObservabilityAPI {
    static func getJSON(_ url: String, headers: [String: String] = [:], timeout: Duration, context: PluginContext) async throws -> (status: Int, body: JSONValue) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "warden")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let (status, text) = try await HTTPExchange.text(
            request, url: url.redactingOccurrences(of: context.secrets), timeout: timeout, limit: 8 << 20, client: context.httpClient)
        guard let body = try? JSONValue.parse(text) else {
            throw PluginError("HTTP \(status) with a body that is not JSON", message: "unexpected answer from \(url)", retry: status >= 500)
        }
        return (status, body)
    }

    /// `base` + `path` + query items, percent-encoded.
    static func url(_ base: String, _ path: String, _ query: [(String, String)]) -> String {
        var components = URLComponents(string: base.hasSuffix("/") ? String(base.dropLast()) + path : base + path)
        components?.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        // `+` means a space to most servers: encode it.
        return components?.url?.absoluteString.replacingOccurrences(of: "+", with: "%2B") ?? base + path
    }

    /// A time given as RFC 3339, Unix seconds, or a duration ago (`1h`, `30m`).
    static func time(_ value: JSONValue?, now: Date = Date()) throws -> Date? {
        guard let value else { return nil }
        if let seconds = value.doubleValue { return Date(timeIntervalSince1970: seconds) }
        guard let text = value.stringValue else { return nil }
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        if let ago = try? DurationText.parse(text) { return now.addingTimeInterval(-ago.seconds) }
        throw PluginError("invalid time `\(text)`: expected RFC 3339, Unix seconds, or a duration ago such as 1h")
    }
}

