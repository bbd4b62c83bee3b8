import NIOCore

/// Runs a task's jobs on the event loops of the HTTP client's group.
///
/// A run of a `NonBlockingPlugin` runs here from its start to its record (`JobRunner.tick`):
/// when its HTTP exchange replies, the reply resumes the task on the loop that received it
/// (`any()` is the current loop when called from one of the group's), instead of handing it
/// to Swift's cooperative pool and waking a thread there.
/// SwiftNIO 2.101 has no task executor of its own for event loops; this is the few lines one
/// takes.
final class EventLoopTaskExecutor: TaskExecutor {
    private let group: any EventLoopGroup

    init(group: any EventLoopGroup) {
        self.group = group
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        group.any().execute { job.runSynchronously(on: executor) }
    }
}
