import Logging
import Testing
import WardenEngine
import WardenPluginKit
import WardenPlugins
import WardenPluginSupport
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

    /// Twenty checks of one host at once each get a connection: none waits in the client's
    /// queue and counts that wait as the endpoint's response time (behind the client's default
    /// of eight connections, the third wave measured three times the endpoint's delay). The
    /// delay is long so that a queued wave (twice the delay) stands far from a loaded machine's
    /// slow start (0.99 s against a 0.5 s delay was seen once at suite start-up).
    @Test func concurrentChecksOfOneHostDoNotQueueBehindEachOther() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let url = JSONValue.string("\(server.baseURL)/slow?ms=1500")
        let times = try await withThrowingTaskGroup(of: Double.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await run(ServiceStatusPlugin(), ["service_url": url, "timeout": 10], timeout: .seconds(20)).data["response_time"]?.doubleValue ?? 99
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(times.count == 20)
        #expect(times.max()! < 2.7, "\(times.sorted())")
    }

    /// The request is built once with the decoded options: a URL the client refuses still
    /// fails every run, naming the URL, and never decodes into a cached success.
    @Test func aURLTheClientRefusesFailsEveryRun() async throws {
        for _ in 0..<2 {
            let result = try await run(ServiceStatusPlugin(), ["service_url": "http://"])
            #expect(!result.success)
            #expect(result.message.contains("http://"), "\(result)")
        }
    }

    /// `service_status` runs in the run's own task, with no second task to abandon at the
    /// deadline (`NonBlockingPlugin`): the run's deadline, far shorter than the plugin's
    /// `timeout`, must end the exchange itself, over either client (plain HTTP, and TLS whose
    /// handshake is never answered), recorded as the run's timeout.
    @Test func theRunsDeadlineEndsAnExchangeThatNeverAnswers() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let silent = try SilentTCPListener()
        let entry = try PluginRegistry().register(ServiceStatusPlugin())
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: Logger(label: "test"), environment: [:])
        for url in ["\(server.baseURL)/hang", "https://127.0.0.1:\(silent.port)/health"] {
            let parameters = try entry.validate(["service_url": .string(url), "timeout": 60]).get()
            let started = ContinuousClock.now
            let execution = await executor.execute(entry, parameters: parameters, timeout: .milliseconds(400))
            #expect(execution.outcome == .timeout, "\(url): \(execution.result)")
            #expect(execution.result.error == "timed out after 400ms", "\(url)")
            #expect(ContinuousClock.now - started < .seconds(20), "\(url) never answers: only the run's deadline ends it")
        }
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

/// The delegate-based exchange `service_status` uses: the body is bounded but read to its
/// end, so the connection is reused; cancelling the caller cancels the request.
@Suite("HTTPFetch")
struct HTTPFetchTests {
    @Test func aLargeBodyIsBoundedDrainedAndTheConnectionReused() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let big = try await HTTPFetch.reply(to: .init(url: "\(server.baseURL)/bytes?n=300000"), timeout: .seconds(10), limit: 1000, client: sharedHTTPClient)
        #expect(big.status == .ok && big.body.readableBytes == 1000 && big.truncated)
        let small = try await HTTPFetch.reply(to: .init(url: "\(server.baseURL)/bytes?n=10"), timeout: .seconds(10), limit: 1000, client: sharedHTTPClient)
        #expect(String(buffer: small.body) == String(repeating: "x", count: 10) && !small.truncated)
        #expect(small.headers["Content-Length"] == ["10"])
        #expect(server.connections == 1)
    }

    @Test func cancellingTheCallerCancelsTheRequest() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now
        let fetch = Task {
            try await HTTPFetch.reply(to: .init(url: "\(server.baseURL)/hang"), timeout: .seconds(60), limit: 10, client: sharedHTTPClient)
        }
        while server.requests.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        fetch.cancel()
        await #expect(throws: (any Error).self) { try await fetch.value }
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
