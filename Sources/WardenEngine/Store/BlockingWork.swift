import Dispatch

/// Where SQLite calls run. They block (a busy timeout of seconds under another process's
/// lock, fsync, a full disk), and Swift's cooperative pool has one thread per core that every
/// check shares: a blocked call there stalls every check.
///
/// A serial queue, because on Linux a concurrent queue (like the global ones) draws from the
/// same width-limited thread pool as Swift's cooperative executor, and libdispatch notices
/// blocked threads only about a second later: measured as a 0.9 s stall of every check. A
/// serial queue runs on an overcommit thread of its own.
struct BlockingQueue: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// A serial executor on its own Dispatch queue, for actors whose methods call SQLite
/// synchronously (the remediation engine): their blocking stays off the cooperative pool,
/// and their decisions stay atomic (no suspension point in the middle of a guard check).
final class DispatchSerialExecutor: SerialExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }
}
