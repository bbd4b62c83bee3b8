import Foundation
import Logging

/// How a recorded run reads in the journal: loudly when a job starts failing, once per
/// failed run after that, and when it recovers. Whether the job was failing before comes
/// from its `JobTracker`, the one record of a job's state in the daemon.
struct RunLog: Sendable {
    let logger: Logger

    /// `wasFailing`: the job's state before this run (nil: unknown, e.g. its first run).
    func note(_ stored: ObservedRun, wasFailing: Bool?) {
        let run = stored.record
        // Most runs pass a passing job: nothing is logged then, so nothing is built.
        guard run.status.isFailure || wasFailing == true || logger.logLevel <= .debug else { return }
        var metadata: Logger.Metadata = [
            "job": .string(run.job), "plugin": .string(run.plugin), "status": .string(run.status.rawValue),
            "attempt": .stringConvertible(run.attempts.count),
        ]
        if let id = stored.id { metadata["run_id"] = .stringConvertible(id) } else { metadata["stored"] = "not yet (the database refuses writes)" }
        if let error = run.error { metadata["error"] = .string(error) }
        if run.status.isFailure {
            metadata["message_id"] = .string(MessageID.runFailed)
            let level: Logger.Level = wasFailing == true ? .info : .warning
            logger.log(level: level, "\(wasFailing == true ? "job still failing" : "job failing"): \(run.message)", metadata: metadata)
        } else if wasFailing == true {
            metadata["message_id"] = .string(MessageID.jobRecovered)
            logger.notice("job recovered: \(run.message)", metadata: metadata)
        } else {
            logger.debug("run finished", metadata: metadata)
        }
    }
}
