import Logging
import NIOCore
import PostgresNIO
import Synchronization
import WardenPluginKit

/// The connections kept open to one target between runs.
///
/// Deliberately not postgres-nio's `PostgresClient`: its pool queues a lease through up to
/// 60 s of reconnect back-off and then reports a tripped circuit breaker or a cancelled
/// request, never the cause. A monitor must say *now* that the port refused, the password
/// was wrong or the server never answered. So connections are made with
/// `PostgresConnection.connect` (whose timeout covers TLS and authentication too) and only
/// idle ones are pooled: a handful per target, dropped after `idleTimeout`.
final class PostgresPool: PluginResource {
    let target: PostgresTarget
    private let configuration: PostgresConnection.Configuration
    private let idle: IdleConnections
    private let logger: Logger

    init(target: PostgresTarget, logger: Logger, maxIdle: Int = 2, idleTimeout: Duration = .seconds(60)) throws {
        self.target = target
        self.configuration = try target.connectionConfiguration()
        self.idle = IdleConnections(maxIdle: maxIdle, idleTimeout: idleTimeout)
        var logger = logger
        logger[metadataKey: "postgres"] = .string(target.displayName)
        self.logger = logger
    }

    /// The pool for `target` from the daemon's shared resources (one per distinct target).
    static func shared(for target: PostgresTarget, context: PluginContext) async throws -> PostgresPool {
        try await context.resources.resource(for: target.poolKey) {
            try PostgresPool(target: target, logger: context.logger)
        }
    }

    /// Runs `body` on a pooled or new connection. A connection whose work was cancelled or
    /// failed at the connection level is closed, never handed to the next run; a pooled
    /// connection the server dropped meanwhile is replaced once, transparently.
    func withConnection<Result: Sendable>(
        reusable: Bool = true,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        if let pooled = await idle.take() {
            do {
                return try await use(pooled, reusable: reusable, body)
            } catch let error as PSQLError where Self.isStale(error) {
                logger.debug("pooled connection was closed by the server; reconnecting")
            }
        }
        return try await use(try await connect(), reusable: reusable, body)
    }

    private func use<Result: Sendable>(
        _ connection: PostgresConnection, reusable: Bool,
        _ body: @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        do {
            // A run past its deadline is cancelled; its query may still be running on the
            // server, so the connection is closed rather than returned.
            let result = try await withTaskCancellationHandler {
                try await body(connection)
            } onCancel: {
                connection.closeNow()
            }
            if reusable, !Task.isCancelled { await idle.put(connection) } else { try? await connection.close() }
            return result
        } catch {
            // A server error (a bad relation, a permission) leaves the session usable.
            if reusable, !Task.isCancelled, let error = error as? PSQLError, error.code == .server, !connection.isClosed {
                await idle.put(connection)
            } else {
                try? await connection.close()
            }
            throw error
        }
    }

    private func connect() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(configuration: configuration, id: Self.nextID(), logger: logger)
        } catch {
            throw PostgresFailure.connecting(error, target: target)
        }
    }

    func close() async {
        for connection in await idle.drain() { try? await connection.close() }
    }

    private static func isStale(_ error: PSQLError) -> Bool {
        error.code == .serverClosedConnection || error.code == .clientClosedConnection || error.code == .connectionError
    }

    private static let ids = IDCounter()
    private static func nextID() -> Int { ids.next() }
}

/// Connections waiting for the next run, newest last; the oldest past `idleTimeout` closed.
private actor IdleConnections {
    private var connections: [(connection: PostgresConnection, since: ContinuousClock.Instant)] = []
    private var closed = false
    let maxIdle: Int
    let idleTimeout: Duration

    init(maxIdle: Int, idleTimeout: Duration) {
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    func take() -> PostgresConnection? {
        let now = ContinuousClock.now
        while let (connection, since) = connections.popLast() {
            if connection.isClosed { continue }
            if now - since > idleTimeout {
                connection.closeNow()
                continue
            }
            return connection
        }
        return nil
    }

    func put(_ connection: PostgresConnection) {
        guard !closed, !connection.isClosed, connections.count < maxIdle else {
            connection.closeNow()
            return
        }
        connections.append((connection, .now))
    }

    /// Closing: later returns are closed instead of kept.
    func drain() -> [PostgresConnection] {
        closed = true
        defer { connections.removeAll() }
        return connections.map(\.connection)
    }
}

private final class IDCounter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}

extension PostgresConnection {
    /// Starts closing without waiting (postgres-nio has two `close()`s without arguments).
    func closeNow() {
        let _: EventLoopFuture<Void> = close()
    }
}
