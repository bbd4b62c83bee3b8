import Testing
import WardenPluginKit
import WardenPlugins
import WardenTestSupport

@Suite("service_status against a loopback server")
struct ServiceStatusTests {
    @Test func healthyEndpoint() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let result = try await run(ServiceStatusPlugin(), ["service_url": .string("\(server.baseURL)/health")])
        #expect(result.success)
        #expect(result.data["status_code"] == 200)
        #expect(result.data["healthy"] == true)
        let seconds = try #require(result.data["response_time"]?.doubleValue)
        #expect(seconds > 0 && seconds < 5)
        #expect(server.requests.last?.uri == "/health")
    }

    @Test func serverErrorIsUnhealthyAndRetryable() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let result = try await run(ServiceStatusPlugin(), ["service_url": .string("\(server.baseURL)/status/500")])
        #expect(!result.success)
        #expect(result.data["status_code"] == 500)
        #expect(result.data["healthy"] == false)
        #expect(result.retry)
        #expect(result.message.contains("HTTP 500"))
    }

    @Test func expectedStatusAcceptsListedCodes() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let url = JSONValue.string("\(server.baseURL)/status/204")
        #expect(try await run(ServiceStatusPlugin(), ["service_url": url, "expected_status": [200, 204]]).success)
        let single = try await run(ServiceStatusPlugin(), ["service_url": url, "expected_status": 204])
        #expect(single.success, "\(single)")
        let notFound = try await run(ServiceStatusPlugin(), ["service_url": .string("\(server.baseURL)/status/404")])
        #expect(!notFound.success && !notFound.retry)
    }

    @Test func slowEndpointTimesOutWithRetry() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let url = "\(server.baseURL)/hang"
        let started = ContinuousClock.now
        let result = try await run(ServiceStatusPlugin(), ["service_url": .string(url), "timeout": 0.5])
        #expect(!result.success)
        #expect(result.retry)
        #expect(result.error == "timed out after 0.5s")
        #expect(result.message.contains(url))
        #expect(ContinuousClock.now - started < .seconds(10), "the endpoint never answers")

        let slow = try await run(ServiceStatusPlugin(), ["service_url": .string("\(server.baseURL)/slow?ms=200"), "timeout": 2])
        #expect(slow.success)
        #expect((slow.data["response_time"]?.doubleValue ?? 0) >= 0.2)
    }

    @Test func refusedConnectionFailsFastWithRetry() async throws {
        let url = "http://127.0.0.1:\(try TestHTTPServer.refusedPort())/health"
        let started = ContinuousClock.now
        let result = try await run(ServiceStatusPlugin(), ["service_url": .string(url), "timeout": 20], timeout: .seconds(30))
        #expect(!result.success)
        #expect(result.retry)
        #expect(result.error == "connection refused")
        #expect(result.message.contains(url))
        // Refused is known at once: far sooner than the 20 s timeout, even on a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}

@Suite("external_api")
struct ExternalAPITests {
    @Test func sendsBearerKeyAndQueryAndNeverLeaksTheKey() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let key = "sk-test-123456"
        let result = try await run(
            ExternalAPIPlugin(),
            ["endpoint": "v1/items", "params": ["q": "a b", "tag": ["x", "y"]]],
            environment: ["EXTERNAL_API_KEY": key, "EXTERNAL_API_URL": server.baseURL]
        )
        #expect(result.success)
        let request = try #require(server.requests.last)
        #expect(request.headers["authorization"] == "Bearer \(key)")
        #expect(request.uri == "/v1/items?q=a%20b&tag=x&tag=y")
        #expect(result.data["path"] == "/v1/items")
        // The echo server returns the Authorization header in its body: it must come back scrubbed.
        #expect(result.data["authorization"] == "Bearer ***")
        #expect(!result.json.jsonText().contains(key))
    }

    @Test func missingKeyGivesTheSeedsError() async throws {
        let result = try await run(ExternalAPIPlugin(), ["endpoint": "x"], environment: [:])
        #expect(!result.success)
        #expect(result.error == "API key not configured")
        #expect(result.message.contains("EXTERNAL_API_KEY"))
    }

    @Test func httpErrorsAndTransientStatus() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let environment = ["EXTERNAL_API_KEY": "k", "EXTERNAL_API_URL": server.baseURL]
        let unavailable = try await run(ExternalAPIPlugin(), ["endpoint": "status/503"], environment: environment)
        #expect(!unavailable.success && unavailable.retry)
        let forbidden = try await run(ExternalAPIPlugin(), ["endpoint": "status/403"], environment: environment)
        #expect(!forbidden.success && !forbidden.retry)
        #expect(forbidden.data["body"] == "status 403")
    }
}
