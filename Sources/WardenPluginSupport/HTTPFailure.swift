import AsyncHTTPClient
import NIOCore
import WardenPluginKit

/// Turns an HTTP client error into a plugin failure that says what happened, for which
/// URL, and whether it is worth retrying (refused, reset and timed-out connections are).
/// A target that did not answer is `critical` (it is down or unreachable, as check_http
/// says); a URL that cannot be requested is `unknown` (the check could not run).
public enum HTTPFailure {
    /// Whether the client gave up on time (of the request, its connection or its reply).
    public static func isTimeout(_ error: any Error) -> Bool {
        guard let clientError = error as? HTTPClientError else { return false }
        return [
            .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout,
        ].contains(clientError)
    }

    public static func error(_ error: any Error, url: String, timeout: Duration) -> PluginError {
        if let clientError = error as? HTTPClientError {
            if isTimeout(clientError) {
                return PluginError(
                    "timed out after \(timeout.formattedSeconds)",
                    message: "\(url) did not answer within \(timeout.formattedSeconds)",
                    retry: true, severity: .critical
                )
            }
            if [.invalidURL, .emptyHost, .emptyScheme].contains(clientError) || "\(clientError)".contains("unsupportedScheme") {
                return PluginError("invalid URL", message: "\(url) is not a valid http(s) URL: \(clientError)")
            }
            if clientError == .remoteConnectionClosed {
                return PluginError("connection closed", message: "\(url) closed the connection before answering", retry: true, severity: .critical)
            }
        }
        if error is CancellationError {
            return PluginError("cancelled", message: "request to \(url) was cancelled", retry: true)
        }
        let detail = String(describing: error)
        if detail.contains("connectionRefused") || detail.contains("Connection refused") || detail.contains("errno: 111") {
            return PluginError("connection refused", message: "\(url) refused the connection", retry: true, severity: .critical)
        }
        // Everything else here is a network-level failure (DNS, reset, TLS): transient by nature.
        return PluginError(detail, message: "request to \(url) failed: \(detail)", retry: true, severity: .critical)
    }

    /// Drains a response body, keeping at most `limit` bytes, so the connection can be reused.
    public static func readBody(_ response: HTTPClientResponse, limit: Int) async throws -> (bytes: ByteBuffer, truncated: Bool) {
        var kept = BodyPrefix(limit: limit)
        for try await chunk in response.body { kept.append(chunk) }
        return (kept.bytes, kept.truncated)
    }
}

/// The first `limit` bytes of a body as its chunks arrive; the rest is dropped and noted.
struct BodyPrefix {
    let limit: Int
    private(set) var bytes = ByteBuffer()
    private(set) var truncated = false

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ chunk: ByteBuffer) {
        var chunk = chunk
        let room = limit - bytes.readableBytes
        if chunk.readableBytes > room {
            truncated = true
            if room > 0, let slice = chunk.readSlice(length: room) { bytes.writeImmutableBuffer(slice) }
        } else {
            bytes.writeBuffer(&chunk)
        }
    }
}
