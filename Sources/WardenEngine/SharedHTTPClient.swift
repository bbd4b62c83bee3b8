import AsyncHTTPClient
import NIOCore

/// The one HTTP client every plugin shares (connection pooling across runs).
public enum SharedHTTPClient {
    /// Connect timeout kept short: async-http-client retries a refused connection until it
    /// expires, and a health check must report "refused" promptly.
    public static let connectTimeout: TimeAmount = .seconds(3)
    /// Connections kept to one host; beyond them, requests wait in the client's queue.
    public static let connectionsPerHost = 64

    public static func make() -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,  // a health check reports what the endpoint itself answers
            timeout: .init(connect: connectTimeout)
        )
        // Connections per host up to what the daemon's limiter lets run at once (its own cap):
        // a check queued behind the client's default of 8 counted its wait in the pool as the
        // endpoint's response time, and scheduled and cancelled a timeout for it.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        // Retrying is the engine's job (tenacity-style, recorded per attempt); a pool that
        // silently retries a refused connect would hide the failure until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        // No distributed tracing: a span per request was about 35,000 instructions a check
        // (callgrind, BENCHMARKS.md) with nothing to report it to.
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}
