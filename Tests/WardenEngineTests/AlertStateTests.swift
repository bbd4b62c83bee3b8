import Foundation
import Testing
import WardenPluginKit
@testable import WardenEngine

/// A job's alert state moves with its runs, in the runs' own transaction, and leaves events
/// in the outbox: notify_after, recover_after, severity changes, reminders, minimum
/// severity and silences.
@Suite("alert state and the outbox")
struct AlertStateTests {
    static func run(_ status: RunStatus, at seconds: Double, _ alerting: JobAlerting) -> RunRecord {
        var run = HistoryStoreTests.run("web", status, at: Date(timeIntervalSince1970: 1_800_000_000 + seconds))
        run.alerting = alerting
        return run
    }

    static func events(_ store: HistoryStore) throws -> [String] {
        try store.outbox(limit: 100).reversed().map { "\($0.event.kind.rawValue)\($0.event.severity.map { ":" + $0.rawValue } ?? "")" }
    }

    @Test func notifyAfterSeverityChangesRemindersAndRecoverAfter() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let alerting = JobAlerting(notifyAfter: 2, recoverAfter: 2, route: NotificationRoute(notifiers: ["ops"], repeatEvery: .seconds(60)))
        for (status, at) in [(RunStatus.critical, 0.0), (.critical, 10), (.warning, 20), (.warning, 50), (.warning, 90), (.ok, 100), (.ok, 110), (.ok, 120)] {
            try store.insert([Self.run(status, at: at, alerting)])
        }
        #expect(try Self.events(store) == ["job_failing:critical", "severity_changed:warning", "still_failing:warning", "job_recovered:warning"])
        let first = try #require(try store.outbox(limit: 100).last)
        #expect(first.notifier == "ops" && first.state == .pending && first.event.runID != nil)
        try store.close()
    }

    @Test func aMinimumSeverityKeepsWarningsAndTheirRecoveriesQuiet() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let alerting = JobAlerting(route: NotificationRoute(notifiers: ["pager"], minimumSeverity: .critical))
        for (status, at) in [(RunStatus.warning, 0.0), (.ok, 10), (.critical, 20), (.ok, 30), (.warning, 40), (.critical, 50), (.ok, 60)] {
            try store.insert([Self.run(status, at: at, alerting)])
        }
        // The first warning told nobody, so neither did its recovery; a warning that turns
        // critical is told as failing then.
        #expect(try Self.events(store) == ["job_failing:critical", "job_recovered:critical", "job_failing:critical", "job_recovered:critical"])
        try store.close()
    }

    @Test func aSilencedJobChangesStateQuietly() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let alerting = JobAlerting(route: NotificationRoute(notifiers: ["ops"]))
        _ = try store.addSilence(job: "we*", rule: nil, reason: "maintenance", until: Date().addingTimeInterval(3600))
        try store.insert([Self.run(.critical, at: 0, alerting), Self.run(.ok, at: 10, alerting)])
        #expect(try Self.events(store).isEmpty)
        // `--keep-notifying`: remediation stays suppressed, people are still told.
        _ = try store.addSilence(job: "web", rule: nil, reason: "known", until: Date().addingTimeInterval(3600), keepNotifying: true)
        try store.insert([Self.run(.critical, at: 12, alerting)])
        #expect(try Self.events(store).isEmpty, "the muting silence still covers it")
        // No route: state moves, nothing is queued.
        try store.insert([Self.run(.critical, at: 20, JobAlerting()), Self.run(.ok, at: 30, JobAlerting())])
        #expect(try Self.events(store).isEmpty)
        try store.close()
    }

    @Test func aSilenceThatKeepsNotifyingLetsFailuresThrough() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        _ = try store.addSilence(job: "web", rule: nil, reason: "known", until: Date().addingTimeInterval(3600), keepNotifying: true)
        let alerting = JobAlerting(route: NotificationRoute(notifiers: ["ops"]))
        try store.insert([Self.run(.critical, at: 0, alerting), Self.run(.ok, at: 10, alerting)])
        #expect(try Self.events(store) == ["job_failing:critical", "job_recovered:critical"])
        #expect(try store.silences(activeAt: Date()).first?.keepsNotifying == true)
        try store.close()
    }

    // The writer skips reading the alert back for an ok run of a job it knows is ok
    // (`QuietAlerts`): what it knows must not outlive another connection's commit or a
    // rolled-back batch.

    @Test func anAlertAnotherConnectionMadeFailingStillRecovers() throws {
        let directory = try TemporaryDirectory()
        let daemon = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let cli = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let alerting = JobAlerting(route: NotificationRoute(notifiers: ["ops"]))
        try daemon.insert([Self.run(.ok, at: 0, alerting)])
        try daemon.insert([Self.run(.ok, at: 10, alerting)])
        // A manual run, written by another process.
        try cli.insert([Self.run(.critical, at: 15, alerting)])
        try daemon.insert([Self.run(.ok, at: 20, alerting)])
        #expect(try Self.events(daemon) == ["job_failing:critical", "job_recovered:critical"])
        try cli.close()
        try daemon.close()
    }

    @Test func aBatchThatRollsBackLeavesNothingKnown() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let alerting = JobAlerting(route: NotificationRoute(notifiers: ["ops"]))
        try store.insert([Self.run(.critical, at: 0, alerting)])
        // A run of `boom` leaves a dangling reference that SQLite checks only at COMMIT: the
        // batch fails after every run in it was written.
        try store.writer.write { db in
            try db.execute(sql: """
                CREATE TABLE dangling (run_id INTEGER REFERENCES runs (id) DEFERRABLE INITIALLY DEFERRED);
                CREATE TRIGGER refuse AFTER INSERT ON runs WHEN NEW.job = 'boom' BEGIN INSERT INTO dangling VALUES (-1); END;
                """)
        }
        // The job recovers within the batch, and the next ok run finds it ok; then the commit
        // fails and none of it happened.
        var refused = Self.run(.ok, at: 30, alerting)
        refused.job = "boom"
        #expect(throws: (any Error).self) {
            try store.insert([Self.run(.ok, at: 10, alerting), Self.run(.ok, at: 20, alerting), refused])
        }
        #expect(try Self.events(store) == ["job_failing:critical"])
        try store.insert([Self.run(.ok, at: 40, alerting)])
        #expect(try Self.events(store) == ["job_failing:critical", "job_recovered:critical"])
        try store.close()
    }
}
