import WardenPluginKit

/// Runs `operation` in a new task and returns its result, or nil when `limit` passed first;
/// the task is returned too, for cancelling it and waiting out its grace.
///
/// For plugins that may block (`NonBlockingPlugin`s run in the run's own task): one task, and
/// an entry on the shared deadline timer, instead of a sleeping timer task and a waiting task,
/// which cost two more task creations and thread wake-ups per run.
nonisolated(nonsending) func runWithDeadline<Success: Sendable>(
    _ limit: Duration,
    operation: @escaping @Sendable () async throws -> Success
) async -> (outcome: Result<Success, any Error>?, task: Task<Void, Never>) {
    let gate = OneShot<Result<Success, any Error>?>()
    let task = Task {
        let result: Result<Success, any Error>
        do { result = .success(try await operation()) } catch { result = .failure(error) }
        gate.deliver(result)
    }
    let deadline = DeadlineTimer.shared.schedule(after: limit) { gate.deliver(nil) }
    let outcome = await withTaskCancellationHandler {
        await gate.value()
    } onCancel: {
        task.cancel()
    }
    DeadlineTimer.shared.cancel(deadline)
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
    // On the deadline timer, like runWithDeadline's: on time even when the pool is busy.
    let timer = DeadlineTimer.shared.schedule(after: limit) { gate.deliver(nil) }
    Task {
        let result = await task.result
        gate.deliver(result.mapError { $0 as any Error })
        DeadlineTimer.shared.cancel(timer)
    }
    return await withTaskCancellationHandler {
        await gate.value()
    } onCancel: {
        task.cancel()
    }
}
