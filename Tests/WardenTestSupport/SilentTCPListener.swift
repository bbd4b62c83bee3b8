import Foundation

/// A loopback port that completes TCP handshakes (the kernel does, from the listen backlog)
/// and then never says a word: the server that hangs after accepting, which only a client's
/// own timeout can get out of.
public final class SilentTCPListener: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        (descriptor, port) = try loopbackSocket(listening: 16)
    }

    deinit { close(descriptor) }
}

/// A TCP socket bound to an ephemeral port on 127.0.0.1, listening with `backlog` when given
/// (without, connecting to it is refused and nothing else can bind the port while it is open).
func loopbackSocket(listening backlog: Int32?) throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            guard bind(descriptor, pointer, length) == 0 else { return false }
            if let backlog, listen(descriptor, backlog) != 0 { return false }
            return getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else {
        let code = errno
        close(descriptor)
        throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EADDRINUSE)
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}
