import Foundation
import Logging
import Synchronization

/// Logs recorded runs (with their ids once committed; without while the database refuses
/// writes, so failures are still told): loudly when a job starts failing,
/// once per failed run after that, and when it recovers. Keeps what `STATUS=` shows.
final class RunOutcomeLog: Sendable {
    private struct State {
        var lastStatus: [String: RunStatus] = [:]
        var lastRunAt: Date?
    }

    private let logger: Logger
    private let state = Mutex(State())

    init(logger: Logger) {
        self.logger = logger
    }

    func note(_ runs: [ObservedRun]) {
        for stored in runs {
            let run = stored.record
            guard run.status != .skipped && run.status != .interrupted else { continue }
            let previous = state.withLock { state in
                defer {
                    state.lastStatus[run.job] = run.status
                    state.lastRunAt = run.finishedAt
                }
                return state.lastStatus[run.job]
            }
            // Most runs pass a passing job: nothing is logged then, so nothing is built.
            guard run.status.isFailure || previous?.isFailure == true || logger.logLevel <= .debug else { continue }
            var metadata: Logger.Metadata = [
                "job": .string(run.job), "plugin": .string(run.plugin), "status": .string(run.status.rawValue),
                "attempt": .stringConvertible(run.attempts.count),
            ]
            if let id = stored.id { metadata["run_id"] = .stringConvertible(id) } else { metadata["stored"] = "not yet (the database refuses writes)" }
            if let error = run.error { metadata["error"] = .string(error) }
            if run.status.isFailure {
                metadata["message_id"] = .string(MessageID.runFailed)
                let level: Logger.Level = previous?.isFailure == true ? .info : .warning
                logger.log(level: level, "\(previous?.isFailure == true ? "job still failing" : "job failing"): \(run.message)", metadata: metadata)
            } else if previous?.isFailure == true {
                metadata["message_id"] = .string(MessageID.jobRecovered)
                logger.notice("job recovered: \(run.message)", metadata: metadata)
            } else {
                logger.debug("run finished", metadata: metadata)
            }
        }
    }

    /// Jobs whose last run failed, among `jobs`.
    func failingCount(among jobs: Set<String>) -> Int {
        state.withLock { state in state.lastStatus.filter { jobs.contains($0.key) && $0.value.isFailure }.count }
    }

    var lastRunAt: Date? { state.withLock { $0.lastRunAt } }
}
