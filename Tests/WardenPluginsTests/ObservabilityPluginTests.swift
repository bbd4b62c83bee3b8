import Foundation
import Testing
import WardenPluginKit
import WardenPlugins
import WardenTestSupport

@Suite("Prometheus", .serialized, .enabled(if: RealParts.available(TestPrometheus.available)))
struct PrometheusPluginTests {
    @Test func queriesAgainstARealPrometheus() async throws {
        let prometheus = try TestPrometheus()
        defer { prometheus.stop() }
        #expect(await prometheus.waitUntilScraped(), "Prometheus never scraped its target")
        let up = try await run(PromQueryPlugin(), ["url": .string(prometheus.baseURL), "query": #"up{job="self"}"#])
        #expect(up.success, "\(up)")
        #expect(up.data["result_type"] == "vector" && up.data["value"] == 1.0)
        #expect(up.data["result"]?[0]?["metric"]?["job"] == "self")
        let bounded = try await run(PromQueryPlugin(), ["url": .string(prometheus.baseURL), "query": #"up{job="self"}"#, "max": 0.5])
        #expect(!bounded.success && bounded.error?.hasPrefix("1 value outside ≤ 0.5") == true)
        let scalar = try await run(PromQueryPlugin(), ["url": .string(prometheus.baseURL), "query": "scalar(up) * 2"])
        #expect(scalar.success && scalar.data["result_type"] == "scalar" && scalar.data["value"] == 2.0)
        let empty = try await run(PromQueryPlugin(), ["url": .string(prometheus.baseURL), "query": "up{job=\"nothing\"}"])
        #expect(!empty.success && empty.error == "the query returned no series")
        let bad = try await run(PromQueryPlugin(), ["url": .string(prometheus.baseURL), "query": "up{"])
        #expect(!bad.success && !bad.retry && bad.error?.hasPrefix("bad_data: ") == true)

        let range = try await run(PromQueryRangePlugin(), ["url": .string(prometheus.baseURL), "query": "up", "start": "1m", "step": 1])
        #expect(range.success, "\(range)")
        let points = range.data["series"]?[0]?["values"]?.arrayValue ?? []
        #expect(!points.isEmpty && points.allSatisfy { $0[1] == 1.0 })
    }

    @Test func anUnreachablePrometheusIsTransient() async throws {
        let result = try await run(PromQueryPlugin(), ["url": .string("http://127.0.0.1:\(try TestHTTPServer.refusedPort())"), "query": "up"])
        #expect(!result.success && result.retry)
    }
}

@Suite("Loki and Sentry")
struct LogAndErrorTrackerPluginTests {
    @Test func lokiLinesNewestFirst() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let result = try await run(LokiQueryPlugin(), ["url": .string(server.baseURL), "query": #"{unit=~".+"} |= "error""#, "since": "15m"])
        #expect(result.success && result.data["count"] == 3)
        let lines = result.data["lines"]?.arrayValue ?? []
        #expect(lines.map { $0["line"] } == ["newest error", "middle error", "older error"])
        #expect(lines.first?["labels"]?["unit"] == "nginx.service")
        let request = try #require(server.requests.last)
        #expect(request.uri.contains("direction=backward") && request.uri.contains("limit=100"))
        let tooMany = try await run(LokiQueryPlugin(), ["url": .string(server.baseURL), "query": "{a=\"b\"}", "max_lines": 2])
        #expect(!tooMany.success && tooMany.error == "3 lines, at most 2 expected")
    }

    @Test func sentryIssueWithTheTokenFromTheEnvironment() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let environment = ["SENTRY_TOKEN": "sentry-test-token", "SENTRY_URL": server.baseURL]
        let issue = try await run(SentryGetIssuePlugin(), ["issue_id": "1234"], environment: environment)
        #expect(issue.success && issue.data["title"] == "ZeroDivisionError: division by zero")
        #expect(issue.data["count"] == 42 && issue.data["status"] == "unresolved")
        #expect(issue.message == "WEB-1A: ZeroDivisionError: division by zero [unresolved, 42 events]")
        let missing = try await run(SentryGetIssuePlugin(), ["issue_id": "404"], environment: environment)
        #expect(!missing.success && missing.error == "The requested resource does not exist (HTTP 404)")
        let wrongToken = try await run(SentryGetIssuePlugin(), ["issue_id": "1"], environment: ["SENTRY_TOKEN": "nope", "SENTRY_URL": server.baseURL])
        #expect(!wrongToken.success && wrongToken.error == "Invalid token (HTTP 401)")
        let noToken = try await run(SentryGetIssuePlugin(), ["issue_id": "1"], environment: ["SENTRY_URL": server.baseURL])
        #expect(!noToken.success && noToken.error == "SENTRY_TOKEN is not set")
    }
}
