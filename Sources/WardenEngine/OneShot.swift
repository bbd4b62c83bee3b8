import Synchronization

/// A value handed over once, to one waiter, whichever comes first: the hand-over or the wait.
///
/// The one primitive behind every hand-off between lock-protected state and an async waiter
/// in the engine: the plugin-deadline race, the concurrency limiter's queue, and the history
/// writer's wake-up, flush, close and commit waiters. A second delivery is ignored and a
/// delivery before anyone waits is kept, so callers can deliver from inside or outside their
/// own lock, in any order, without the resume-twice and lost-wake-up bugs of bare
/// continuations.
final class OneShot<Value: Sendable>: Sendable {
    private struct State: ~Copyable {
        var waiter: CheckedContinuation<Value, Never>?
        var value: Value?
        var delivered = false
    }

    private let state = Mutex(State())

    init() {}

    /// Hands `value` over unless something was handed over already; true if this call did.
    @discardableResult
    func deliver(_ value: Value) -> Bool {
        let (delivered, waiter): (Bool, CheckedContinuation<Value, Never>?) = state.withLock { state in
            guard !state.delivered else { return (false, nil) }
            state.delivered = true
            guard let waiter = state.waiter else {
                state.value = value
                return (true, nil)
            }
            state.waiter = nil
            return (true, waiter)
        }
        waiter?.resume(returning: value)
        return delivered
    }

    /// The value, once delivered (at once if it was already). For one waiter only.
    func value() async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            let early: Value? = state.withLock { state in
                if state.delivered { return state.value }
                state.waiter = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }
    }

    /// Whether a value was handed over.
    var isDelivered: Bool { state.withLock { $0.delivered } }
}
