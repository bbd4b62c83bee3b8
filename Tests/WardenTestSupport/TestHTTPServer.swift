import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP/1.1 server on 127.0.0.1 with an ephemeral port, for plugin tests.
///
/// Routes: `/health` → 200; `/status/N` → N; `/slow?ms=N` → 200 after N ms;
/// `/hang` → accepts and never answers; `/close` → 200 with `Connection: close`, then closes;
/// `/once-per-connection` → 200 for a connection's first such request, closed unanswered for
/// any later one; `/drop` → closed unanswered; anything else → 200 with a JSON echo of the
/// request (`method`, `path`, `query`, `authorization`), which lets tests check headers
/// and see that a plugin scrubs secrets an API echoes back.
public final class TestHTTPServer: Sendable {
    public struct Request: Sendable, Hashable {
        public let method: String
        public let uri: String
        public let headers: [String: String]
    }

    public let port: Int
    private let channel: any Channel
    private let log: RequestLog

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var requests: [Request] { log.all }
    /// Connections accepted so far: a client that reuses its connection keeps this at one.
    public var connections: Int { log.connections.withLock { $0 } }

    /// Marks `/service?key=…` broken (503) until `/service/fix?key=…` is requested.
    public func breakService(_ key: String) { log.broken.withLock { _ = $0.insert(key) } }
    public func isBroken(_ key: String) -> Bool { log.broken.withLock { $0.contains(key) } }
    /// Answers the next `count` requests for `/service?key=…`, then accepts later ones and
    /// never answers them until `releaseService`: a test can then know that no further check
    /// completes, however slowly it watches.
    public func holdService(_ key: String, afterAnswering count: Int) { log.holds.withLock { $0[key] = count } }
    public func releaseService(_ key: String) { log.holds.withLock { _ = $0.removeValue(forKey: key) } }

    public static func start() async throws -> TestHTTPServer {
        let log = RequestLog()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    log.connections.withLock { $0 += 1 }
                    try channel.pipeline.syncOperations.addHandler(RouteHandler(log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestHTTPServer(channel: channel, port: channel.localAddress?.port ?? 0, log: log)
    }

    private init(channel: any Channel, port: Int, log: RequestLog) {
        self.channel = channel
        self.port = port
        self.log = log
    }

    public func stop() async {
        try? await channel.close()
    }

    /// A loopback port that was free a moment ago, for a server the test starts on it.
    public static func freePort() throws -> Int {
        let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).wait()
        let port = socket.localAddress?.port ?? 1
        try socket.close().wait()
        return port
    }

    /// A loopback port where connecting is refused at once, for as long as the tests run: a
    /// socket stays bound to it without listening. A port merely found free could be taken by
    /// another test's server, or be the ephemeral source port of a connection to itself (a
    /// TCP self-connect), and then accept: a PostgreSQL check against it read "connection
    /// reset by peer" instead of "connection refused" under the parallel suite.
    public static func refusedPort() throws -> Int {
        let (descriptor, port) = try loopbackSocket(listening: nil)
        heldRefusedPorts.withLock { $0.append(descriptor) }
        return port
    }
}

/// The sockets that keep `refusedPort()`'s ports bound; closed when the test process exits.
private let heldRefusedPorts = Mutex<[Int32]>([])

final class RequestLog: Sendable {
    private let storage = Mutex<[TestHTTPServer.Request]>([])
    /// Services that `/service/break` marked broken (by key).
    let broken = Mutex<Set<String>>([])
    /// Services whose requests are held (by key): how many more are answered first.
    let holds = Mutex<[String: Int]>([:])
    let connections = Mutex(0)
    func append(_ request: TestHTTPServer.Request) { storage.withLock { $0.append(request) } }
    var all: [TestHTTPServer.Request] { storage.withLock { $0 } }
}

private final class RouteHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let log: RequestLog
    private var head: HTTPRequestHead?
    /// `/once-per-connection` requests seen on this connection.
    private var answered = 0

    init(log: RequestLog) { self.log = log }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            var headers: [String: String] = [:]
            for (name, value) in head.headers { headers[name.lowercased()] = value }
            log.append(.init(method: "\(head.method)", uri: head.uri, headers: headers))
            route(head, headers: headers, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, headers: [String: String], context: ChannelHandlerContext) {
        let components = URLComponents(string: head.uri)
        let path = components?.path ?? head.uri
        let query = Dictionary(
            (components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, second in first + "," + second })
        if path == "/health" {
            respond(context, status: .ok, body: "ok")
        } else if path.hasPrefix("/status/"), let code = Int(path.dropFirst("/status/".count)) {
            // 204 and 304 have no body (RFC 9110): one here was read as garbage before the next
            // response on the kept-alive connection, which the client then closed.
            respond(context, status: HTTPResponseStatus(statusCode: code), body: [204, 304].contains(code) ? "" : "status \(code)")
        } else if path == "/slow" {
            let delay = Int64(query["ms"] ?? "") ?? 1000
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(delay)) {
                Self.write(bound.value, status: .ok, body: "slow", contentType: "text/plain")
            }
        } else if path == "/flaky" {
            // The first `fail` requests for a `key` get 503, later ones 200: a service that
            // recovers, for retry tests.
            let key = query["key"] ?? ""
            let failures = Int(query["fail"] ?? "") ?? 1
            let seen = log.all.filter { URLComponents(string: $0.uri)?.path == "/flaky" && $0.uri.contains("key=\(key)") }.count
            if seen <= failures {
                respond(context, status: .serviceUnavailable, body: "failing (\(seen)/\(failures))")
            } else {
                respond(context, status: .ok, body: "recovered")
            }
        } else if path == "/loki/api/v1/query_range" {
            // Loki's documented answer: streams with [nanosecond timestamp, line] values.
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            let query = query["query"] ?? ""
            let body: [String: Any] = [
                "status": "success",
                "data": [
                    "resultType": "streams",
                    "result": [
                        ["stream": ["unit": "nginx.service", "query": query], "values": [["\(now - 2_000_000_000)", "older error"], ["\(now - 1_000_000_000)", "newest error"]]],
                        ["stream": ["unit": "php-fpm.service", "query": query], "values": [["\(now - 1_500_000_000)", "middle error"]]],
                    ],
                ],
            ]
            let data = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
            respond(context, status: .ok, body: String(decoding: data, as: UTF8.self), contentType: "application/json")
        } else if path.hasPrefix("/api/0/issues/") {
            // Sentry's issue API: the token `sentry-test-token` is accepted, issue 404 does not exist.
            let id = path.dropFirst("/api/0/issues/".count).split(separator: "/").first.map(String.init) ?? ""
            if headers["authorization"] != "Bearer sentry-test-token" {
                respond(context, status: .unauthorized, body: #"{"detail":"Invalid token"}"#, contentType: "application/json")
            } else if id == "404" {
                respond(context, status: .notFound, body: #"{"detail":"The requested resource does not exist"}"#, contentType: "application/json")
            } else {
                let issue = #"{"id":"\#(id)","shortId":"WEB-1A","title":"ZeroDivisionError: division by zero","culprit":"app.views in index","status":"unresolved","level":"error","count":"42","userCount":7,"firstSeen":"2026-11-20T10:00:00Z","lastSeen":"2026-11-24T09:00:00Z","permalink":"https://sentry.example/issues/\#(id)/"}"#
                respond(context, status: .ok, body: issue, contentType: "application/json")
            }
        } else if path == "/service" {
            // A service that stays broken until `/service/fix` (a remediation) repairs it.
            let key = query["key"] ?? ""
            let held = log.holds.withLock { holds -> Bool in
                guard let left = holds[key] else { return false }
                if left == 0 { return true }
                holds[key] = left - 1
                return false
            }
            if held { return }
            if log.broken.withLock({ $0.contains(key) }) {
                respond(context, status: .serviceUnavailable, body: "broken")
            } else {
                respond(context, status: .ok, body: "healthy")
            }
        } else if path == "/service/break" {
            log.broken.withLock { _ = $0.insert(query["key"] ?? "") }
            respond(context, status: .ok, body: "broken now")
        } else if path == "/service/fix" {
            log.broken.withLock { _ = $0.remove(query["key"] ?? "") }
            respond(context, status: .ok, body: "fixed")
        } else if path == "/bytes", let count = Int(query["n"] ?? "") {
            respond(context, status: .ok, body: String(repeating: "x", count: count))
        } else if path == "/hang" {
            return  // accept, read, never answer
        } else if path == "/close" {
            // Answers, says so, and closes: the connection must not be reused.
            Self.write(context, status: .ok, body: "ok", contentType: "text/plain", closing: true)
        } else if path == "/drop" {
            context.close(promise: nil)  // reads the request, closes without a word
        } else if path == "/once-per-connection" {
            // The first request on a connection is answered (kept alive); a later one on the same
            // connection finds it closed unanswered, as when a server's keep-alive timeout races
            // the client's next request.
            answered += 1
            if answered == 1 {
                respond(context, status: .ok, body: "first on this connection")
            } else {
                context.close(promise: nil)
            }
        } else {
            let echo: [String: Any] = [
                "method": "\(head.method)", "path": path, "query": query,
                "authorization": headers["authorization"] ?? "",
            ]
            let data = (try? JSONSerialization.data(withJSONObject: echo, options: [.sortedKeys])) ?? Data()
            respond(context, status: .ok, body: String(decoding: data, as: UTF8.self), contentType: "application/json")
        }
    }

    private func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, contentType: String = "text/plain") {
        Self.write(context, status: status, body: body, contentType: contentType)
    }

    /// `closing`: says `Connection: close` and closes once the response is written.
    private static func write(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, contentType: String, closing: Bool = false) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if closing { headers.add(name: "Connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        guard closing else {
            context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
            return
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}
