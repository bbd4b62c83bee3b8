import Dispatch
import Synchronization

/// Where deadlines fire: a serial queue has an (overcommit) thread of its own, while the
/// global queues on Linux share the width-limited pool that Swift's executor uses, so a busy
/// pool made a 300 ms timeout fire seconds late (measured 4.4–4.7 s under `make test`).
private let deadlineQueue = DispatchQueue(label: "warden.deadlines")

/// Runs `item` on the deadline queue once `limit` has passed (capped at a year).
private func schedule(_ item: DispatchWorkItem, after limit: Duration) {
    let (seconds, attoseconds) = limit.components
    let nanoseconds = min(seconds, 86_400 * 365) * 1_000_000_000 + attoseconds / 1_000_000_000
    deadlineQueue.asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds)), execute: item)
}

/// Runs `operation` in a new task and returns its result, or nil when `limit` passed first;
/// the task is returned too, for cancelling it and waiting out its grace.
///
/// This is the executor's hot path (one call per plugin run): one task, and a Dispatch work
/// item for the deadline, instead of a sleeping timer task and a waiting task, which cost
/// two more task creations and thread wake-ups per run.
func runWithDeadline<Success: Sendable>(
    _ limit: Duration,
    operation: @escaping @Sendable () async throws -> Success
) async -> (outcome: Result<Success, any Error>?, task: Task<Void, Never>) {
    let gate = ResumeOnce<Result<Success, any Error>?>()
    let task = Task {
        let result: Result<Success, any Error>
        do { result = .success(try await operation()) } catch { result = .failure(error) }
        gate.resume(with: result)
    }
    let deadline = DispatchWorkItem { gate.resume(with: nil) }
    schedule(deadline, after: limit)
    let outcome = await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in gate.install(continuation) }
    } onCancel: {
        task.cancel()
    }
    deadline.cancel()
    return (outcome, task)
}

/// Waits for `task` at most `limit`. Returns its result, or nil when the limit passed first.
///
/// Unlike a task group, this returns at the limit even when the task ignores cancellation:
/// a plugin stuck in a blocking call must never hold up the scheduler. The caller decides
/// whether to cancel the task.
func awaitResult<Success: Sendable, Failure: Error>(
    of task: Task<Success, Failure>,
    within limit: Duration
) async -> Result<Success, any Error>? {
    let gate = ResumeOnce<Result<Success, any Error>?>()
    return await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            gate.install(continuation)
            // On the deadline queue, like runWithDeadline's: on time even when the pool is busy.
            let timer = DispatchWorkItem { gate.resume(with: nil) }
            schedule(timer, after: limit)
            Task {
                let result = await task.result
                gate.resume(with: result.mapError { $0 as any Error })
                timer.cancel()
            }
        }
    } onCancel: {
        task.cancel()
    }
}

/// A continuation that is resumed by whichever side comes first, exactly once.
private final class ResumeOnce<Value: Sendable>: Sendable {
    private struct State: ~Copyable {
        var continuation: CheckedContinuation<Value, Never>?
        var early: Value?
        var done = false
    }

    private let state = Mutex<State>(State())

    func install(_ continuation: CheckedContinuation<Value, Never>) {
        let finished: (done: Bool, value: Value?) = state.withLock { state in
            if state.done { return (true, state.early) }
            state.continuation = continuation
            return (false, nil)
        }
        // `value` is set whenever `done` is: resume() stores it before flagging.
        if finished.done, let value = finished.value { continuation.resume(returning: value) }
    }

    func resume(with value: Value) {
        let continuation: CheckedContinuation<Value, Never>?? = state.withLock { state in
            guard !state.done else { return .none }
            state.done = true
            guard let continuation = state.continuation else {
                state.early = value
                return .some(nil)
            }
            state.continuation = nil
            return .some(continuation)
        }
        if case .some(.some(let continuation)) = continuation { continuation.resume(returning: value) }
    }
}
