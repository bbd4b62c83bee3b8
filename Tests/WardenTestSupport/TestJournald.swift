import Foundation
import Synchronization

/// A real systemd-journald for tests (as root): started when none runs, shared by every
/// suite that needs it at the same time, and stopped when the last one lets go.
public final class TestJournald: Sendable {
    public static let socketPath = "/run/systemd/journal/socket"

    private struct Shared {
        var users = 0
        var started: Process?
    }

    private static let shared = Mutex(Shared())
    private let released = Mutex(false)

    public init() async throws {
        let needsStart: Bool = Self.shared.withLock { shared in
            shared.users += 1
            return shared.users == 1 && !Self.listening()
        }
        guard needsStart else {
            // Another suite is starting it: wait for the socket.
            for _ in 0..<100 where !Self.listening() { try await Task.sleep(for: .milliseconds(50)) }
            return
        }
        let journald = Process()
        journald.executableURL = URL(fileURLWithPath: "/lib/systemd/systemd-journald")
        journald.standardOutput = FileHandle.nullDevice
        journald.standardError = FileHandle.nullDevice
        try journald.run()
        Self.shared.withLock { $0.started = journald }
        for _ in 0..<100 where !Self.listening() {
            try await Task.sleep(for: .milliseconds(50))
        }
        guard Self.listening() else { throw POSIXError(.ECONNREFUSED) }
    }

    /// Whether something accepts datagrams on the journal socket (a stale file does not).
    public static func listening() -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: socketPath.utf8) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    public func stop() {
        guard released.withLock({ done in defer { done = true }; return !done }) else { return }
        let last: Process? = Self.shared.withLock { shared in
            shared.users -= 1
            guard shared.users == 0 else { return nil }
            defer { shared.started = nil }
            return shared.started
        }
        guard let last, last.isRunning else { return }
        last.terminate()
        for _ in 0..<100 where last.isRunning { Thread.sleep(forTimeInterval: 0.02) }
    }

    deinit { stop() }
}
