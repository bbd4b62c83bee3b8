import Foundation
import Testing
import WardenTestSupport

/// `kill -9` at random moments under load, over and over: the history stays intact, every run
/// the daemon acknowledged (logged with its id, after its commit) is in it, and no rule ever
/// runs its remediation more often than its budget allows, counted outside Warden.
/// `make soak` runs many more kills (`WARDEN_SOAK_KILLS`).
@Suite("kill -9 loop")
struct KillLoopCLITests {
    static var kills: Int { ProcessInfo.processInfo.environment["WARDEN_SOAK_KILLS"].flatMap(Int.init) ?? 20 }
    static let rules = 6
    static let budget = 2

    @Test func randomSIGKILLsUnderLoadLoseNothingAndNeverOverspendABudget() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixes = directory + "/fixes.log"
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript("always_down", spec: PluginFixtureDirectory.spec("always_down"), body: """
            cat >/dev/null
            echo '{"success": false, "message": "down", "error": "down"}'
            """)
        // Counts its executions where Warden cannot: a line per run, written before it answers.
        try fixtures.addScript("count_fix", spec: PluginFixtureDirectory.spec(
            "count_fix", category: "remediation", parameters: #"{"type":"object","properties":{"rule":{"type":"string"}}}"#
        ), body: """
            rule=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["rule"])')
            echo "$rule" >> '\(fixes)'
            sleep 0.2
            echo '{"success": true, "message": "fixed"}'
            """)
        var lines = ["daemon: {database: history.db, shutdown_grace: 1s, log_level: debug, max_concurrency: 64}", "jobs:"]
        for index in 1...100 { lines.append("  - {name: load\(index), plugin: load_average, every: 1s}") }
        for index in 1...Self.rules { lines.append("  - {name: down\(index), plugin: always_down, every: 1s}") }
        lines.append("rules:")
        for index in 1...Self.rules {
            lines.append("""
                  - name: fix\(index)
                    when: {job: down\(index), consecutive_failures: 1}
                    then: [{plugin: count_fix, params: {rule: fix\(index)}}]
                    verify_after: 100ms
                    cooldown: 0s
                    budget: \(Self.budget) per 1h
                """)
        }
        let config = directory + "/warden.yaml"
        try lines.joined(separator: "\n").write(toFile: config, atomically: true, encoding: .utf8)
        let checked = try await CLI.run(["check-config", "--config", config, "--plugin-dir", fixtures.path])
        try #require(checked.status == 0, "\(checked.stderr)")

        var generator = SeededGenerator(seed: FuzzWatchdog.firstSeed)
        var acknowledged = Set<Int>()
        let started = ContinuousClock.now
        for kill in 1...Self.kills {
            let log = directory + "/daemon-\(kill).log"
            let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: log)
            // Anywhere from start-up to a few seconds in: mid-commit, mid-remediation, mid-prune.
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...2_500, using: &generator)))
            _ = await daemon.stop(with: SIGKILL)
            for match in daemon.log.matches(of: /run_id=(\d+)/) { acknowledged.insert(Int(match.1)!) }
            #expect(!daemon.log.contains("database in use"), "kill \(kill): the previous daemon's lock outlived it")
        }
        print("kill -9 loop: \(Self.kills) kills in \(ContinuousClock.now - started), \(acknowledged.count) acknowledged runs")

        // A last, clean start and stop: the history opens, migrates nothing, and closes.
        let last = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/last.log")
        #expect(await poll { last.log.contains("warden started") ? true : nil } == true, "\(last.log)")
        #expect(await last.stop() == 0)

        let script = """
            import json, sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            ids = set(r[0] for r in db.execute("SELECT id FROM runs"))
            print(json.dumps({
                "integrity": db.execute("PRAGMA integrity_check").fetchone()[0],
                "orphans": db.execute("SELECT count(*) FROM attempts WHERE run_id NOT IN (SELECT id FROM runs)").fetchone()[0],
                "ids": sorted(ids),
                "steps": dict(db.execute("SELECT rule, count(*) FROM remediations WHERE step IS NOT NULL GROUP BY rule").fetchall()),
            }))
            """
        let output = try await TestCommand.check("/usr/bin/python3", ["-c", script, directory + "/history.db"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        #expect(report["integrity"] as? String == "ok")
        #expect(report["orphans"] as? Int == 0)
        let stored = Set((report["ids"] as? [Int]) ?? [])
        let lost = acknowledged.subtracting(stored)
        #expect(lost.isEmpty, "\(lost.count) acknowledged runs are not in the history: \(lost.sorted().prefix(10))")
        #expect(acknowledged.count > Self.kills * 20, "too few runs to prove anything: \(acknowledged.count)")

        // Budgets: executions counted by the plugin itself, never more than the budget.
        let executed = ((try? String(contentsOfFile: fixes, encoding: .utf8)) ?? "").split(separator: "\n").reduce(into: [String: Int]()) { $0[String($1), default: 0] += 1 }
        for rule in 1...Self.rules {
            #expect(executed["fix\(rule)", default: 0] <= Self.budget, "fix\(rule) ran \(executed["fix\(rule)", default: 0]) times; budget \(Self.budget)")
        }
        #expect(executed.values.reduce(0, +) > 0, "no remediation ran: the loop proved nothing about budgets")
        let audited = (report["steps"] as? [String: Int]) ?? [:]
        for (rule, count) in executed {
            // Fail closed: a remediation never runs without its audit row.
            #expect(audited[rule, default: 0] >= count, "\(rule): \(count) executions, \(audited[rule, default: 0]) audit rows")
        }
    }
}
