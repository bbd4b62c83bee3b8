/// Fixed 128-bit `MESSAGE_ID`s for Warden's key events, so that
/// `journalctl MESSAGE_ID=<id>` finds every occurrence whatever the message text.
/// Log calls attach them as the `message_id` metadata key.
public enum MessageID {
    public static let runFailed = "94a18cfe615d4c9a842879bb786a5cd1"
    public static let jobRecovered = "d27cf98864ff4580b3b76fb253b0c663"
    public static let remediationStarted = "6b31b119d18f458483e4826b6818f67b"
    public static let remediationFinished = "93b52ba6171646b8a23ddc83b2c3c321"
    public static let remediationSuppressed = "3e652119b12e45a38b868fbee28e7ac5"
    public static let budgetExhausted = "904314a97cb44e6b96d341205dd7a22e"
    public static let reloadDone = "1f3aa84d664f47b18419f7fea390db67"
    public static let reloadFailed = "8cc5eee86d6c4ee7ae59cfbfcede7e42"
    /// A remediation refused because its guards could not be read or its audit row written.
    public static let guardStateUnavailable = "c4f0f7f2b6a94d0e9e51d7a3a0b8e1d2"
    /// A second daemon refused: the database is already in use.
    public static let databaseInUse = "5b2e8f0c41d34a7f9c6d2e1b7a9f3c40"
    /// History writes are failing; runs are buffered in memory until they succeed.
    public static let historyWriteFailing = "0d9c7e2a5b8f4e61a3c2d4f6b8e0a1c3"
    /// History writes succeed again after a failure (with how many runs were buffered).
    public static let historyWriteRecovered = "7a1e3c5b9d2f4a68b0c4e6d8f1a3b5c7"
    /// Runs were dropped: the write buffer was past its bound while the database refused writes.
    public static let historyRunsDropped = "e4b6d8f0a2c44e86a8c0e2f4b6d8a0c2"
    /// The database's write-ahead log vanished or was replaced; the daemon reopened it.
    public static let historyWALReopened = "3f5a7c9e1b3d4f50a2c4e6f8b0d2f4a6"
    /// A failing job's severity changed (warning ↔ critical ↔ unknown).
    public static let severityChanged = "5c8e2a4f6b1d4e3a9c7b5d1f3e8a2c46"
    /// A reminder: the job is still failing (`repeat:`).
    public static let stillFailing = "b7d9f1a3c5e74b2d8f0a6c4e2b9d7f13"
    public static let flappingStarted = "2a4c6e8f0b1d4f3a5c7e9b1d3f5a7c90"
    public static let flappingStopped = "8f6d4b2a0e9c4d7b5a3f1e9c7b5d3a18"
    /// The wall clock was set; the scheduler's timers were armed again from the new time.
    public static let wallClockSet = "6d1f3b5a7c9e4d20b4f6a8c0e2d4b6f8"
    /// `warden notify test`.
    public static let notificationTest = "e1c3a5b7d9f24e6a8c0b2d4f6a8c0e21"

    /// For `docs/operations.md` and `warden --help`: name and id.
    public static let all: [(event: String, id: String)] = [
        ("run failed", runFailed), ("job recovered", jobRecovered), ("remediation started", remediationStarted),
        ("remediation finished", remediationFinished), ("remediation suppressed", remediationSuppressed),
        ("budget exhausted", budgetExhausted), ("reload done", reloadDone), ("reload failed", reloadFailed),
        ("guard state unavailable", guardStateUnavailable), ("database in use", databaseInUse),
        ("history write failing", historyWriteFailing), ("history write recovered", historyWriteRecovered),
        ("history runs dropped", historyRunsDropped), ("history WAL reopened", historyWALReopened),
        ("severity changed", severityChanged), ("still failing", stillFailing), ("flapping started", flappingStarted),
        ("flapping stopped", flappingStopped), ("wall clock set", wallClockSet), ("notification test", notificationTest),
    ]
}
