import Synchronization

/// The tasks scheduled runs go in, kept between runs: a task that finished a run waits for
/// the next run started on its executor instead of ending. A task per run was ~11,000
/// instructions of a check (callgrind): its creation, start and destruction, and the ~nine
/// 1 KB slabs its async frames outgrew, each a `malloc` and a `free`; a kept task's slabs
/// stay with it. A timer slot fires at most `max_concurrency` jobs (at least 32) at once, so
/// that many idle tasks are kept (`idleLimit`); a task finishing a run beyond it ends.
///
/// They are the runner's unstructured tasks, as a task per run was: `close` (at shutdown,
/// after the scheduler stopped) ends the idle ones and makes the busy ones end after their
/// run, and returns them all for the runner to wait for, or cancel.
final class RunTasks: Sendable {
    typealias Run = @Sendable () async -> Void

    private struct Idle {
        let id: UInt64
        let executor: ObjectIdentifier?
        let next: UnsafeContinuation<Run?, Never>
    }

    private struct State: ~Copyable {
        var live: [UInt64: Task<Void, Never>] = [:]
        /// Newest last: the task parked last has its slabs warmest.
        var idle: [Idle] = []
        var nextID: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let idleLimit: @Sendable () -> Int

    init(idleLimit: @escaping @Sendable () -> Int) {
        self.idleLimit = idleLimit
    }

    /// Starts `run` on `executor` (nil: the global pool) in an idle task, or a new one.
    /// Returns the task it runs in; that task runs other runs afterwards.
    func start(on executor: (any TaskExecutor)?, _ run: @escaping Run) -> Task<Void, Never> {
        let key = executor.map { ObjectIdentifier($0) }
        return state.withLock { state in
            // An idle task is live: both are emptied together, by `close`.
            if let index = state.idle.lastIndex(where: { $0.executor == key }), let task = state.live[state.idle[index].id] {
                // Resumed inside the lock: `close` cannot end it in between.
                state.idle.remove(at: index).next.resume(returning: run)
                return task
            }
            state.nextID += 1
            let id = state.nextID
            // Created inside the lock, so the task is `live` before it can park or end.
            let task = Task(executorPreference: executor) { [self] in
                var run = run
                while true {
                    await run()
                    guard let next = await nextRun(id: id, executor: key) else { return }
                    run = next
                }
            }
            if !state.closed { state.live[id] = task }
            return task
        }
    }

    /// Parks the calling task until a run is started on its executor; nil: it is to end
    /// (closed, or enough tasks are idle already).
    private nonisolated(nonsending) func nextRun(id: UInt64, executor: ObjectIdentifier?) async -> Run? {
        let limit = idleLimit()
        return await withUnsafeContinuation { continuation in
            let parked = state.withLock { state -> Bool in
                guard !state.closed, state.idle.count < limit else {
                    state.live[id] = nil
                    return false
                }
                state.idle.append(Idle(id: id, executor: executor, next: continuation))
                return true
            }
            if !parked { continuation.resume(returning: nil) }
        }
    }

    /// Starts no task from now on (a run started later gets a task of its own) and ends the
    /// idle ones; returns every task still going, each ending after its run.
    func close() -> [Task<Void, Never>] {
        let (idle, live) = state.withLock { state in
            state.closed = true
            defer {
                state.idle = []
                state.live = [:]
            }
            return (state.idle, Array(state.live.values))
        }
        idle.forEach { $0.next.resume(returning: nil) }
        return live
    }

    var idleCount: Int { state.withLock { $0.idle.count } }
}
