import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import WardenPluginKit
import WardenPluginSupport

/// HTTP health check of one URL (the seed's worked example `service_status`).
public struct ServiceStatusPlugin: NonBlockingPlugin {
    public let spec = PluginSpec(
        name: "service_status",
        description: "Check a service's health endpoint over HTTP: status code, health and response time. Succeeds only on an expected status (default 200).",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "service_url": [
                    "type": "string",
                    "description": "Health-check URL (http or https).",
                    "pattern": "^https?://",
                    "maxLength": 2048,
                ],
                "timeout": JSONSchema.duration("How long to wait for the whole response.", default: 5, maximum: 300),
                "expected_status": [
                    "type": ["integer", "array"],
                    "description": "Status code(s) that count as healthy.",
                    "default": 200,
                    "minimum": 100,
                    "maximum": 599,
                    "items": ["type": "integer", "minimum": 100, "maximum": 599],
                    "minItems": 1,
                ],
            ],
            "required": ["service_url"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let options = try parameters.decode(Options.self)
        let url = options.serviceUrl
        let timeout = options.timeout.duration
        let expected = options.expectedStatus.values

        let started = ContinuousClock.now
        // The run's deadline bounds the exchange too (`NonBlockingPlugin`): both clients bound
        // the whole exchange, reply body included.
        let bound = min(timeout, context.remaining)
        let statusCode: Int
        do {
            let request = try options.request.get()
            let reply = if let target = options.plainTarget {
                try await context.plainHTTPClient.get(target, timeout: bound, limit: Self.bodyLimit)
            } else {
                try await HTTPFetch.reply(to: request, timeout: bound, limit: Self.bodyLimit, client: context.httpClient)
            }
            statusCode = Int(reply.status.code)
        } catch {
            if bound < timeout && HTTPFailure.isTimeout(error) {
                throw PluginTimedOut("\(url) did not answer before the run's deadline")
            }
            throw HTTPFailure.error(error, url: url, timeout: timeout)
        }
        let elapsed = ContinuousClock.now - started
        let responseTime = elapsed.seconds
        let healthy = expected.contains(statusCode)
        let data: JSONValue = [
            "status_code": .int(statusCode),
            "healthy": .bool(healthy),
            "response_time": .double(responseTime),
        ]
        let milliseconds = Int((responseTime * 1000).rounded())
        if healthy {
            return .ok(data, message: "\(url) is healthy: HTTP \(statusCode) in \(milliseconds) ms")
        }
        let expectedText = expected.map(String.init).joined(separator: " or ")
        return PluginResult(
            success: false,
            data: data,
            message: "\(url) is unhealthy: HTTP \(statusCode) (expected \(expectedText)) in \(milliseconds) ms",
            error: "unexpected status \(statusCode)",
            // A 5xx is the server's own trouble and often passes; a 4xx will not fix itself.
            retry: statusCode >= 500
        )
    }

    static let headers: HTTPHeaders = ["User-Agent": "warden-service-status"]
    /// Read and dropped beyond this, so the connection is reused.
    static let bodyLimit = 64 << 10

    /// The schema's parameters, defaults applied, and the request they make. Decoded once per
    /// job (`JSONObject.decode`), so the URL is parsed once too: parsing it was 4 % of a check.
    /// A class: each run takes the job's decoded options, and a struct holding the request's
    /// URL, headers and plain target was copied field by field (a retain and release each).
    final class Options: Decodable, Sendable {
        let serviceUrl: String
        let timeout: DurationParameter
        let expectedStatus: OneOrMany<Int>
        /// A URL the client refuses (no host, an unsupported scheme) fails each run, as the
        /// request would.
        let request: Result<HTTPClient.Request, HTTPClientError>
        /// An `http://` URL goes over `PlainHTTPClient`'s kept-alive connections; https
        /// over AsyncHTTPClient (TLS).
        let plainTarget: PlainHTTPClient.Target?

        private enum CodingKeys: CodingKey {
            case serviceUrl, timeout, expectedStatus
        }

        init(from decoder: any Decoder) throws {
            let values = try decoder.container(keyedBy: CodingKeys.self)
            serviceUrl = try values.decode(String.self, forKey: .serviceUrl)
            timeout = try values.decode(DurationParameter.self, forKey: .timeout)
            expectedStatus = try values.decode(OneOrMany<Int>.self, forKey: .expectedStatus)
            do {
                request = .success(try HTTPClient.Request(url: serviceUrl, method: .GET, headers: ServiceStatusPlugin.headers))
            } catch let error as HTTPClientError {
                request = .failure(error)
            } catch {
                request = .failure(.invalidURL)
            }
            plainTarget = (try? request.get()).flatMap(PlainHTTPClient.Target.init)
        }
    }
}

/// `expected_status` as `http.request` shares it with `service_status`.
struct ExpectedStatus: Decodable {
    let expectedStatus: OneOrMany<Int>
}
