import AsyncHTTPClient
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing
import WardenPluginKit
import WardenPlugins
import WardenPluginSupport
import WardenTestSupport

/// The kept-alive plain-HTTP/1.1 exchange `service_status` uses for `http://` URLs, against a
/// real loopback server that counts its connections.
@Suite("PlainHTTPClient")
struct PlainHTTPClientTests {
    private func target(_ url: String) throws -> PlainHTTPClient.Target {
        try #require(PlainHTTPClient.Target(HTTPClient.Request(url: url, headers: ["User-Agent": "test"])))
    }

    private func get(_ client: PlainHTTPClient, _ url: String, timeout: Duration = .seconds(10), limit: Int = 1000) async throws -> HTTPFetch.Reply {
        try await client.get(target(url), timeout: timeout, limit: limit)
    }

    @Test func checksOfOneHostShareOneKeptConnection() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        for index in 0..<50 {
            let reply = try await get(client, "\(server.baseURL)/health?n=\(index)")
            #expect(reply.status == .ok && String(buffer: reply.body) == "ok")
        }
        #expect(server.connections == 1)
        #expect(client.idleConnections == 1)
        let request = try #require(server.requests.last)
        #expect(request.uri == "/health?n=49")
        #expect(request.headers["host"] == "127.0.0.1:\(server.port)")
        #expect(request.headers["user-agent"] == "test")
    }

    @Test func aLargeBodyIsBoundedAndTheConnectionStillReused() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        let big = try await get(client, "\(server.baseURL)/bytes?n=300000", limit: 1000)
        #expect(big.status == .ok && big.body.readableBytes == 1000 && big.truncated)
        let small = try await get(client, "\(server.baseURL)/bytes?n=10", limit: 1000)
        #expect(String(buffer: small.body) == String(repeating: "x", count: 10) && !small.truncated)
        #expect(small.headers["Content-Length"] == ["10"])
        #expect(server.connections == 1)
    }

    @Test func aReplySayingCloseIsNotReused() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        for _ in 0..<3 {
            #expect(try await get(client, "\(server.baseURL)/close").status == .ok)
        }
        #expect(server.connections == 3)
        #expect(client.idleConnections == 0)
    }

    /// A kept connection the server closed unanswered (its keep-alive timeout racing the next
    /// request) costs the check nothing: the GET goes once more on a new connection.
    @Test func aKeptConnectionClosedUnansweredIsRetriedOnANewOne() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        for _ in 0..<3 {
            #expect(try await get(client, "\(server.baseURL)/once-per-connection").status == .ok)
        }
        #expect(server.connections == 3)
        #expect(server.requests.count == 5, "one first request, then a refused and a retried one per later check")
    }

    /// A connection that closes unanswered is the endpoint's failure: a new one is not tried
    /// again, a kept one once, on a new connection.
    @Test func aConnectionClosedUnansweredFailsTheCheckAfterAtMostOneRetry() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        await #expect(throws: HTTPClientError.remoteConnectionClosed) { try await get(client, "\(server.baseURL)/drop") }
        #expect(server.requests.count == 1)
        _ = try await get(client, "\(server.baseURL)/health")
        await #expect(throws: HTTPClientError.remoteConnectionClosed) { try await get(client, "\(server.baseURL)/drop") }
        #expect(server.requests.count == 4, "the kept connection's refusal was retried once")
        #expect(server.connections == 3)
        let failure = HTTPFailure.error(HTTPClientError.remoteConnectionClosed, url: "u", timeout: .seconds(1))
        #expect(failure.error == "connection closed" && failure.retry)
    }

    @Test func aTimedOutExchangeClosesItsConnection() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        let started = ContinuousClock.now
        await #expect(throws: HTTPClientError.deadlineExceeded) {
            try await get(client, "\(server.baseURL)/hang", timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(client.idleConnections == 0)
        #expect(try await get(client, "\(server.baseURL)/health").status == .ok)
        #expect(server.connections == 2, "the hung connection is not reused")
    }

    @Test func cancellingTheCallerClosesTheConnection() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        let url = try target("\(server.baseURL)/hang")
        let started = ContinuousClock.now
        let fetch = Task { try await client.get(url, timeout: .seconds(60), limit: 10) }
        while server.requests.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        fetch.cancel()
        await #expect(throws: CancellationError.self) { try await fetch.value }
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(client.idleConnections == 0)
    }

    /// A kept connection left unused for the idle timeout is closed and leaves the pool; one
    /// used more often than that is kept, however long it lives.
    @Test func anIdleConnectionIsClosedAndABusyOneKept() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        // Two seconds: a connection counts as idle from when it is made, and on a loaded machine
        // (the whole suite in parallel) a new one can wait 400 ms for its first request, or a
        // 100 ms sleep between two requests last a second (it failed so at a one-second timeout).
        let timeout = Duration.seconds(2)
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton, idleTimeout: .seconds(2))
        // Busy: a request every 100 ms for one and a half times the timeout, all on the first
        // connection, unless the machine stalled the loop for a whole timeout (then closing it
        // was right, and the longest gap says so).
        var longestGap = Duration.zero
        var last = ContinuousClock.now
        for _ in 0..<30 {
            #expect(try await get(client, "\(server.baseURL)/health").status == .ok)
            longestGap = max(longestGap, ContinuousClock.now - last)
            last = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(100))
        }
        if longestGap < timeout {
            #expect(server.connections == 1, "longest gap \(longestGap)")
        }
        #expect(client.idleConnections == 1)
        let connections = server.connections
        // Idle: closed after the timeout, and the next check connects anew.
        let idleSince = ContinuousClock.now
        while client.idleConnections > 0 && ContinuousClock.now - idleSince < .seconds(15) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(client.idleConnections == 0)
        #expect(ContinuousClock.now - idleSince >= .milliseconds(1_600))
        #expect(try await get(client, "\(server.baseURL)/health").status == .ok)
        #expect(server.connections == connections + 1)
    }

    @Test func aRefusedConnectIsReportedAtOnce() async throws {
        let client = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)
        let url = "http://127.0.0.1:\(try TestHTTPServer.refusedPort())/health"
        let failure = await #expect(throws: (any Error).self) { try await get(client, url, timeout: .seconds(20)) }
        #expect(HTTPFailure.error(try #require(failure), url: url, timeout: .seconds(20)).error == "connection refused")
    }

    @Test func aTargetsRequestIsWhatNIOsEncoderWrites() throws {
        for url in ["http://example.com", "http://127.0.0.1:8080/health?n=1&w=%2F", "http://[::1]:9/a%20b"] {
            let target = try #require(PlainHTTPClient.Target(HTTPClient.Request(url: url, headers: ["User-Agent": "warden", "X-Token": "a b"])))
            let channel = EmbeddedChannel(handler: HTTPRequestEncoder())
            try channel.writeOutbound(HTTPClientRequestPart.head(target.head))
            try channel.writeOutbound(HTTPClientRequestPart.end(nil))
            var encoded = ByteBuffer()
            while let part = try channel.readOutbound(as: IOData.self) {
                guard case .byteBuffer(var bytes) = part else { continue }
                encoded.writeBuffer(&bytes)
            }
            #expect(String(buffer: target.wire) == String(buffer: encoded), "\(url)")
            _ = try channel.finish()
        }
    }

    @Test func onlyPlainHTTPURLsAreTargets() throws {
        #expect(PlainHTTPClient.Target(try HTTPClient.Request(url: "https://example.com/x")) == nil)
        let v6 = try #require(PlainHTTPClient.Target(try HTTPClient.Request(url: "http://[::1]:8080/a%20b?q=1&r=%2F")))
        #expect(v6.host == "::1" && v6.port == 8080)
        #expect(v6.head.headers["Host"] == ["[::1]:8080"])
        #expect(v6.head.uri == "/a%20b?q=1&r=%2F")
        let bare = try #require(PlainHTTPClient.Target(try HTTPClient.Request(url: "http://example.com")))
        #expect(bare.head.uri == "/" && bare.head.headers["Host"] == ["example.com"] && bare.port == 80)
        // A header that would split the request is never sent as it is.
        let split = try HTTPClient.Request(url: "http://example.com/", headers: ["X-Note": "a\r\nX-Injected: 1"])
        #expect(PlainHTTPClient.Target(split) == nil)
        #expect(PlainHTTPClient.Target(try HTTPClient.Request(url: "http://example.com/", headers: ["Bad Name": "x"])) == nil)
        #expect(PlainHTTPClient.Target(try HTTPClient.Request(url: "http://example.com/", method: .POST)) == nil)
    }
}
