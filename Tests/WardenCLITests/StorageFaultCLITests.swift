import Foundation
import Testing
import WardenTestSupport

/// What a running daemon does under storage faults: every scheduled tick of the fault's
/// period is in the history afterwards, no check starts late, none is skipped as overlap.
enum StorageFaultRun {
    static let jobs = 20

    static func config(directory: String, database: String, extra: [String] = []) throws -> String {
        let config = directory + "/warden.yaml"
        // A load threshold no machine reaches: these runs must be ok whatever else the test
        // machine is doing (the suite's fault storms before them left a 5-minute load above
        // the default of 2 per CPU, and every run failed the check, not the storage).
        let jobs = (1...jobs).map { "  - {name: load\($0), plugin: load_average, every: 1s, timeout: 3s, params: {max_per_core_5m: 1000}}" }
        try (["daemon: {database: \(database), shutdown_grace: 2s}", "jobs:"] + jobs + extra).joined(separator: "\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    struct Report: Decodable, CustomStringConvertible {
        /// Per job: scheduled ticks missing between its first and last run.
        var missingTicks: Int
        var runs: Int
        var skippedOverlap: Int
        var notOk: Int
        /// The latest start (started_at − scheduled_at) of a run scheduled during the fault.
        var latestStartDuringFaultMs: Int
        var runsDuringFault: Int

        var description: String {
            "runs \(runs), missing ticks \(missingTicks), skipped as overlap \(skippedOverlap), not ok \(notOk), during the fault \(runsDuringFault) runs, latest start \(latestStartDuringFaultMs) ms"
        }
    }

    /// Read straight from the file with sqlite3, as an operator would.
    static func report(database: String, faultFrom: Date, faultTo: Date) async throws -> Report {
        let script = """
            import json, sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            lo, hi = int(sys.argv[2]), int(sys.argv[3])
            missing = 0
            for (job,) in db.execute("SELECT DISTINCT job FROM runs WHERE job LIKE 'load%'"):
                ticks = [t for (t,) in db.execute("SELECT scheduled_at FROM runs WHERE job = ? AND trigger = 'schedule' ORDER BY scheduled_at", (job,))]
                missing += sum(max(0, round((b - a) / 1000) - 1) for a, b in zip(ticks, ticks[1:]))
            during = db.execute("SELECT count(*), coalesce(max(started_at - scheduled_at), 0) FROM runs WHERE job LIKE 'load%' AND scheduled_at BETWEEN ? AND ? AND started_at IS NOT NULL", (lo, hi)).fetchone()
            print(json.dumps({
                "missingTicks": missing,
                "runs": db.execute("SELECT count(*) FROM runs").fetchone()[0],
                "skippedOverlap": db.execute("SELECT count(*) FROM runs WHERE status = 'skipped' AND error = 'overlap'").fetchone()[0],
                "notOk": db.execute("SELECT count(*) FROM runs WHERE job LIKE 'load%' AND status <> 'ok'").fetchone()[0],
                "runsDuringFault": during[0], "latestStartDuringFaultMs": during[1],
            }))
            """
        let output = try await TestCommand.check("/usr/bin/python3", [
            "-c", script, database, "\(Int64(faultFrom.timeIntervalSince1970 * 1000))", "\(Int64(faultTo.timeIntervalSince1970 * 1000))",
        ])
        return try JSONDecoder().decode(Report.self, from: Data(output.stdout.utf8))
    }
}

@Suite("storage faults: a read-only database", .enabled(if: RealParts.available(LoopFilesystem.available), "needs root, loop devices and e2fsprogs"))
struct ReadOnlyDatabaseCLITests {
    @Test func thirtySecondsReadOnlyLoseNoRunDelayNoCheckAndShowInStatus() async throws {
        let filesystem = try LoopFilesystem(megabytes: 64)
        defer { filesystem.unmount() }
        let database = filesystem.mountPoint + "/history.db"
        // A job that fails only while the database refuses writes, and a rule for it: the
        // failure is still told, and the remediation is refused because its audit row cannot
        // be written (fail closed), then recorded once it can.
        let work = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript("flagged", spec: PluginFixtureDirectory.spec("flagged"), body: """
            cat >/dev/null
            if [ -f '\(work)/down' ]; then echo '{"success": false, "error": "down"}'; else echo '{"success": true}'; fi
            """)
        try fixtures.addScript("mark_fix", spec: PluginFixtureDirectory.spec("mark_fix", category: "remediation"), body: """
            cat >/dev/null; touch '\(work)/fixed'; echo '{"success": true}'
            """)
        let config = try StorageFaultRun.config(directory: filesystem.mountPoint, database: database, extra: [
            "  - {name: flagged, plugin: flagged, every: 1s}",
            "rules:",
            "  - {name: fix-flagged, when: {job: flagged, consecutive_failures: 2}, then: [{plugin: mark_fix}]}",
        ])
        let socket = try NotifySocket()
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: filesystem.mountPoint + "/daemon.log", environment: ["NOTIFY_SOCKET": socket.path])
        #expect(await poll { daemon.log.contains("warden started") ? true : nil } == true, "\(daemon.log)")
        try await Task.sleep(for: .seconds(3))

        let from = Date()
        try filesystem.freeze([database, database + "-wal"])
        #expect(FileManager.default.createFile(atPath: work + "/down", contents: nil))
        let failing = await poll(within: .seconds(20)) {
            socket.messages.contains { $0.fields["STATUS"]?.contains("history writes failing") == true } ? true : nil
        }
        #expect(failing == true, "STATUS= never said so: \(socket.messages.map(\.text).suffix(3))")
        try await Task.sleep(until: .now + .seconds(30) - .seconds(Date().timeIntervalSince(from)))
        let to = Date()
        try FileManager.default.removeItem(atPath: work + "/down")
        try await Task.sleep(for: .seconds(2))
        try filesystem.thaw([database, database + "-wal"])
        #expect(await poll { daemon.log.contains("history writes succeed again") ? true : nil } == true, "\(daemon.log.suffix(2000))")
        try await Task.sleep(for: .seconds(2))
        #expect(await daemon.stop() == 0)

        #expect(daemon.log.contains("history write failed"))
        #expect(daemon.log.contains("job failing") && daemon.log.contains("not yet (the database refuses writes)"), "\(daemon.log.suffix(3000))")
        #expect(daemon.log.contains("remediation refused"), "\(daemon.log.suffix(3000))")
        #expect(!FileManager.default.fileExists(atPath: work + "/fixed"), "a remediation ran without its audit row")
        let refusals = try await CLI.run(["history", "--config", config, "--remediations", "--json"])
        #expect(((refusals.json as? [[String: Any]]) ?? []).contains { ($0["suppressed_reason"] as? String)?.contains("guard state unavailable") == true }, "\(refusals.stdout.prefix(1500))")
        #expect(!daemon.log.contains("runs were dropped") && !daemon.log.contains("dropping the oldest"), "\(daemon.log.suffix(2000))")
        let report = try await StorageFaultRun.report(database: database, faultFrom: from, faultTo: to)
        #expect(report.missingTicks == 0, "\(report)")
        #expect(report.runsDuringFault >= StorageFaultRun.jobs * 28, "\(report)")
        #expect(report.skippedOverlap == 0, "\(report)")
        #expect(report.notOk == 0, "\(report)")
        #expect(report.latestStartDuringFaultMs <= 100, "\(report)")
    }
}

@Suite("storage faults: a long lock")
struct LongLockCLITests {
    @Test func aLockHeldNinetySecondsByAnotherProcessSkipsNoRunAndLosesNone() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/history.db"
        let config = try StorageFaultRun.config(directory: directory, database: database)
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        #expect(await poll { daemon.log.contains("warden started") ? true : nil } == true, "\(daemon.log)")
        try await Task.sleep(for: .seconds(3))

        let from = Date()
        let holder = try SQLiteLockHolder(path: database)
        try await Task.sleep(for: .seconds(90))
        let to = Date()
        holder.release()
        #expect(await poll { daemon.log.contains("history writes succeed again") ? true : nil } == true, "\(daemon.log.suffix(2000))")
        try await Task.sleep(for: .seconds(2))
        #expect(await daemon.stop() == 0)

        let report = try await StorageFaultRun.report(database: database, faultFrom: from, faultTo: to)
        #expect(report.skippedOverlap == 0, "\(report)")
        #expect(report.missingTicks == 0, "\(report)")
        #expect(report.runsDuringFault >= StorageFaultRun.jobs * 88, "\(report)")
        #expect(report.latestStartDuringFaultMs <= 100, "\(report)")
    }
}

@Suite("storage faults: a deleted write-ahead log")
struct DeletedWALCLITests {
    @Test func historyWorksAgainAfterTheWALIsDeletedUnderTheDaemon() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/history.db"
        let config = try StorageFaultRun.config(directory: directory, database: database)
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        #expect(await poll { daemon.log.contains("warden started") ? true : nil } == true, "\(daemon.log)")
        try await Task.sleep(for: .seconds(3))
        try FileManager.default.removeItem(atPath: database + "-wal")
        let before = Date()
        // Within a few seconds `warden history` reads again, runs from before the deletion included.
        let runs = await poll(within: .seconds(15)) { () -> [[String: Any]]? in
            guard let output = try? await CLI.run(["history", "--config", config, "--json", "--limit", "100000"]), output.status == 0,
                  let runs = output.json as? [[String: Any]], runs.count > StorageFaultRun.jobs * 3 else { return nil }
            return runs
        }
        #expect(runs != nil, "\(daemon.log.suffix(2000))")
        #expect(Date().timeIntervalSince(before) < 10)
        #expect(daemon.log.contains("was deleted or replaced"))
        #expect(await daemon.stop() == 0)
        let report = try await StorageFaultRun.report(database: database, faultFrom: before, faultTo: Date())
        #expect(report.missingTicks == 0, "\(report)")
    }
}
