import AsyncHTTPClient
import WardenPluginKit

extension PluginContext {
    /// The HTTP client the host shares between runs (connection pooling, one set of event
    /// loops); AsyncHTTPClient's process-wide client when the host provided none.
    public var httpClient: HTTPClient {
        services.get(HTTPClient.self) ?? .shared
    }

    /// The plain-HTTP/1.1 client for `http://` checks; the process-wide one unless the host
    /// provided its own.
    public var plainHTTPClient: PlainHTTPClient {
        services.get(PlainHTTPClient.self) ?? .shared
    }
}
