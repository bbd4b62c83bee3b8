import AsyncHTTPClient
import struct Foundation.URLComponents
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import WardenPluginKit

/// GETs over plain HTTP/1.1 on kept-alive connections: the exchange an `http://` health check
/// needs and nothing else (no TLS, redirects, request bodies or retries of a refused connect).
///
/// AsyncHTTPClient's general machinery (a request bag and two state machines per request, a
/// pool state machine under a lock, an idle timer cancelled and re-armed on every request)
/// was about 125,000 of a check's 354,000 instructions (callgrind, BENCHMARKS.md). Here a request
/// is a write on a connection kept on the caller's own event loop, the reply is read by one
/// handler on that loop, and the caller resumes there (plugins that do not block run on the
/// loops), so the exchange crosses no thread.
public final class PlainHTTPClient: Sendable {
    /// The client plugins share; its loops are the ones AsyncHTTPClient's shared client and
    /// the daemon's plugins run on.
    public static let shared = PlainHTTPClient(group: MultiThreadedEventLoopGroup.singleton)

    /// Connect timeout kept short, as `SharedHTTPClient`'s: a health check must report an
    /// unreachable endpoint promptly.
    public static let connectTimeout: TimeAmount = .seconds(3)
    /// Idle connections kept per host and port; beyond them, a finished connection is closed.
    /// Enough for the daemon's largest `max_concurrency` to reuse every connection.
    public static let idlePerEndpoint = 1024
    /// An idle connection is closed after this long unused (AsyncHTTPClient's pool used 60 s).
    public static let idleTimeout: TimeAmount = .seconds(60)

    private let group: any EventLoopGroup
    private let idleTimeout: TimeAmount
    private let idle = Mutex<[Endpoint: IdleConnections]>([:])

    public init(group: any EventLoopGroup, idleTimeout: TimeAmount = PlainHTTPClient.idleTimeout) {
        self.group = group
        self.idleTimeout = idleTimeout
    }

    /// A GET, taken apart and checked once (a check's request does not change between runs).
    public struct Target: Sendable {
        public let host: String
        public let port: Int
        /// The request line and headers as sent: the percent-encoded path and query, the
        /// request's own headers, and `Host` (bracketed if IPv6, with the port unless 80).
        public let head: HTTPRequestHead
        /// `head` as `HTTPRequestEncoder` writes it on the wire, encoded once (it leaves through `RequestOutlet`).
        public let wire: ByteBuffer
        fileprivate var endpoint: Endpoint { Endpoint(host: host, port: port) }

        /// The GET of a plain `http://` request; nil for https and other schemes, and for a
        /// header that could not be sent as it is (AsyncHTTPClient then reports it).
        public init?(_ request: HTTPClient.Request) {
            guard request.scheme.lowercased() == "http", !request.host.isEmpty, request.method == .GET, request.body == nil,
                  request.headers.allSatisfy({ Self.isToken($0.name) && Self.isFieldValue($0.value) })
            else { return nil }
            // An IPv6 literal comes bracketed, as in the URL.
            let named = request.host
            host = named.hasPrefix("[") && named.hasSuffix("]") ? String(named.dropFirst().dropLast()) : named
            port = request.port
            // As AsyncHTTPClient sends it: the percent-encoded path ("/" if empty) and query.
            let components = URLComponents(url: request.url, resolvingAgainstBaseURL: true)
            let path = components?.percentEncodedPath ?? ""
            let uri = (path.isEmpty ? "/" : path) + (components?.percentEncodedQuery.map { "?" + $0 } ?? "")
            let bracketed = host.contains(":") ? "[\(host)]" : host
            var headers = request.headers
            headers.replaceOrAdd(name: "Host", value: port == 80 ? bracketed : "\(bracketed):\(port)")
            head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)
            wire = Self.encoded(head)
        }

        /// The request line, the headers and the empty line; a GET has no body, so neither
        /// `Content-Length` nor chunking is added (as `HTTPRequestEncoder` adds none).
        static func encoded(_ head: HTTPRequestHead) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeString("GET \(head.uri) HTTP/1.1\r\n")
            for (name, value) in head.headers {
                buffer.writeString("\(name): \(value)\r\n")
            }
            buffer.writeString("\r\n")
            return buffer
        }

        /// RFC 9110's token: what a header name may be.
        private static func isToken(_ text: String) -> Bool {
            !text.isEmpty && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }

        /// A field value without control characters (no CR, LF or NUL to split a request).
        private static func isFieldValue(_ text: String) -> Bool {
            text.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
        }
    }

    /// Sends the GET and waits for the whole reply, at most `timeout` in all (connecting
    /// included); cancelling the calling task closes the connection.
    ///
    /// A kept-alive connection the server closed while it sat idle (its keep-alive timeout
    /// racing this request) fails before any reply arrives; the GET is then sent once more on
    /// a new connection, as browsers and Go's client do for idempotent requests.
    public nonisolated(nonsending) func get(_ target: Target, timeout: Duration, limit: Int) async throws -> HTTPFetch.Reply {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let endpoint = target.endpoint
        let request = target.wire
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()

        if let connection = takeIdle(endpoint, preferring: loop) {
            do {
                return try await connection.exchange(request, limit: limit, deadline: deadline)
            } catch is NoReply where !Task.isCancelled && NIODeadline.now() < deadline {
                // The server closed the kept connection first: once more, on a new one.
            } catch let failure as NoReply {
                throw failure.error
            }
        }
        let connection = try await connect(endpoint, on: loop, deadline: deadline)
        do {
            return try await connection.exchange(request, limit: limit, deadline: deadline)
        } catch let failure as NoReply {
            throw failure.error
        }
    }

    /// Idle connections to every endpoint (tests).
    public var idleConnections: Int { idle.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    // MARK: - The pool

    fileprivate struct Endpoint: Hashable, Sendable {
        let host: String
        let port: Int
    }

    /// An idle connection, preferably one on `loop` (the caller's), so that the exchange runs
    /// on the caller's thread; another loop's connection before a new connect.
    private func takeIdle(_ endpoint: Endpoint, preferring loop: any EventLoop) -> Connection? {
        // The entry changed in place (an endpoint's entry stays when empty).
        idle.withLock { $0[endpoint]?.pop(preferring: ObjectIdentifier(loop)) }
    }

    fileprivate func putBack(_ connection: Connection) {
        let kept = idle.withLock { idle in
            let connections = idle[connection.endpoint] ?? {
                let connections = IdleConnections()
                idle[connection.endpoint] = connections
                return connections
            }()
            return connections.push(connection, limit: Self.idlePerEndpoint)
        }
        if !kept { connection.channel.close(promise: nil) }
    }

    fileprivate func forget(_ connection: Connection) {
        idle.withLock { _ = $0[connection.endpoint]?.remove(connection) }
    }

    private func connect(_ endpoint: Endpoint, on loop: any EventLoop, deadline: NIODeadline) async throws -> Connection {
        let remaining = deadline - .now()
        guard remaining > .zero else { throw HTTPClientError.deadlineExceeded }
        let channel: any Channel
        let idleTimeout = idleTimeout
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(min(Self.connectTimeout, remaining))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // A target's headers were checked, and its request encoded, once, when it
                        // was made: no request encoder (`RequestOutlet`).
                        let outlet = RequestOutlet()
                        let decoder = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)
                        try channel.pipeline.syncOperations.addHandlers([
                            outlet, ByteToMessageHandler(decoder),
                            ExchangeHandler(idleTimeout: idleTimeout, outlet: outlet, decoder: decoder),
                        ])
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port)
                .get()
        } catch ChannelError.connectTimeout {
            // Named as AsyncHTTPClient names it, so that `HTTPFailure` words it the same.
            throw HTTPClientError.connectTimeout
        }
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ExchangeHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return Connection(channel: channel, endpoint: endpoint, handler: handler, pool: self)
    }

    /// One kept-alive connection and the handler that runs its exchanges, one at a time.
    fileprivate final class Connection: Sendable {
        let channel: any Channel
        let endpoint: Endpoint
        /// The channel's event loop, read once: the pool sorts idle connections by it.
        let loop: ObjectIdentifier
        let handler: NIOLoopBound<ExchangeHandler>
        let pool: PlainHTTPClient

        init(channel: any Channel, endpoint: Endpoint, handler: NIOLoopBound<ExchangeHandler>, pool: PlainHTTPClient) {
            self.channel = channel
            self.endpoint = endpoint
            self.loop = ObjectIdentifier(channel.eventLoop)
            self.handler = handler
            self.pool = pool
        }

        nonisolated(nonsending) func exchange(_ request: ByteBuffer, limit: Int, deadline: NIODeadline) async throws -> HTTPFetch.Reply {
            let loop = channel.eventLoop
            let promise = loop.makePromise(of: HTTPFetch.Reply.self)
            let start: @Sendable () -> Void = { [self] in
                handler.value.send(request, limit: limit, deadline: deadline, promise: promise, connection: self)
            }
            if loop.inEventLoop { start() } else { loop.execute(start) }
            return try await withTaskCancellationHandler {
                // Not `futureResult.get()`: a plain nonisolated async function, whose entry and
                // return each asked the runtime for the task's preferred executor (callgrind).
                try await withUnsafeThrowingContinuation { continuation in
                    promise.futureResult.whenComplete { continuation.resume(with: $0) }
                }
            } onCancel: { [self] in
                loop.execute { self.handler.value.abort(CancellationError(), ifStillAwaiting: promise) }
            }
        }
    }
}

/// The connection closed or failed before a reply began: on a reused connection, worth one
/// more try on a new one (nothing reached the server's application).
private struct NoReply: Error {
    let error: any Error
}

/// Runs one exchange at a time on its connection, hands the connection back to the pool when
/// the reply allows keeping it, and closes it once it has been idle for `idleTimeout`.
///
/// Idleness is kept here rather than by NIO's `IdleStateHandler`, which made a promise for
/// every write to see it complete: two futures, their callbacks and their metadata lookups
/// per check (callgrind). Here an exchange notes the time it ended, and one task per
/// connection, re-armed only when it fires, compares.
private final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private struct Pending {
        let promise: EventLoopPromise<HTTPFetch.Reply>
        let timeout: DeadlineTimer.Token
        var head: HTTPResponseHead?
        var body: BodyPrefix
    }

    private var context: ChannelHandlerContext?
    private var pending: Pending?
    /// The pool's record of this connection, to hand back or forget; set by the first
    /// exchange, cleared when the channel goes (it refers back to this handler).
    private var owner: PlainHTTPClient.Connection?
    private let idleTimeout: TimeAmount
    /// When the connection was made (the handler is added as it is) or its last exchange
    /// began or ended.
    private var lastUse = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?
    private let outlet: RequestOutlet
    private let decoder: HTTPResponseDecoder

    init(idleTimeout: TimeAmount, outlet: RequestOutlet, decoder: HTTPResponseDecoder) {
        self.idleTimeout = idleTimeout
        self.outlet = outlet
        self.decoder = decoder
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        checkIdleness(at: lastUse + idleTimeout, on: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        owner = nil
        idleCheck?.cancel()
        idleCheck = nil
    }

    /// At `deadline`, closes the connection if no exchange has used it for `idleTimeout`,
    /// else looks again when that would next be so.
    private func checkIdleness(at deadline: NIODeadline, on loop: any EventLoop) {
        idleCheck = loop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard let context else { return }
            let now = NIODeadline.now()
            let due = lastUse + idleTimeout
            if pending == nil && due <= now {
                idleCheck = nil
                context.close(promise: nil)
            } else {
                // Used since: look again when it would next be idle (an exchange still running
                // past that, a slow reply, is looked at a timeout later).
                checkIdleness(at: pending == nil ? due : max(due, now + idleTimeout), on: loop)
            }
        }
    }

    func send(
        _ request: ByteBuffer, limit: Int, deadline: NIODeadline, promise: EventLoopPromise<HTTPFetch.Reply>,
        connection: PlainHTTPClient.Connection
    ) {
        guard let context, context.channel.isActive, pending == nil else {
            promise.fail(NoReply(error: HTTPClientError.remoteConnectionClosed))
            return
        }
        // On the daemon's one deadline timer, not the loop's: a task scheduled on the loop and
        // cancelled a millisecond later cost a heap insertion and a search to remove it for
        // every check (3.3 % of the process's CPU samples at 5,000 checks; 1.8 % here).
        let loop = context.eventLoop
        lastUse = .now()
        let timeout = DeadlineTimer.shared.schedule(after: .nanoseconds((deadline - lastUse).nanoseconds)) {
            loop.execute { connection.handler.value.abort(HTTPClientError.deadlineExceeded, ifStillAwaiting: promise) }
        }
        owner = connection
        pending = Pending(promise: promise, timeout: timeout, body: BodyPrefix(limit: limit))
        outlet.send(request, announcingTo: decoder)
    }

    /// Ends the exchange `promise` belongs to, if it is still in progress, with `error`, and
    /// closes the connection (a reply may still be on its way, so it cannot be reused). A
    /// cancellation that arrives after its exchange ended must not end the connection's next.
    func abort(_ error: any Error, ifStillAwaiting promise: EventLoopPromise<HTTPFetch.Reply>) {
        guard let current = pending, current.promise.futureResult === promise.futureResult else { return }
        fail(error)
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending?.head = head
        case .body(let part):
            pending?.body.append(part)
        case .end:
            guard let done = pending, let head = done.head else { return }
            pending = nil
            lastUse = .now()
            DeadlineTimer.shared.cancel(done.timeout)
            if head.isKeepAlive, let owner {
                owner.pool.putBack(owner)
            } else {
                context.close(promise: nil)
            }
            done.promise.succeed(HTTPFetch.Reply(status: head.status, headers: head.headers, body: done.body.bytes, truncated: done.body.truncated))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(HTTPClientError.remoteConnectionClosed)
        if let owner { owner.pool.forget(owner) }
        owner = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: any Error) {
        guard let failed = pending else { return }
        pending = nil
        DeadlineTimer.shared.cancel(failed.timeout)
        failed.promise.fail(failed.head == nil ? NoReply(error: error) : error)
    }
}

/// Where a request encoded once (`Target.wire`) leaves: the first handler of the pipeline,
/// below the response decoder, so that the bytes go straight to the socket. NIO's
/// `HTTPRequestEncoder` encoded every request's head anew, and the head and the end each
/// passed the response decoder's generic write observation: about 14,000 instructions a
/// check (callgrind). The decoder is told of the request directly instead: it frames a
/// reply by its request's method (a HEAD's has no body), and these are all GETs.
private final class RequestOutlet: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// What the response decoder is told of each request: only its method counts.
    private static let announced = HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"))

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func send(_ request: ByteBuffer, announcingTo decoder: HTTPResponseDecoder) {
        guard let context else { return }
        decoder.write(data: Self.announced)
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(request)), promise: nil)
    }
}

/// One endpoint's idle connections, a stack per event loop, so that a caller takes one on
/// its own loop at once. One list, searched for the caller's loop by asking each connection's
/// channel for its loop, was 1.4 % of the daemon's CPU at 5,000 checks and 2.4 % with
/// `max_concurrency: 512` (`perf`): the search ran long once one loop's connections gathered
/// at the list's end. A class, changed only under the pool's lock: the dictionary's entry is
/// looked up and changed in place, where a struct went through the dictionary's `modify`
/// accessor, whose frame was a `malloc` at each take and each put back (callgrind).
private final class IdleConnections {
    /// Few: one per event loop (one per core).
    private var stacks: [(loop: ObjectIdentifier, connections: [PlainHTTPClient.Connection])] = []
    private(set) var count = 0

    /// Keeps `connection` unless `limit` are kept already.
    func push(_ connection: PlainHTTPClient.Connection, limit: Int) -> Bool {
        guard count < limit else { return false }
        count += 1
        if let index = stacks.firstIndex(where: { $0.loop == connection.loop }) {
            stacks[index].connections.append(connection)
        } else {
            stacks.append((connection.loop, [connection]))
        }
        return true
    }

    /// The most recently idle connection on `loop`, else one on another loop; connections
    /// found closed meanwhile are dropped.
    func pop(preferring loop: ObjectIdentifier) -> PlainHTTPClient.Connection? {
        if let own = stacks.firstIndex(where: { $0.loop == loop }), let connection = pop(from: own) { return connection }
        for index in stacks.indices where stacks[index].loop != loop {
            if let connection = pop(from: index) { return connection }
        }
        return nil
    }

    private func pop(from index: Int) -> PlainHTTPClient.Connection? {
        while let connection = stacks[index].connections.popLast() {
            count -= 1
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    /// Removes `connection` if it is idle here.
    func remove(_ connection: PlainHTTPClient.Connection) -> Bool {
        guard let index = stacks.firstIndex(where: { $0.loop == connection.loop }),
              let position = stacks[index].connections.firstIndex(where: { $0 === connection }) else { return false }
        stacks[index].connections.remove(at: position)
        count -= 1
        return true
    }
}
