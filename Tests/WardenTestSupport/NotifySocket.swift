import Foundation
import Synchronization

/// A real `AF_UNIX` datagram socket standing in for systemd's `NOTIFY_SOCKET`: it receives
/// what `sd_notify` sends, with arrival times.
public final class NotifySocket: Sendable {
    public struct Message: Sendable {
        public let text: String
        public let at: ContinuousClock.Instant
        public var fields: [String: String] {
            var result: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "=") else { continue }
                result[String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
            return result
        }
    }

    public let path: String
    private let descriptor: Int32
    private let received = Mutex<[Message]>([])
    private let stopped = Mutex(false)

    public init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8)).sock").path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8.prefix(raw.count - 1))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let fd = descriptor
        // Weak: the socket goes away with its last user; the loop then ends by itself.
        Thread.detachNewThread { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while let socket = self, !socket.stopped.withLock({ $0 }) {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { continue }
                socket.received.withLock { $0.append(Message(text: String(decoding: buffer[0..<count], as: UTF8.self), at: .now)) }
            }
        }
    }

    public var messages: [Message] { received.withLock { $0 } }

    /// Waits for a message with `field` (optionally equal to `value`) after `index` messages.
    public func wait(for field: String, equal value: String? = nil, after index: Int = 0, within limit: Duration = .seconds(15)) async -> (index: Int, message: Message)? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let all = messages
            for position in index..<max(index, all.count) {
                let fields = all[position].fields
                if let found = fields[field], value == nil || found == value { return (position, all[position]) }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    deinit {
        stopped.withLock { $0 = true }
        unlink(path)
        // The reader thread may be inside recv for up to 100 ms: close after it has left.
        let fd = descriptor
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { close(fd) }
    }
}
