import Foundation

/// The CPU time the calling thread has used. Bounds on how much work an input costs use it:
/// a loaded machine, or other tests holding the cooperative threads, stretch wall time by
/// seconds but not the work itself.
public func threadCPUTime() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
}

/// Runs synchronous `body` and returns its result with the CPU time it took on this thread.
public func measuringThreadCPUTime<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let started = threadCPUTime()
    let result = try body()
    return (result, threadCPUTime() - started)
}
