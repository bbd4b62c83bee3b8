import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import Testing
import WardenPluginKit
@testable import WardenEngine

@Suite("history store")
struct HistoryStoreTests {
    static func run(_ job: String, _ status: RunStatus, at time: Date, attempts: Int = 1, duration: Duration = .milliseconds(5)) -> RunRecord {
        RunRecord(
            job: job, plugin: "probe", trigger: .schedule, scheduledAt: time, startedAt: time,
            finishedAt: time.addingTimeInterval(duration.seconds), duration: duration, status: status,
            message: "\(status)", error: status == .ok ? nil : "boom", retry: false, data: ["n": 1],
            configHash: "hash",
            attempts: (1...max(1, attempts)).map { number in
                AttemptRecord(number: number, wait: .milliseconds(100 * (number - 1)), startedAt: time, duration: duration,
                              outcome: number == attempts ? AttemptOutcome(rawValue: status.rawValue) ?? AttemptOutcome.ok : AttemptOutcome.critical,
                              retry: true, message: "attempt \(number)", error: nil)
            }
        )
    }

    @Test func migratesCreatesPrivatelyAndRecordsTheMigration() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("sub/history.db")
        let store = try HistoryStore.openForWriting(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let applied = try store.reader.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        // Every file in migrations/, in order: the build plugin embedded them all.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: repository.path + "/migrations")
            .filter { $0.hasSuffix(".sql") }.sorted().map { String($0.dropLast(4)) }
        #expect(applied == files)
        #expect(files.first == "0001_history")
        let journal = try store.reader.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
        try store.close()
        // Opening again applies nothing new and keeps working.
        try HistoryStore.openForWriting(path: path).close()
    }

    @Test func aDatabaseFromANewerWardenIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("history.db")
        try HistoryStore.openForWriting(path: path).close()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('0099_future')") }
        try queue.close()
        #expect {
            try HistoryStore.openForWriting(path: path)
        } throws: { error in
            "\(error)".contains("written by a newer Warden") && "\(error)".contains("0099_future")
        }
        #expect(throws: HistoryStore.OpenError.self) { try HistoryStore.openForReading(path: path) }
    }

    /// Warden's writer skips the CHECK constraints (its values are Swift enums); every other
    /// connection to the file is still held to them.
    @Test func otherWritersAreStillHeldToTheSchemasChecks() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("history.db")
        let store = try HistoryStore.openForWriting(path: path)
        try store.insert([Self.run("web", .ok, at: Date())])
        let other = try DatabaseQueue(path: path)
        defer { try? other.close() }
        #expect(throws: DatabaseError.self) {
            try other.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (job, plugin, trigger, scheduled_at, finished_at, status, config_hash)
                    VALUES ('web', 'http.request', 'schedule', 0, 0, 'bogus', 'h')
                    """)
            }
        }
        #expect(try other.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") } == 1)
        try store.close()
    }

    @Test func runsAttemptsAndJobStateRoundTrip() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var runs: [RunRecord] = []
        for (index, status) in [RunStatus.ok, .ok, .critical, .timeout, .skipped, .ok].enumerated() {
            runs.append(Self.run("web", status, at: start.addingTimeInterval(Double(index) * 60), attempts: status == .critical ? 3 : 1))
        }
        runs.append(Self.run("db", .unknown, at: start))
        runs.append(Self.run("cache", .warning, at: start))
        let ids = try store.insert(runs)
        #expect(ids.count == 8)

        let web = try store.history(HistoryQuery(job: "web", limit: 10, includeAttempts: true))
        #expect(web.map(\.record.status) == [.ok, .skipped, .timeout, .critical, .ok, .ok])
        let failed = try #require(web.first { $0.record.status == .critical })
        #expect(failed.record.attempts.map(\.number) == [1, 2, 3])
        #expect(failed.record.attempts.map(\.wait) == [.zero, .milliseconds(100), .milliseconds(200)])
        #expect(failed.record.data == ["n": 1])
        #expect(try store.history(HistoryQuery(statuses: [.unknown], limit: 10)).map(\.record.job) == ["db"])
        // `--status failing`: everything that is not ok, skipped or interrupted.
        #expect(Set(try store.history(HistoryQuery(statuses: RunStatus.failing, limit: 10)).map(\.record.status)) == [.warning, .critical, .unknown, .timeout])
        let windowed = try store.history(HistoryQuery(job: "web", since: start.addingTimeInterval(100), until: start.addingTimeInterval(200)))
        #expect(windowed.count == 2)

        let state = try store.reader.read { db in try Row.fetchOne(db, sql: "SELECT * FROM job_state WHERE job = 'web'") }
        // ok, ok, failed, timeout, (skipped does not count), ok: one success after two failures.
        #expect(state?["consecutive_successes"] == 1)
        #expect(state?["consecutive_failures"] == 0)
        #expect(state?["last_status"] == "ok")

        let stats = try store.statistics(since: start.addingTimeInterval(-1))
        let webStats = try #require(stats.first { $0.job == "web" })
        #expect(webStats.runs == 6 && webStats.ok == 3 && webStats.failing == 2 && webStats.bySeverity[.critical] == 1 && webStats.bySeverity[.timeout] == 1 && webStats.skipped == 1)
        #expect(webStats.successPercent == 60)
        #expect(webStats.streak?.kind == "ok" && webStats.streak?.length == 1)
        #expect(webStats.p50 == .milliseconds(5))
        try store.close()
    }

    /// A job's state after each run, across separate commits (the first run inserts the row,
    /// later ones update it): streaks, the last change only at a pass/fail turn, the last run,
    /// the config's hash. Kept field by field whichever statement writes it.
    @Test func jobStateFollowsEachRunAcrossCommits() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        func state() throws -> Row {
            try #require(try store.reader.read { db in try Row.fetchOne(db, sql: "SELECT * FROM job_state WHERE job = 'web'") })
        }
        let steps: [(RunStatus, successes: Int, failures: Int, changedAt: Int)] = [
            (.ok, 1, 0, 0), (.ok, 2, 0, 0), (.critical, 0, 1, 2), (.timeout, 0, 2, 2), (.warning, 0, 3, 2), (.ok, 1, 0, 5), (.ok, 2, 0, 5),
        ]
        for (index, step) in steps.enumerated() {
            var run = Self.run("web", step.0, at: start.addingTimeInterval(Double(index) * 60), duration: .zero)
            run.configHash = "hash-\(index)"
            let id = try #require(try store.insert([run]).first)
            let row = try state()
            #expect(row["last_status"] == step.0.rawValue, "run \(index)")
            #expect(row["consecutive_successes"] == step.successes, "run \(index)")
            #expect(row["consecutive_failures"] == step.failures, "run \(index)")
            #expect(row["last_change_at"] == start.addingTimeInterval(Double(step.changedAt) * 60).epochMilliseconds, "run \(index)")
            #expect(row["last_run_id"] == id && row["last_run_at"] == run.finishedAt.epochMilliseconds, "run \(index)")
            #expect(row["config_hash"] == "hash-\(index)", "run \(index)")
        }
        // A skipped run is no outcome: the state stays as the last outcome left it.
        try store.insert([RunRecord(
            job: "web", plugin: "probe", trigger: .schedule, scheduledAt: start.addingTimeInterval(600), startedAt: nil,
            finishedAt: start.addingTimeInterval(600), duration: nil, status: .skipped, message: "skipped", error: "overlap",
            retry: false, data: .null, configHash: "other", attempts: []
        )])
        #expect(try state()["consecutive_successes"] == 2 && state()["config_hash"] == "hash-6")
        try store.close()
    }

    /// `warden stats --since 1h` walked the whole history (`runs_by_job_time`, for the
    /// grouping) to count a window: 0.9 s on a 1M-run store for an empty hour. The
    /// `job_summary_24h` view did the same.
    @Test func statisticsReadOnlyTheirWindow() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let now = Date()
        try store.insert([
            Self.run("web", .ok, at: now.addingTimeInterval(-7200)),
            Self.run("web", .critical, at: now.addingTimeInterval(-60)),
            Self.run("db", .ok, at: now.addingTimeInterval(-30)),
            Self.run("db", .ok, at: now.addingTimeInterval(-10)),
        ])
        func plan(_ sql: String, _ arguments: StatementArguments = []) throws -> [String] {
            try store.reader.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
            }
        }
        let searchesTheWindow = "SEARCH runs USING INDEX runs_by_time (scheduled_at>?)"
        let statisticsPlan = try plan(HistoryStore.statisticsSQL, [0])
        #expect(statisticsPlan.contains { $0.contains(searchesTheWindow) }, "\(statisticsPlan)")
        // The same for sqlite3 users' day summary (migration 0008).
        let viewPlan = try plan("SELECT * FROM job_summary_24h")
        #expect(viewPlan.contains { $0.contains(searchesTheWindow) }, "\(viewPlan)")
        let summary = try store.reader.read { db in try Row.fetchAll(db, sql: "SELECT job, runs FROM job_summary_24h ORDER BY job") }
        #expect(summary.map { $0["job"] as String } == ["db", "web"] && summary.map { $0["runs"] as Int } == [2, 2])
        let statistics = try store.statistics(since: now.addingTimeInterval(-3600))
        #expect(statistics.map(\.job) == ["db", "web"])
        #expect(statistics.map(\.runs) == [2, 1] && statistics.map(\.ok) == [2, 0])
        try store.close()
    }

    /// A run that succeeded at its first try is its own attempt: no `attempts` row is written
    /// for it (there was one per check), yet `history --attempts` and the `all_attempts` view
    /// give back that attempt exactly. A retried run, a failed one, and an ok run whose attempt
    /// says something the run does not keep their rows.
    @Test func aFirstTrySuccessIsItsOwnAttemptRow() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let time = Date(timeIntervalSince1970: 1_800_000_000.123)
        func firstTry(_ job: String, _ status: RunStatus) -> RunRecord {
            var run = Self.run(job, status, at: time.addingTimeInterval(1), duration: .microseconds(2_345))
            run.retry = status != .ok
            run.attempts = [AttemptRecord(number: 1, wait: .zero, startedAt: run.startedAt!, duration: run.duration!,
                                          outcome: AttemptOutcome(rawValue: status.rawValue)!, retry: run.retry, message: run.message, error: run.error)]
            return run
        }
        var differs = firstTry("differs", .ok)
        differs.attempts[0].message = "the attempt said more"
        let runs = [firstTry("plain", .ok), firstTry("down", .critical), Self.run("retried", .ok, at: time, attempts: 3), differs]
        let ids = try store.insert(runs)
        let rows = try store.reader.read { db in
            try Dictionary(grouping: Int64.fetchAll(db, sql: "SELECT run_id FROM attempts"), by: { $0 }).mapValues(\.count)
        }
        #expect(rows == [ids[1]: 1, ids[2]: 3, ids[3]: 1], "\(rows)")
        let read = try store.history(HistoryQuery(limit: 10, includeAttempts: true))
        for (run, id) in zip(runs, ids) {
            let stored = try #require(read.first { $0.id == id })
            #expect(stored.record.attempts.count == run.attempts.count, "\(run.job)")
            for (back, written) in zip(stored.record.attempts, run.attempts) {
                #expect(back.number == written.number && back.wait == written.wait && back.outcome == written.outcome, "\(run.job)")
                #expect(back.startedAt.epochMilliseconds == written.startedAt.epochMilliseconds && back.duration == written.duration, "\(run.job)")
                #expect(back.retry == written.retry && back.message == written.message && back.error == written.error, "\(run.job)")
            }
        }
        let view = try store.reader.read { db in
            try Row.fetchAll(db, sql: "SELECT run_id, number, outcome, duration_ms, message FROM all_attempts ORDER BY run_id, number")
        }
        #expect(view.map { $0["run_id"] as Int64 } == [ids[0], ids[1], ids[2], ids[2], ids[2], ids[3]])
        #expect(view[0]["outcome"] as String == "ok" && abs(view[0]["duration_ms"] as Double - 2.345) < 1e-9 && view[0]["message"] as String == "ok")
        try store.close()
    }

    /// The writer binds its per-run values through SQLite's C API: every column reads back
    /// as written, text with a NUL (whole: GRDB's binding cut it there), empty text, non-ASCII text and NULLs included, and a
    /// failing statement still throws GRDB's error and leaves the statement usable.
    @Test func everyColumnOfARunSurvivesTheDirectBinding() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let time = Date(timeIntervalSince1970: 1_800_000_000.123)
        var run = Self.run("jöb", .critical, at: time, attempts: 2, duration: .microseconds(1_500))
        run.message = ""
        run.error = "é 日本 🚀 \u{0} end"
        run.retry = true
        run.startedAt = nil
        run.data = ["nested": ["a": 1.5]]
        run.conditions = [ConditionOutcome(expression: "status_code == 200", passed: false, value: 503)]
        let id = try #require(try store.insert([run]).first)
        let row = try #require(try store.reader.read { db in try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]) })
        #expect(row["job"] as String == "jöb")
        #expect(row["plugin"] as String == "probe")
        #expect(row["trigger"] as String == "schedule")
        #expect(row["status"] as String == "critical")
        #expect(row["scheduled_at"] as Int64 == time.epochMilliseconds)
        #expect(row["finished_at"] as Int64 == time.addingTimeInterval(0.0015).epochMilliseconds)
        #expect(row["started_at"] as Int64? == nil)
        #expect(row["duration_ms"] as Double == 1.5)
        #expect(row["attempts"] as Int == 2)
        #expect(row["retry"] as Bool == true)
        #expect(row["message"] as String == "")
        // Stored whole, past the NUL (GRDB reads text up to a NUL, so SQL measures it).
        let error = try store.reader.read { db in try String.fetchOne(db, sql: "SELECT hex(error) FROM runs WHERE id = ?", arguments: [id]) }
        #expect(error == Data("é 日本 🚀 \u{0} end".utf8).map { String(format: "%02X", $0) }.joined())
        #expect(row["data"] as String == #"{"nested":{"a":1.5}}"#)
        #expect(row["config_hash"] as String == "hash")
        #expect((row["conditions"] as String?)?.contains("status_code == 200") == true)
        let attempts = try store.reader.read { db in try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE run_id = ? ORDER BY number", arguments: [id]) }
        #expect(attempts.map { $0["number"] as Int } == [1, 2])
        #expect(attempts.map { $0["wait_ms"] as Double } == [0, 100])
        #expect(attempts.map { $0["message"] as String } == ["attempt 1", "attempt 2"])
        #expect(attempts.map { $0["error"] as String? } == [nil, nil])
        let state = try #require(try store.reader.read { db in try Row.fetchOne(db, sql: "SELECT * FROM job_state WHERE job = ?", arguments: [run.job]) })
        #expect(state["last_run_id"] as Int64 == id)
        #expect(state["consecutive_failures"] as Int == 1)
        #expect(state["last_status"] as String == "critical")

        // A run a trigger refuses throws DatabaseError; the next one is stored.
        try store.writer.write { db in try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON runs WHEN NEW.job = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END") }
        #expect(throws: DatabaseError.self) { try store.insert([Self.run("refused", .ok, at: time)]) }
        #expect(try store.insert([Self.run("accepted", .ok, at: time)]).count == 1)
        try store.close()
    }

    /// A value SQLite refuses to bind (here text past the connection's length limit) fails the
    /// write: it is never stored as NULL in its place.
    @Test func aValueSQLiteRefusesToBindFailsTheWrite() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        try store.writer.write { db in _ = sqlite3_limit(db.sqliteConnection, SQLITE_LIMIT_LENGTH, 1_000) }
        var run = Self.run("web", .critical, at: Date(timeIntervalSince1970: 1_800_000_000))
        run.error = String(repeating: "e", count: 2_000)
        do {
            try store.insert([run])
            Issue.record("a run whose error SQLite refused was stored")
        } catch let error as DatabaseError {
            #expect(error.resultCode == .SQLITE_TOOBIG, "\(error)")
        }
        let stored = try store.reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") }
        #expect(stored == 0)
        run.error = "short"
        #expect(try store.insert([run]).count == 1)
        try store.close()
    }

    @Test func pruningRespectsAgeAndPerJobLimitsInChunks() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let now = Date()
        var runs: [RunRecord] = []
        for index in 0..<1_200 {
            runs.append(Self.run("old", .ok, at: now.addingTimeInterval(-40 * 86_400 + Double(index))))
        }
        for index in 0..<30 {
            runs.append(Self.run("busy", .ok, at: now.addingTimeInterval(-Double(index))))
        }
        try store.insert(runs)
        var removed: [Int] = []
        while true {
            let count = try store.prune(olderThan: now.addingTimeInterval(-30 * 86_400), maxRunsPerJob: 10, jobs: ["old", "busy"])
            removed.append(count)
            if count < 500 { break }
        }
        #expect(removed == [500, 500, 220])
        let remaining = try store.reader.read { db in
            try Row.fetchAll(db, sql: "SELECT job, count(*) AS n FROM runs GROUP BY job ORDER BY job")
        }
        #expect(remaining.map { $0["job"] as String } == ["busy"])
        #expect(remaining.first?["n"] == 10)
        // Attempts went with their runs.
        let orphans = try store.reader.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM attempts WHERE run_id NOT IN (SELECT id FROM runs)")
        }
        #expect(orphans == 0)
        try store.close()
    }

    @Test func theWriterBatchesFlushesAndNeverLosesARun() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("history.db")
        let store = try HistoryStore.openForWriting(path: path)
        let batches = BatchCounter()
        let writer = HistoryWriter(store: store, logger: testLogger, onObserve: { batches.add($0.count) })
        Task { await writer.run() }
        let start = Date()
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<8 {
                group.addTask {
                    for index in 0..<500 {
                        writer.record(Self.run("job\(producer)", .ok, at: start.addingTimeInterval(Double(index))))
                    }
                }
            }
        }
        await writer.flush()
        // A reader sees everything flushed while the writer is still open.
        let reader = try HistoryStore.openForReading(path: path)
        let count = try await reader.reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") }
        #expect(count == 4_000)
        #expect(batches.total == 4_000)
        #expect(batches.count < 4_000)  // group commit: fewer transactions than runs
        await writer.close()
        #expect(writer.health == HistoryWriter.Health(failingSince: nil, lastError: nil, buffered: 0, dropped: 0))
        try store.close()
    }
}

extension HistoryStoreTests {
    /// The daemon's log for 1,000 jobs runs to 8,000 pages before it is copied back (SQLite's
    /// default, 1,000 pages, copied a page per run once jobs have history), and is still
    /// copied then. A small config keeps SQLite's length (its jobs share their pages).
    @Test func theWriteAheadLogIsCheckpointedAtItsLongerLength() throws {
        #expect(WriterSizing(jobs: 10).checkpointPages == WriterSizing.sqliteDefault.checkpointPages)
        let directory = try TemporaryDirectory()
        let path = directory.file("history.db")
        let store = try HistoryStore.openForWriting(path: path)
        try store.sizeWriter(forJobs: 1_000)
        let longer = WriterSizing(jobs: 1_000).checkpointPages
        let pageSize = try store.reader.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4_096 }
        var stored = 0
        func storeRuns(_ runs: Int) throws {
            for _ in 0..<(runs / 20) {
                let batch = (0..<20).map { offset in
                    var run = Self.run("job-\((stored + offset) % 50)", .ok, at: Date(timeIntervalSince1970: 1_700_000_000 + Double(stored + offset)))
                    run.message = String(repeating: "x", count: 8_000)  // two overflow pages a run
                    return run
                }
                try store.insert(batch)
                stored += 20
            }
        }
        func logPages() throws -> Int {
            let bytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
            return bytes / (pageSize + 24)
        }
        // ~3 pages a run: some 4,500 pages, past SQLite's 1,000 and short of 8,000.
        try storeRuns(1_500)
        let early = try logPages()
        #expect(early > 3_000, "the log was checkpointed at \(early) pages")
        // Twice our length: it was copied back and restarted, so it stopped growing near it.
        try storeRuns(4_000)
        let pages = try logPages()
        #expect(pages >= longer && pages < longer + 200, "\(pages) pages")
        try store.close()
        let reader = try HistoryStore.openForReading(path: path)
        let kept = try reader.reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") }
        #expect(kept == stored)
    }

    /// The writer's page cache holds every job's page of `runs_by_job_time`: with SQLite's
    /// default (500 pages) a round of 1,000 jobs' runs evicted those leaves in turn, and each
    /// run read its job's back from the disk.
    @Test func aRoundOfRunsFindsEveryJobsIndexPageInTheCache() throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        // Long names: about 18 index entries a page, so 20 runs give each job a leaf of its own.
        let jobs = (0..<1_000).map { "job-\($0)-" + String(repeating: "j", count: 200) }
        func round(_ number: Int) throws {
            let at = Date(timeIntervalSince1970: 1_700_000_000 + Double(number))
            for first in stride(from: 0, to: jobs.count, by: 100) {
                try store.insert(jobs[first..<(first + 100)].map { Self.run($0, .ok, at: at) })
            }
        }
        func cacheMisses() -> Int32 {
            store.writer.writeWithoutTransaction { db in
                var current: Int32 = 0, highest: Int32 = 0
                sqlite3_db_status(db.sqliteConnection, SQLITE_DBSTATUS_CACHE_MISS, &current, &highest, 1)
                return current
            }
        }
        try store.sizeWriter(forJobs: jobs.count)
        for number in 0..<22 { try round(number) }
        _ = cacheMisses()
        try round(22)
        let misses = cacheMisses()
        #expect(misses < 100, "\(misses) pages read back for 1,000 runs")
        // Too many jobs for their pages to fit the largest cache: SQLite's default stays.
        try store.sizeWriter(forJobs: 10_000)
        let pages = try store.writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
        #expect(pages == WriterSizing.sqliteDefault.cachePages)
        try store.close()
    }

    /// Issue 18: at a run every 10 ms, each run was its own commit (a writer, queue and
    /// observer wake-up per check). With a group-commit window they share commits, and a flush
    /// does not wait out the window. (A 10 s window here, not the daemon's 100 ms, so that a
    /// loaded machine's stretched sleeps cannot split the batch, and a flush that waited it
    /// out stands clear of a flush delayed by seconds of load.)
    @Test func runsArrivingTogetherShareACommit() async throws {
        let window = Duration.seconds(10)
        try await withLingeringWriter(window) { writer, batches in
            let start = Date()
            let began = ContinuousClock.now
            for index in 0..<40 {
                writer.record(Self.run("steady", .ok, at: start.addingTimeInterval(Double(index))))
                try await Task.sleep(for: .milliseconds(10))
            }
            // A loaded machine stretches the sleeps (8.5 s for these 40 in a parallel `make test`):
            // at most one commit per window that passed, and one more for the last.
            let windows = Int((ContinuousClock.now - began) / window) + 2
            let flushStarted = ContinuousClock.now
            await writer.flush()
            #expect(ContinuousClock.now - flushStarted < window / 2)
            #expect(batches.total == 40)
            #expect(batches.count <= windows, "40 runs 10 ms apart took \(batches.count) commits")
        }
    }

    /// A reload sizes the window anew (`HistoryWriter.commitWindow(forJobs:)`): the next batch
    /// waits the new window, not the one the writer started with.
    @Test func aNewCommitWindowAppliesToTheNextBatch() async throws {
        try await withLingeringWriter(.seconds(30)) { writer, batches in
            writer.setLinger(HistoryWriter.commitWindow(forJobs: 10))
            writer.record(Self.run("steady", .ok, at: Date()))
            _ = await eventually(within: .seconds(10)) { batches.total >= 1 }
            #expect(batches.total == 1, "the run waited out the first window of 30 s")
        }
        #expect(HistoryWriter.commitWindow(forJobs: 10) == .milliseconds(100))
        #expect(HistoryWriter.commitWindow(forJobs: 500) == .milliseconds(500))
        #expect(HistoryWriter.commitWindow(forJobs: 10_000) == .seconds(1))
    }

    /// At 10,000 checks a second a one-second window held ~10,000 runs in memory and committed
    /// them 2,048 at a time (11 MB more than 100 ms commits). A full batch ends the wait.
    @Test func aFullBatchDoesNotWaitOutTheWindow() async throws {
        try await withLingeringWriter(.seconds(30)) { writer, batches in
            let start = Date()
            for index in 0..<HistoryWriter.fullBatch {
                writer.record(Self.run("job\(index)", .ok, at: start))
            }
            _ = await eventually(within: .seconds(15)) { batches.total >= HistoryWriter.fullBatch }
            #expect(batches.total == HistoryWriter.fullBatch, "\(batches.total) of \(HistoryWriter.fullBatch) runs committed: the full batch waited out the window")
        }
    }

    /// A running writer on a fresh store that waits `window` for company, and what it commits.
    private func withLingeringWriter(_ window: Duration, _ body: (HistoryWriter, BatchCounter) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let store = try HistoryStore.openForWriting(path: directory.file("history.db"))
        let batches = BatchCounter()
        let writer = HistoryWriter(store: store, logger: testLogger, linger: window, onObserve: { batches.add($0.count) })
        Task { await writer.run() }
        try await body(writer, batches)
        await writer.close()
        try store.close()
    }
}

final class BatchCounter: Sendable {
    private let state = Mutex<(count: Int, total: Int)>((0, 0))
    func add(_ size: Int) { state.withLock { $0.count += 1; $0.total += size } }
    var count: Int { state.withLock { $0.count } }
    var total: Int { state.withLock { $0.total } }
}
