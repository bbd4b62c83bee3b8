import Synchronization

/// Bounds how many plugins run at once across all jobs. Runs beyond the bound wait in a
/// FIFO queue of bounded length; a run that finds the queue full is refused (and recorded
/// as skipped by the caller), never silently dropped.
public final class ConcurrencyLimiter: Sendable {
    public enum Admission: Sendable, Equatable {
        case granted
        case queueFull
        /// The daemon is stopping (or the waiting task was cancelled).
        case closed
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Admission, Never>
    }

    private struct State: ~Copyable {
        var running = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var closed = false
        var peakRunning = 0
        var maxConcurrent: Int
        var maxQueue: Int
    }

    private let state: Mutex<State>

    public init(maxConcurrent: Int, maxQueue: Int) {
        state = Mutex(State(maxConcurrent: max(1, maxConcurrent), maxQueue: max(0, maxQueue)))
    }

    public var maxConcurrent: Int { state.withLock { $0.maxConcurrent } }
    public var maxQueue: Int { state.withLock { $0.maxQueue } }

    /// New bounds from a reload. A wider bound admits waiting runs at once; a narrower one
    /// lets the runs already going finish and admits no more until they are below it.
    public func resize(maxConcurrent: Int, maxQueue: Int) {
        let admitted: [Waiter] = state.withLock { state in
            state.maxConcurrent = max(1, maxConcurrent)
            state.maxQueue = max(0, maxQueue)
            var admitted: [Waiter] = []
            while !state.closed && state.running < state.maxConcurrent && !state.waiters.isEmpty {
                admitted.append(state.waiters.removeFirst())
                state.running += 1
                state.peakRunning = max(state.peakRunning, state.running)
            }
            return admitted
        }
        admitted.forEach { $0.continuation.resume(returning: .granted) }
    }

    /// Waits for a slot. Every `.granted` must be paired with one `release()`.
    public func acquire() async -> Admission {
        enum Immediate { case answer(Admission), wait(UInt64) }
        let immediate: Immediate = state.withLock { state in
            if state.closed { return .answer(.closed) }
            if state.running < state.maxConcurrent && state.waiters.isEmpty {
                state.running += 1
                state.peakRunning = max(state.peakRunning, state.running)
                return .answer(.granted)
            }
            if state.waiters.count >= state.maxQueue { return .answer(.queueFull) }
            state.nextID += 1
            return .wait(state.nextID)
        }
        guard case .wait(let id) = immediate else {
            if case .answer(let admission) = immediate { return admission }
            return .closed
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Admission, Never>) in
                let cancelled: Bool = state.withLock { state in
                    if Task.isCancelled || state.closed { return true }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(returning: .closed) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: .closed)
        }
    }

    public func release() {
        let next: Waiter? = state.withLock { state in
            if !state.waiters.isEmpty && !state.closed && state.running <= state.maxConcurrent {
                // The slot passes straight to the oldest waiter (unless a reload narrowed the bound).
                return state.waiters.removeFirst()
            }
            state.running -= 1
            return nil
        }
        next?.continuation.resume(returning: .granted)
    }

    /// Refuses new runs and turns every waiting one away.
    public func close() {
        let waiters: [Waiter] = state.withLock { state in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.continuation.resume(returning: .closed) }
    }

    public var running: Int { state.withLock { $0.running } }
    public var queued: Int { state.withLock { $0.waiters.count } }
    /// The most plugins that ever ran at once (for tests and `STATUS=`).
    public var peakRunning: Int { state.withLock { $0.peakRunning } }
}
