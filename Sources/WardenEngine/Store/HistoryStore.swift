import Foundation
import GRDB
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
    let writer: any DatabaseWriter
    public var reader: any DatabaseReader { writer }

    private init(path: String, writer: any DatabaseWriter) {
        self.path = path
        self.writer = writer
    }

    /// Opens (creating if needed, mode 0600) and migrates the database the daemon writes.
    public static func openForWriting(path: String, sync: DatabaseSync = .normal, busyTimeout: TimeInterval = 10) throws(OpenError) -> HistoryStore {
        do {
            try createPrivately(path)
            var configuration = Configuration()
            configuration.busyMode = .timeout(busyTimeout)
            configuration.label = "warden-history"
            let pool = try DatabasePool(path: path, configuration: configuration)
            // DatabasePool sets synchronous=NORMAL on its writer after `prepareDatabase`,
            // so the chosen level is applied here, once the pool exists.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(sync == .full ? "FULL" : "NORMAL")")
            }
            try checkNotNewer(pool, path: path)
            try Migrations.migrator.migrate(pool)
            return HistoryStore(path: path, writer: pool)
        } catch let error as OpenError {
            throw error
        } catch {
            throw .sqlite(path: path, message: Self.describe(error))
        }
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
        let unknown = try database.read { db in
            try Migrations.migrator.appliedIdentifiers(db).subtracting(Migrations.identifiers)
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
