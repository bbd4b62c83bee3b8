import Foundation

/// Another process holding SQLite's write lock (python3's sqlite3), as a long report or a
/// stuck `sqlite3` shell would.
public final class SQLiteLockHolder {
    private let process = Process()

    /// `statements` run in one connection after `BEGIN EXCLUSIVE` (or before it with `beginExclusive: false`).
    public init(path: String, statements: [String] = [], beginExclusive: Bool = true) throws {
        let script = """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
            \(beginExclusive ? "c.execute('BEGIN EXCLUSIVE')" : "pass")
            for statement in sys.argv[2:]:
                c.execute(statement)
            print('locked', flush=True)
            time.sleep(3600)
            """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path] + statements
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let line = pipe.fileHandleForReading.availableData
        guard String(decoding: line, as: UTF8.self).contains("locked") else {
            process.terminate()
            throw StorageFaultError("the lock holder did not take the lock")
        }
    }

    public func release() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { release() }
}

/// A small ext4 filesystem on a loop device: real storage faults for the history. A file
/// made immutable (`chattr +i`) refuses writes even through descriptors already open (what a
/// read-only remount does, which the kernel refuses while files are open for writing); a
/// filler file makes the disk full.
public final class LoopFilesystem {
    public let mountPoint: String
    private let image: String
    private var mounted = false

    /// Root, loop devices and e2fsprogs: what CI has. Elsewhere the tests that need it skip.
    public static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.ext4")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/chattr")
    }

    public init(megabytes: Int) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("warden-fs-\(UUID().uuidString)").path
        image = base + ".img"
        mountPoint = base
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, off_t(megabytes) << 20) == 0 else {
            throw StorageFaultError("cannot create \(image)")
        }
        try Self.shell("/usr/sbin/mkfs.ext4", "-q", "-F", "-m", "0", image)
        try Self.shell("/usr/bin/mount", "-o", "loop", image, mountPoint)
        mounted = true
    }

    /// Writes through any descriptor fail with EPERM until `thaw`.
    public func freeze(_ paths: [String]) throws {
        for path in paths where FileManager.default.fileExists(atPath: path) { try Self.shell("/usr/bin/chattr", "+i", path) }
    }

    public func thaw(_ paths: [String]) throws {
        for path in paths where FileManager.default.fileExists(atPath: path) { try Self.shell("/usr/bin/chattr", "-i", path) }
    }

    /// Fills the filesystem; returns the filler to delete.
    public func fill() throws -> String {
        let filler = mountPoint + "/filler"
        let descriptor = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw StorageFaultError("cannot create \(filler)") }
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 0xA5, count: 1 << 16)
        var size = chunk.count
        // Large chunks, then smaller ones, until not even one byte fits.
        while size > 0 {
            if chunk.withUnsafeBytes({ write(descriptor, $0.baseAddress, size) }) < 0 { size /= 2 }
        }
        fsync(descriptor)
        return filler
    }

    public func unmount() {
        guard mounted else { return }
        mounted = false
        try? Self.shell("/usr/bin/umount", "-l", mountPoint)
        try? FileManager.default.removeItem(atPath: image)
        try? FileManager.default.removeItem(atPath: mountPoint)
    }

    deinit { unmount() }

    private static func shell(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw StorageFaultError("\(arguments.joined(separator: " ")) failed: \(text)")
        }
    }
}

public struct StorageFaultError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
