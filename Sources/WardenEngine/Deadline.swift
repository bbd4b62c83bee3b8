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
    let gate = OneShot<Result<Success, any Error>?>()
    let task = Task {
        let result: Result<Success, any Error>
        do { result = .success(try await operation()) } catch { result = .failure(error) }
        gate.deliver(result)
    }
    let deadline = DispatchWorkItem { gate.deliver(nil) }
    schedule(deadline, after: limit)
    let outcome = await withTaskCancellationHandler {
        await gate.value()
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
    let gate = OneShot<Result<Success, any Error>?>()
    // On the deadline queue, like runWithDeadline's: on time even when the pool is busy.
    let timer = DispatchWorkItem { gate.deliver(nil) }
    schedule(timer, after: limit)
    Task {
        let result = await task.result
        gate.deliver(result.mapError { $0 as any Error })
        timer.cancel()
    }
    return await withTaskCancellationHandler {
        await gate.value()
    } onCancel: {
        task.cancel()
    }
}
