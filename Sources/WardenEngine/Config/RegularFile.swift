import Foundation

/// Reads a file that the loader can read without blocking: a regular file of bounded size.
/// Opened with O_NONBLOCK and checked with fstat before any read, because a FIFO, a device or
/// anything under /proc would block the loader (and with it a reload) forever.
enum RegularFile {
    static func read(_ path: String, limit: Int) -> Result<Data, Failure> {
        if path == "/proc" || path.hasPrefix("/proc/") || path.hasPrefix("/sys/") || path.hasPrefix("/dev/") {
            return .failure(Failure(reason: "only regular files are read, not /proc, /sys or /dev"))
        }
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else { return .failure(.errno()) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return .failure(.errno()) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            return .failure(Failure(reason: "not a regular file (a FIFO, device or directory is never read)"))
        }
        let tooLarge = Failure(reason: "larger than \(limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit >> 10) KiB")")
        guard Int(status.st_size) <= limit else { return .failure(tooLarge) }
        var data = Data(count: limit + 1)
        var total = 0
        while total <= limit {
            let count = data.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + total, limit + 1 - total) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return .failure(.errno()) }
            if count == 0 { break }
            total += count
        }
        guard total <= limit else { return .failure(tooLarge) }
        return .success(data.prefix(total))
    }

    struct Failure: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }

        static func errno() -> Failure { Failure(reason: String(cString: strerror(Glibc.errno))) }
    }
}
