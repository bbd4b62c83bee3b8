import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// A request over the client's delegate interface, its body collected on the event loop as it
/// arrives. The async interface hands the body over as an `AsyncSequence` whose every chunk
/// (and its end) is a suspension: a tenth of an HTTP check's instructions (callgrind,
/// BENCHMARKS.md), for checks that only want the status and a bounded body.
public enum HTTPFetch {
    public struct Reply: Sendable {
        public let status: HTTPResponseStatus
        public let headers: HTTPHeaders
        /// At most the `limit` asked for; the rest was read and dropped, so the connection
        /// can be reused.
        public let body: ByteBuffer
        public let truncated: Bool
    }

    /// Sends `request` and waits for the whole reply, at most `timeout`; cancelling the
    /// calling task cancels the request.
    public static func reply(to request: HTTPClient.Request, timeout: Duration, limit: Int, client: HTTPClient) async throws -> Reply {
        let task = client.execute(request: request, delegate: BoundedBody(limit: limit), deadline: .now() + TimeAmount(timeout))
        return try await withTaskCancellationHandler {
            try await task.futureResult.get()
        } onCancel: {
            task.cancel()
        }
    }
}

/// Keeps the head and at most `limit` bytes of the body. The client calls a delegate on one
/// event loop, one callback at a time; the lock only satisfies `Sendable`, uncontended.
private final class BoundedBody: HTTPClientResponseDelegate {
    typealias Response = HTTPFetch.Reply

    private struct State {
        var head: HTTPResponseHead?
        var body: BodyPrefix
    }

    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(body: BodyPrefix(limit: limit)))
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock { $0.head = head }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        state.withLock { $0.body.append(part) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        try state.withLock { state in
            // A finished exchange always had a head; without one, it is a connection that closed early.
            guard let head = state.head else { throw HTTPClientError.remoteConnectionClosed }
            return HTTPFetch.Reply(status: head.status, headers: head.headers, body: state.body.bytes, truncated: state.body.truncated)
        }
    }
}
