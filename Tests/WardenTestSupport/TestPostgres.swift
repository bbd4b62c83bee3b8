import Foundation
import Synchronization

/// Throwaway PostgreSQL clusters for tests: `initdb` into a directory of their own, run as
/// the `postgres` user (the server refuses root) on a free loopback port and a socket
/// directory of their own; never the system cluster. One primary (and, when a test asks, a
/// streaming replica made with `pg_basebackup`) lives for the whole test process and is
/// stopped at exit; clusters a killed earlier run left behind are swept at start.
public final class TestPostgres: Sendable {
    public static let binDirectory: String? = {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.compactMap(Int.init).sorted().last.map { "\(root)/\($0)/bin" }
    }()

    public static var available: Bool {
        guard let bin = binDirectory, getuid() == 0 else { return false }
        return FileManager.default.isExecutableFile(atPath: bin + "/initdb") && getpwnam("postgres") != nil
    }

    /// Password of the `postgres` superuser over TCP (the socket trusts local connections).
    public static let superuserPassword = "warden-test-superuser"
    /// A role that sees every session (pg_monitor) and may signal backends
    /// (pg_signal_backend) but is not a superuser: what the docs tell operators to create.
    public static let operatorRole = "warden_operator"
    public static let operatorPassword = "operator 'pass\" word"
    /// An ordinary application role, for the sessions the plugins look at and end.
    public static let appRole = "warden_app"

    public let directory: String
    public let port: Int
    public var socketDirectory: String { directory + "/socket" }
    private var dataDirectory: String { directory + "/data" }

    private init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    // MARK: the shared primary and replica

    private static let primaryTask = Mutex<Task<TestPostgres, any Error>?>(nil)
    private static let replicaTask = Mutex<Task<TestPostgres, any Error>?>(nil)

    /// The primary cluster, started on first use.
    public static func primary() async throws -> TestPostgres {
        try await once(primaryTask) { try await TestPostgres.startPrimary() }
    }

    /// A streaming replica of the primary, started on first use.
    public static func replica() async throws -> TestPostgres {
        let primary = try await primary()
        return try await once(replicaTask) { try await primary.startReplica() }
    }

    /// The cluster in `slot`, started by `start` for the first caller; suites running in
    /// parallel all wait for that one start.
    private static func once(
        _ slot: borrowing Mutex<Task<TestPostgres, any Error>?>, _ start: @escaping @Sendable () async throws -> TestPostgres
    ) async throws -> TestPostgres {
        let task = slot.withLock { task in
            if let task { return task }
            let started = Task { try await start() }
            task = started
            return started
        }
        return try await task.value
    }

    private static func startPrimary() async throws -> TestPostgres {
        sweepAbandonedClusters()
        let cluster = try makeDirectory()
        let bin = binDirectory!
        let passwordFile = cluster.directory + "/pwfile"
        try superuserPassword.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        try await cluster.asPostgres(chown: true)
        try await TestCommand.check("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/initdb", "-D", cluster.dataDirectory,
            "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=\(passwordFile)",
            "-E", "UTF8", "--locale=C", "--no-sync"])
        try await cluster.makeCertificates()
        try cluster.appendConfiguration("""
            ssl = on
            ssl_cert_file = '\(cluster.directory)/tls/server.crt'
            ssl_key_file = '\(cluster.directory)/tls/server.key'
            shared_preload_libraries = 'pg_stat_statements'
            wal_level = replica
            max_wal_senders = 5
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            deadlock_timeout = '1s'
            """)
        try await cluster.start()
        try await cluster.psql("CREATE ROLE \(operatorRole) LOGIN PASSWORD '\(operatorPassword.replacingOccurrences(of: "'", with: "''"))' IN ROLE pg_monitor, pg_signal_backend")
        try await cluster.psql("CREATE ROLE \(appRole) LOGIN")
        return cluster
    }

    private func startReplica() async throws -> TestPostgres {
        let replica = try Self.makeDirectory()
        try await replica.asPostgres(chown: true)
        try await TestCommand.check("/usr/sbin/runuser", ["-u", "postgres", "--", Self.binDirectory! + "/pg_basebackup",
            "-h", socketDirectory, "-p", "\(port)", "-U", "postgres", "-D", replica.dataDirectory, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"])
        try await replica.start()
        return replica
    }

    /// The CA that signed the server's certificate (for 127.0.0.1 and localhost).
    public var certificateAuthority: String { directory + "/tls/ca.crt" }

    /// A throwaway CA and a server certificate signed by it, owned by postgres (the server
    /// refuses a key others can read).
    private func makeCertificates() async throws {
        let tls = directory + "/tls"
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: tls + "/san.ext", atomically: true, encoding: .utf8)
        let openssl = "/usr/bin/openssl"
        try await TestCommand.check(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tls + "/ca.key",
            "-out", tls + "/ca.crt", "-days", "2", "-subj", "/CN=warden-test-ca"])
        try await TestCommand.check(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", tls + "/server.key",
            "-out", tls + "/server.csr", "-subj", "/CN=localhost"])
        try await TestCommand.check(openssl, ["x509", "-req", "-in", tls + "/server.csr", "-CA", tls + "/ca.crt",
            "-CAkey", tls + "/ca.key", "-CAcreateserial", "-out", tls + "/server.crt", "-days", "2", "-extfile", tls + "/san.ext"])
        chmod(tls + "/server.key", 0o600)
        try await asPostgres(chown: true)
    }

    private static func makeDirectory() throws -> TestPostgres {
        let directory = "/tmp/warden-pg-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory + "/socket", withIntermediateDirectories: true)
        try "\(getpid())".write(toFile: directory + "/owner.pid", atomically: true, encoding: .utf8)
        let cluster = TestPostgres(directory: directory, port: try TestHTTPServer.freePort())
        registerForExit(cluster)
        return cluster
    }

    private func asPostgres(chown: Bool) async throws {
        try await TestCommand.check("/bin/chown", ["-R", "postgres:postgres", directory])
    }

    private func appendConfiguration(_ text: String) throws {
        let file = dataDirectory + "/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n" + text + "\n").utf8))
        try handle.close()
    }

    private func start() async throws {
        let options = "-p \(port) -k \(socketDirectory) -c listen_addresses=127.0.0.1"
        try await TestCommand.check("/usr/sbin/runuser", ["-u", "postgres", "--", Self.binDirectory! + "/pg_ctl",
            "-D", dataDirectory, "-l", directory + "/server.log", "-o", options, "-w", "-t", "60", "start"])
    }

    /// Stops the server at once (tests leave nothing worth a clean shutdown) and removes it.
    public func stop() {
        let stop = Process()
        stop.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        stop.arguments = ["-u", "postgres", "--", Self.binDirectory! + "/pg_ctl", "-D", dataDirectory, "-m", "immediate", "-w", "stop"]
        stop.standardOutput = FileHandle.nullDevice
        stop.standardError = FileHandle.nullDevice
        try? stop.run()
        stop.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: using it

    /// Runs SQL as the superuser over the socket; returns psql's unaligned output.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        try await TestCommand.check(Self.binDirectory! + "/psql", [
            "-h", socketDirectory, "-p", "\(port)", "-U", "postgres", "-d", database,
            "-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-c", sql,
        ]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A fresh database for one test, so tests sharing the server never see each other's tables.
    public func createDatabase(_ prefix: String = "t") async throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        try await psql("CREATE DATABASE \(name)")
        return name
    }

    // MARK: cleanup

    private static let atExit = Mutex<[TestPostgres]>([])

    private static func registerForExit(_ cluster: TestPostgres) {
        let first = atExit.withLock { clusters in
            clusters.append(cluster)
            return clusters.count == 1
        }
        if first {
            atexit {
                for cluster in TestPostgres.atExit.withLock({ $0 }).reversed() { cluster.stop() }
            }
        }
    }

    /// Clusters whose test process died without its exit handler (a crash, a SIGKILL).
    private static func sweepAbandonedClusters() {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for entry in entries where entry.hasPrefix("warden-pg-") {
            let directory = "/tmp/" + entry
            let owner = (try? String(contentsOfFile: directory + "/owner.pid", encoding: .utf8)).flatMap { Int32($0) }
            if let owner, kill(owner, 0) == 0 { continue }
            TestPostgres(directory: directory, port: 0).stop()
        }
    }
}
