import Dispatch

/// Where SQLite calls run. They block (a busy timeout of seconds under another process's
/// lock, fsync, a full disk), and Swift's cooperative pool has one thread per core that every
/// check shares: a blocked call there stalls every check. So they run on Dispatch threads.
enum BlockingWork {
    private static let queue = DispatchQueue(label: "warden.blocking", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
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
