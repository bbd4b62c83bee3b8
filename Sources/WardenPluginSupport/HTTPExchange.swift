import AsyncHTTPClient
import NIOCore

/// One request over the shared client with its answer read as text: what the JSON API
/// clients (Kubernetes, Prometheus/Loki/Sentry, webhooks) all need.
public enum HTTPExchange {
    /// The status and at most `limit` bytes of the body; transport errors become plugin
    /// failures naming `url` (pass it with any secret already redacted).
    public static func text(_ request: HTTPClientRequest, url: String, timeout: Duration, limit: Int, client: HTTPClient) async throws -> (status: Int, text: String) {
        do {
            let response = try await client.execute(request, timeout: TimeAmount(timeout))
            let body = try await HTTPFailure.readBody(response, limit: limit)
            return (Int(response.status.code), String(buffer: body.bytes))
        } catch {
            throw HTTPFailure.error(error, url: url, timeout: timeout)
        }
    }
}
