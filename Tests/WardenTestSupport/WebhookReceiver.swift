import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A loopback HTTP receiver for notifications: records every POST (path, headers, body) and
/// answers 200, or 503 while `down` — a receiver that is away, so deliveries must be retried.
public final class WebhookReceiver: Sendable {
    public struct Delivery: Sendable {
        public let path: String
        public let headers: [String: String]
        public let body: Data
        public var json: Any? { try? JSONSerialization.jsonObject(with: body) }
    }

    public let port: Int
    private let channel: any Channel
    private let state: State

    final class State: Sendable {
        let deliveries = Mutex<[Delivery]>([])
        let down = Atomic<Bool>(false)
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var deliveries: [Delivery] { state.deliveries.withLock { $0 } }
    /// While true every request gets 503 and is not recorded.
    public func setDown(_ down: Bool) { state.down.store(down, ordering: .relaxed) }

    public static func start() async throws -> WebhookReceiver {
        let state = State()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ReceiverHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return WebhookReceiver(channel: channel, port: channel.localAddress?.port ?? 0, state: state)
    }

    private init(channel: any Channel, port: Int, state: State) {
        self.channel = channel
        self.port = port
        self.state = state
    }

    public func stop() async {
        try? await channel.close()
    }
}

private final class ReceiverHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: WebhookReceiver.State
    private var head: HTTPRequestHead?
    private var body = Data()

    init(state: WebhookReceiver.State) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = Data()
        case .body(var buffer):
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            guard let head else { return }
            self.head = nil
            let down = state.down.load(ordering: .relaxed)
            if !down {
                var headers: [String: String] = [:]
                for (name, value) in head.headers { headers[name.lowercased()] = value }
                let delivery = WebhookReceiver.Delivery(path: head.uri, headers: headers, body: body)
                state.deliveries.withLock { $0.append(delivery) }
            }
            let status: HTTPResponseStatus = down ? .serviceUnavailable : .ok
            let text = down ? "down" : "ok"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
