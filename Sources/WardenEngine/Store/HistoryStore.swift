import CSQLiteSettings
import Foundation
import GRDB
import Synchronization
import WardenPluginKit

/// The SQLite history: runs, their attempts, and each job's current state.
///
/// WAL mode, so readers (the CLI, `sqlite3`) never block the daemon's single writer.
/// `synchronous=NORMAL` by default: in WAL mode a commit survives a crash of Warden itself;
/// a power loss may lose the last commits but never corrupts the file. `full` makes every
/// commit durable before the writer goes on (group commit keeps that affordable).
public final class HistoryStore: Sendable {
    public enum OpenError: Error, Sendable, CustomStringConvertible {
        case missing(path: String)
        case newerSchema(path: String, unknown: [String])
        case sqlite(path: String, message: String)

        public var description: String {
            switch self {
            case .missing(let path):
                return "no history database at \(path) (has the daemon run yet? pass --database or --config)"
            case .newerSchema(let path, let unknown):
                return "\(path) was written by a newer Warden (unknown migrations: \(unknown.joined(separator: ", "))); upgrade warden or point it at another database"
            case .sqlite(let path, let message):
                return "cannot open \(path): \(message)"
            }
        }
    }

    public let path: String
    /// Swapped only when the write-ahead log vanished and the pool was reopened.
    private let connection: Mutex<any DatabaseWriter>
    /// The `-wal` file the daemon's pool writes to (device and inode), nil for readers.
    private let walIdentity: Mutex<FileIdentity?>
    private let reopen: (@Sendable () throws -> any DatabaseWriter)?
    /// The writer's log and cache sizes (`sizeWriter(forJobs:)`), kept for a reopened pool.
    private let sizing = Mutex<WriterSizing?>(nil)
    /// For `insert`: alerts known to be ok on the writer's connection.
    let quietAlerts = QuietAlertsCache()
    var writer: any DatabaseWriter { connection.withLock { $0 } }
    public var reader: any DatabaseReader { writer }

    private init(path: String, writer: any DatabaseWriter, reopen: (@Sendable () throws -> any DatabaseWriter)? = nil) {
        self.path = path
        self.connection = Mutex(writer)
        self.reopen = reopen
        self.walIdentity = Mutex(reopen == nil ? nil : FileIdentity(path: path + "-wal"))
    }

    /// SQLite's process-wide settings; call first thing in a process, before any connection
    /// opens (later it changes nothing). Without them SQLite takes a process-wide mutex twice
    /// per allocation, some 28 lock pairs per stored run (callgrind, BENCHMARKS.md).
    public static func prepareProcess() {
        _ = warden_sqlite_stop_memory_statistics()
    }

    /// Opens (creating if needed, mode 0600) and migrates the database the daemon writes.
    public static func openForWriting(path: String, sync: DatabaseSync = .normal, busyTimeout: TimeInterval = 10) throws(OpenError) -> HistoryStore {
        do {
            try createPrivately(path)
            let open: @Sendable () throws -> any DatabaseWriter = {
                var configuration = Configuration()
                configuration.busyMode = .timeout(busyTimeout)
                configuration.label = "warden-history"
                let pool = try DatabasePool(path: path, configuration: configuration)
                // DatabasePool sets synchronous=NORMAL on its writer after `prepareDatabase`,
                // so the chosen level is applied here, once the pool exists.
                try pool.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA synchronous = \(sync == .full ? "FULL" : "NORMAL")")
                }
                return pool
            }
            let pool = try open()
            try checkNotNewer(pool, path: path)
            try Migrations.migrator.migrate(pool)
            try skipCheckConstraints(pool)
            return HistoryStore(path: path, writer: pool, reopen: { @Sendable () throws -> any DatabaseWriter in
                let reopened = try open()
                try skipCheckConstraints(reopened)
                return reopened
            })
        } catch let error as OpenError {
            throw error
        } catch {
            throw .sqlite(path: path, message: Self.describe(error))
        }
    }

    /// Warden's own writes skip the schema's CHECK constraints, which still hold every other
    /// writer (`sqlite3`, scripts): each value they check comes from a Swift enum here, and
    /// SQLite evaluates `status IN (…)` by building a temporary b-tree per INSERT, two for
    /// every run (BENCHMARKS.md). Set after migrating, so that migrations are checked.
    private static func skipCheckConstraints(_ writer: any DatabaseWriter) throws {
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA ignore_check_constraints = ON") }
    }

    /// Opens an existing database for reading (the CLI while the daemon runs).
    public static func openForReading(path: String) throws(OpenError) -> HistoryStore {
        guard FileManager.default.fileExists(atPath: path) else { throw .missing(path: path) }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try checkNotNewer(queue, path: path)
            return HistoryStore(path: path, writer: queue)
        } catch let error as OpenError {
            throw error
        } catch {
            throw .sqlite(path: path, message: Self.describe(error))
        }
    }

    private static func checkNotNewer(_ database: any DatabaseReader, path: String) throws {
        // The applied identifiers read directly: building the migrator (every migration's
        // SQL registered) was a tenth of a read-only CLI command's own work.
        let unknown = try database.read { db -> Set<String> in
            // One lookup in sqlite_master: GRDB's `tableExists` loads its whole schema cache,
            // a third of opening the database for `warden history`.
            let tracked = try Bool.fetchOne(
                db, sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'grdb_migrations'") ?? false
            guard tracked else { return [] }
            return try String.fetchSet(db, sql: "SELECT identifier FROM grdb_migrations").subtracting(Migrations.identifiers)
        }
        if !unknown.isEmpty { throw OpenError.newerSchema(path: path, unknown: unknown.sorted()) }
    }

    /// History can hold hostnames, URLs and error text: only the daemon's user may read it.
    private static func createPrivately(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        // mkdir -p with mode 0750, reporting the real errno.
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw OpenError.sqlite(path: path, message: "cannot create the directory \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        let descriptor = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw OpenError.sqlite(path: path, message: String(cString: strerror(errno)))
        }
        _ = Glibc.close(descriptor)
    }

    /// Sizes the writer's log and page cache to `jobs` (at start and on every reload; kept
    /// for a reopened pool). The CLI's writers keep SQLite's defaults.
    public func sizeWriter(forJobs jobs: Int) throws {
        let sizing = WriterSizing(jobs: jobs)
        self.sizing.withLock { $0 = sizing }
        try apply(sizing, to: writer)
    }

    private func apply(_ sizing: WriterSizing?, to writer: any DatabaseWriter) throws {
        guard let sizing else { return }
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(sizing.checkpointPages)")
            try db.execute(sql: "PRAGMA cache_size = \(sizing.cachePages)")
        }
    }

    /// `daemon.database_sync` changed by a reload.
    public func setSynchronous(_ sync: DatabaseSync) throws {
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync == .full ? "FULL" : "NORMAL")")
        }
    }

    public static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? error.description }
        return String(describing: error)
    }

    /// A reader's failure, with what to do when it is the one a deleted `-wal` causes.
    public func describeReadFailure(_ error: any Error) -> String {
        let message = Self.describe(error)
        if (error as? DatabaseError)?.resultCode == .SQLITE_IOERR && !FileManager.default.fileExists(atPath: path + "-wal") {
            return "\(path): \(message): its -wal file is missing; a running daemon checkpoints and recreates it at its next write, so retry in a few seconds"
        }
        return "reading \(path): \(message)"
    }

    /// Whether the daemon's `-wal` file is no longer the one its pool writes to (deleted or
    /// replaced by hand). Then the frames still in the open, unlinked log are checkpointed
    /// into the database file, the pool is reopened (making a new log), and readers work
    /// again. Returns true when it reopened. A stat per call: the writer calls it per batch.
    public func reopenIfWALReplaced() throws -> Bool {
        guard let reopen else { return false }
        let current = FileIdentity(path: path + "-wal")
        let recorded: FileIdentity? = walIdentity.withLock { recorded in
            defer { if recorded == nil { recorded = current } }
            return recorded
        }
        guard let recorded, recorded != current else { return false }
        let old = writer
        // TRUNCATE also resets the -shm index that still describes the vanished log.
        _ = try? old.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try? old.close()
        let fresh = try reopen()
        try apply(sizing.withLock { $0 }, to: fresh)
        // The new pool recreates the log at its first write.
        try fresh.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version") }
        connection.withLock { $0 = fresh }
        quietAlerts.forget()  // `data_version` counts per connection
        walIdentity.withLock { $0 = FileIdentity(path: path + "-wal") }
        return true
    }

    /// Checkpoints the WAL into the main file (so a copied `history.db` is complete on its
    /// own) and closes the connections.
    public func close() throws {
        if writer is DatabasePool {
            try writer.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        }
        try writer.close()
    }
}

/// Device and inode: which file a path names right now.
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// The schema migrations from `migrations/`, embedded at build time.
enum Migrations {
    static let identifiers = Set(EmbeddedMigrations.all.map(\.identifier))

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in EmbeddedMigrations.all {
            let sql = migration.sql
            // Each migration runs in its own transaction; GRDB records it in grdb_migrations.
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: sql)
            }
        }
        return migrator
    }
}
