import Foundation

/// One daemon per history database: an exclusive `flock` on `<database>.lock`, held for the
/// daemon's whole life.
///
/// `flock` rather than SQLite's own locking: SQLite's locks are per transaction and WAL mode
/// lets many writers' connections coexist, while a second daemon must be refused before it
/// schedules anything. The kernel drops the lock when the process dies, SIGKILL included, so a
/// restart needs no cleanup; the PID written into the file only names the holder in the error.
/// Readers (`history`, `stats`, `silence`) never take it.
public final class DaemonLock: Sendable {
    public struct Held: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let holder: Int32?
        public let reason: String?

        public var description: String {
            if let reason { return "cannot lock \(path): \(reason)" }
            let who = holder.map { "pid \($0)" } ?? "another process"
            return "another warden daemon (\(who)) is already using this database (lock \(path)); stop it first, or give this one its own --database"
        }
    }

    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    public static func path(forDatabase database: String) -> String { database + ".lock" }

    /// Takes the lock without waiting; throws `Held` naming the PID that has it.
    public static func acquire(database: String) throws(Held) -> DaemonLock {
        let path = path(forDatabase: database)
        let directory = (database as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        // O_CLOEXEC: a plugin's child process must never inherit (and so outlive us holding) it.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Held(path: path, holder: nil, reason: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = readPID(descriptor)
            close(descriptor)
            if failure == EWOULDBLOCK { throw Held(path: path, holder: holder, reason: nil) }
            throw Held(path: path, holder: nil, reason: String(cString: strerror(failure)))
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return DaemonLock(path: path, descriptor: descriptor)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The PID of the daemon running on `database`, nil when none is. Read without taking
    /// the lock (a probe could make a daemon starting at that moment refuse to start): the
    /// PID written in the lock file, if that process has the lock file open.
    public static func runningDaemon(database: String) -> Int32? {
        let path = path(forDatabase: database)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        let target = (path as NSString).standardizingPath
        let absolute = target.hasPrefix("/") ? target : FileManager.default.currentDirectoryPath + "/" + target
        for descriptor in descriptors {
            if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)"),
               (link as NSString).standardizingPath == (absolute as NSString).standardizingPath {
                return pid
            }
        }
        return nil
    }

    /// Releases the lock (a clean stop); the file stays, so its inode is never raced.
    public func release() {
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
