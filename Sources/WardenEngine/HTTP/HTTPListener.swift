import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import WardenPluginKit

/// The scheduler's pulse for `/healthz`: a beat sent from the scheduler's own queue every
/// second (as the systemd watchdog's pings are), so a stalled scheduler reads unhealthy.
public final class Heartbeat: Sendable {
    private let last = Atomic<Int64>(Date().epochMilliseconds)

    public init() {}

    func beat() { last.store(Date().epochMilliseconds, ordering: .relaxed) }

    /// Seconds since the last beat.
    public var age: Double { Double(Date().epochMilliseconds - last.load(ordering: .relaxed)) / 1000 }
}

/// `daemon.http`: `/metrics` for Prometheus, `/healthz`, the JSON API and the status page,
/// served by Hummingbird. Read-only: nothing here changes what the daemon does.
struct HTTPListener: Sendable {
    let settings: HTTPSettings
    let metrics: WardenMetrics
    let heartbeat: Heartbeat
    let store: HistoryStore
    let configuration: @Sendable () -> WardenConfig
    let history: @Sendable () -> HistoryWriter.Health
    let logger: Logger
    private let reads = BlockingQueue(label: "warden.http-reads")

    init(settings: HTTPSettings, metrics: WardenMetrics, heartbeat: Heartbeat, store: HistoryStore,
         configuration: @escaping @Sendable () -> WardenConfig, history: @escaping @Sendable () -> HistoryWriter.Health, logger: Logger) {
        self.settings = settings
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.store = store
        self.configuration = configuration
        self.history = history
        self.logger = logger
    }

    func run() async throws {
        let router = Router()
        if let token = settings.token { router.add(middleware: BearerToken(token: token)) }
        router.get("/healthz") { _, _ in
            let age = heartbeat.age
            return Self.text(age < 5 ? "ok\n" : "scheduler stalled for \(Int(age))s\n", status: age < 5 ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            metrics.refresh(history: history())
            var response = Self.text(metrics.exposition(), status: .ok)
            response.headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        }
        router.get("/api/v1/status") { _, _ in
            Self.json(try await statusReport().json)
        }
        router.get("/api/v1/jobs/:name/runs") { request, context in
            let name = context.parameters.get("name") ?? ""
            guard configuration().job(named: name) != nil else {
                return Self.json(["error": .string("no job `\(name)` in the config")], status: .notFound)
            }
            let limit = min(1_000, max(1, request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 50))
            let statuses: Set<RunStatus>? = request.uri.queryParameters.get("status").map { text in
                text == "failing" ? RunStatus.failing : Set(text.split(separator: ",").compactMap { RunStatus(rawValue: String($0)) })
            }
            let store = self.store
            let runs = try await reads.run { try store.history(HistoryQuery(job: name, statuses: statuses, limit: limit)) }
            return Self.json(.array(runs.map { HistoryJSON.run($0) }))
        }
        router.get("/api/v1/remediations") { request, _ in
            let limit = min(1_000, max(1, request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 50))
            let store = self.store
            let records = try await reads.run { try store.remediations(limit: limit) }
            return Self.json(.array(records.map(HistoryJSON.remediation)))
        }
        router.get("/") { _, _ in
            let report = try await statusReport()
            let store = self.store
            let recent = (try? await reads.run { try store.remediations(limit: 10) }) ?? []
            var response = Self.text(StatusPage.render(report, remediations: recent), status: .ok)
            response.headers[.contentType] = "text/html; charset=utf-8"
            return response
        }
        let address: BindAddress
        switch settings.address {
        case .tcp(let host, let port): address = .hostname(host, port: port)
        case .unixSocket(let path):
            unlink(path)
            address = .unixDomainSocket(path: path)
        }
        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .warning)
        let app = Application(router: router, configuration: .init(address: address, serverName: "warden"), logger: httpLogger)
        logger.notice("HTTP listener on \(settings.address)\(settings.token == nil ? "" : " (bearer token required)")")
        try await app.run()
    }

    private func statusReport() async throws -> StatusReport {
        let config = configuration()
        let store = self.store
        return try await reads.run { try StatusReport.build(config: config, store: store, daemonPID: getpid()) }
    }

    static func text(_ body: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: value.jsonText(pretty: true) + "\n")))
    }
}

/// `Authorization: Bearer <token>` (or `?token=` for the status page in a browser) on
/// everything but `/healthz`.
struct BearerToken<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/healthz" { return try await next(request, context) }
        let header = request.headers[.authorization]
        let given = header.map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : "" } ?? request.uri.queryParameters.get("token") ?? ""
        guard Self.equal(given, token) else {
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"], body: .init(byteBuffer: ByteBuffer(string: "a bearer token is required\n")))
        }
        return try await next(request, context)
    }

    /// Constant-time: the comparison does not tell how much of a guess was right.
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
