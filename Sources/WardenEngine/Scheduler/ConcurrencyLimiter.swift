import DequeModule
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
        let admission: OneShot<Admission>
    }

    private struct State: ~Copyable {
        var running = 0
        /// A deque: under saturation thousands wait, and an array's `removeFirst` moved them
        /// all at every release (quadratic in the queue's length).
        var waiters = Deque<Waiter>()
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
        admitted.forEach { $0.admission.deliver(.granted) }
    }

    /// Waits for a slot. Every `.granted` must be paired with one `release()`.
    public nonisolated(nonsending) func acquire() async -> Admission {
        enum Immediate { case answer(Admission), wait(Waiter) }
        // The waiter joins the queue under the same lock that found no slot: a grant that
        // comes before this task waits is kept by its OneShot, never lost.
        let immediate: Immediate = state.withLock { state in
            if state.closed { return .answer(.closed) }
            if state.running < state.maxConcurrent && state.waiters.isEmpty {
                state.running += 1
                state.peakRunning = max(state.peakRunning, state.running)
                return .answer(.granted)
            }
            if state.waiters.count >= state.maxQueue { return .answer(.queueFull) }
            state.nextID += 1
            let waiter = Waiter(id: state.nextID, admission: OneShot())
            state.waiters.append(waiter)
            return .wait(waiter)
        }
        guard case .wait(let waiter) = immediate else {
            if case .answer(let admission) = immediate { return admission }
            return .closed
        }
        return await withTaskCancellationHandler {
            await waiter.admission.value()
        } onCancel: {
            // Still queued: leave the queue, turned away. Already granted: the grant stands
            // and the caller releases it as usual.
            let queued: Bool = state.withLock { state in
                guard let index = state.waiters.firstIndex(where: { $0.id == waiter.id }) else { return false }
                state.waiters.remove(at: index)
                return true
            }
            if queued { waiter.admission.deliver(.closed) }
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
        next?.admission.deliver(.granted)
    }

    /// Refuses new runs and turns every waiting one away.
    public func close() {
        let waiters: [Waiter] = state.withLock { state in
            state.closed = true
            defer { state.waiters = [] }
            return Array(state.waiters)
        }
        waiters.forEach { $0.admission.deliver(.closed) }
    }

    public var running: Int { state.withLock { $0.running } }
    public var queued: Int { state.withLock { $0.waiters.count } }
    /// The most plugins that ever ran at once (for tests and `STATUS=`).
    public var peakRunning: Int { state.withLock { $0.peakRunning } }
}
