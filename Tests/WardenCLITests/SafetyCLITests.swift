import Foundation
import Testing
import WardenTestSupport

/// The safety promise as an operator meets it: one daemon per database, reloads that apply
/// or refuse, remediations that survive a reload, budgets only a reset refunds.
@Suite("remediation you can trust", .serialized)
struct SafetyCLITests {
    /// A diagnostic that fails (reporting `unit`) until `stateFile` exists, and a remediation
    /// that sleeps `fixDelay` seconds and then creates it.
    static func plugins(stateFile: String, fixDelay: Int = 0, fixes: Bool = true) throws -> PluginFixtureDirectory {
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript("probe", spec: PluginFixtureDirectory.spec("probe"), body: """
            cat >/dev/null
            if [ -f '\(stateFile)' ]; then
              echo '{"success": true, "message": "healthy", "data": {"unit": "nginx.service"}}'
            else
              echo '{"success": false, "message": "down", "error": "down", "data": {"unit": "nginx.service"}}'
            fi
            """)
        try fixtures.addScript("fix", spec: PluginFixtureDirectory.spec("fix", category: "remediation"), body: """
            cat >/dev/null
            sleep \(fixDelay)
            \(fixes ? "touch '\(stateFile)'" : "true")
            echo '{"success": true, "message": "fixed"}'
            """)
        return fixtures
    }

    func remediations(_ config: String, database: String? = nil) async throws -> [[String: Any]] {
        let output = try await CLI.run(["history", "--config", config, "--remediations", "--json", "--limit", "1000"] + (database.map { ["--database", $0] } ?? []))
        return ((output.json as? [[String: Any]]) ?? []).reversed()
    }

    func started(_ daemon: DaemonProcess) async -> Bool {
        await poll(within: .seconds(20)) { daemon.log.contains("warden started") ? true : nil } ?? false
    }

    func reloaded(_ daemon: DaemonProcess, count: Int = 1, marker: String = "reload done") async -> Bool {
        await poll(within: .seconds(20)) { daemon.log.components(separatedBy: marker).count > count ? true : nil } ?? false
    }

    @Test func aSecondDaemonOnTheSameDatabaseExitsNamingTheFirstAndAKilledOneLeavesNoLock() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, shutdown_grace: 1s}
            jobs:
              - {name: load, plugin: load_average, every: 1s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let first = try DaemonProcess(["--config", config], logFile: directory + "/first.log")
        #expect(await started(first), "\(first.log)")

        let began = ContinuousClock.now
        let second = try DaemonProcess(["--config", config], logFile: directory + "/second.log")
        let status = await poll(within: .seconds(5)) { second.isRunning ? nil : second.process.terminationStatus }
        #expect(status == 1, "\(second.log)")
        #expect(ContinuousClock.now - began < .seconds(3))
        #expect(second.log.contains("pid \(first.pid)"), "\(second.log)")
        #expect(!second.log.contains("warden started"))

        // The first keeps running alone: no scheduled tick is run twice.
        try await Task.sleep(for: .seconds(3))
        #expect(first.isRunning)
        let runs = (try await CLI.run(["history", "--config", config, "--json", "--limit", "1000"]).json as? [[String: Any]]) ?? []
        let ticks = runs.compactMap { $0["scheduled_at"] as? String }
        #expect(ticks.count >= 2)
        #expect(Set(ticks).count == ticks.count, "duplicate scheduled_at: \(ticks)")

        // SIGKILL leaves the lock file but not the lock: the next daemon starts.
        _ = await first.stop(with: SIGKILL)
        let third = try DaemonProcess(["--config", config], logFile: directory + "/third.log")
        #expect(await started(third), "\(third.log)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(third.isRunning)
        #expect(await third.stop() == 0)
    }

    @Test func aReloadAppliesAllowListsAndLogLevelAndRefusesADatabaseChange() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(stateFile: directory + "/never")
        let config = directory + "/warden.yaml"
        func write(allowed: String, level: String = "info", database: String = "history.db") throws {
            try """
                daemon: {database: \(database), shutdown_grace: 1s, allowed_units: [\(allowed)], log_level: \(level)}
                jobs:
                  - {name: web, plugin: probe, every: 1s}
                rules:
                  - name: restart-web
                    when: {job: web, consecutive_failures: 1}
                    then:
                      - plugin: systemd_restart_unit
                        params: {unit: "{{ run.data.unit }}"}
                    dry_run: true
                    cooldown: 0s
                    budget: unlimited
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(allowed: "nginx.service")
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        #expect(await started(daemon), "\(daemon.log)")
        let allowed = try await poll { try await remediations(config).first { $0["outcome"] as? String == "dry-run" && $0["error"] is NSNull } }
        #expect(allowed != nil, "\(daemon.log)")
        #expect(!daemon.log.contains("plugin started"))

        // Narrowed allow-list and a louder log level: both in force after SIGHUP.
        try write(allowed: "other.service", level: "debug")
        kill(daemon.pid, SIGHUP)
        #expect(await reloaded(daemon), "\(daemon.log)")
        let lastBefore = try await remediations(config).compactMap { $0["id"] as? Int }.max() ?? 0
        // A finished row: one whose step is still running has no error yet.
        let refused = try await poll { () -> [String: Any]? in
            try await remediations(config).first { ($0["id"] as? Int ?? 0) > lastBefore + 1 && !($0["finished_at"] is NSNull) }
        }
        let refusal = try #require(refused, "\(daemon.log)")
        #expect((refusal["error"] as? String)?.contains("`nginx.service` is not allowed (daemon.allowed_units: other.service)") == true, "\(refusal)")
        #expect(await poll { daemon.log.contains("plugin started") ? true : nil } == true)

        // A new database is restart-only: the reload is refused, the old config keeps running.
        try write(allowed: "other.service", level: "debug", database: "elsewhere.db")
        kill(daemon.pid, SIGHUP)
        #expect(await reloaded(daemon, marker: "reload failed"), "\(daemon.log)")
        #expect(daemon.log.contains("daemon.database changed"))
        // (The file now names another database: read the one the daemon still writes.)
        let count = try await remediations(config, database: directory + "/history.db").count
        try await Task.sleep(for: .seconds(2))
        #expect(try await remediations(config, database: directory + "/history.db").count > count)
        #expect(!FileManager.default.fileExists(atPath: directory + "/elsewhere.db"))
        #expect(daemon.isRunning)
        #expect(await daemon.stop() == 0)
    }

    @Test func aReloadDuringARemediationLetsItFinishAloneAndVerified() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(stateFile: directory + "/fixed", fixDelay: 5)
        let config = directory + "/warden.yaml"
        func write(cooldown: String) throws {
            try """
                daemon: {database: history.db, shutdown_grace: 10s}
                jobs:
                  - {name: web, plugin: probe, every: 1s, timeout: 10s}
                rules:
                  - name: fix-web
                    when: {job: web, consecutive_failures: 1}
                    then:
                      - {plugin: fix, timeout: 20s}
                    verify_after: 200ms
                    cooldown: \(cooldown)
                    budget: unlimited
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(cooldown: "0s")
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        #expect(await started(daemon), "\(daemon.log)")
        let running = try await poll { try await remediations(config).first { $0["outcome"] as? String == "running" } }
        #expect(running != nil, "\(daemon.log)")
        try write(cooldown: "1s")
        kill(daemon.pid, SIGHUP)
        #expect(await reloaded(daemon), "\(daemon.log)")
        let verified = try await poll { try await remediations(config).first { $0["verification"] as? String == "passed" } }
        #expect(verified != nil, "\(daemon.log)")
        try await Task.sleep(for: .seconds(1))
        let all = try await remediations(config)
        #expect(all.count == 1, "\(all)")
        #expect(all.first?["outcome"] as? String == "ok")
        #expect(await daemon.stop() == 0)
    }

    @Test func anEditedRuleRefundsNothingAndRuleResetDoesAndIsExplained() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(stateFile: directory + "/never", fixes: false)
        let config = directory + "/warden.yaml"
        func write(cooldown: String) throws {
            try """
                daemon: {database: history.db, shutdown_grace: 1s}
                jobs:
                  - {name: web, plugin: probe, every: 1s}
                rules:
                  - name: poke-web
                    when: {job: web, consecutive_failures: 1}
                    then: [{plugin: fix}]
                    verify: false
                    cooldown: \(cooldown)
                    budget: 2 per 1h
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        func executed() async throws -> [[String: Any]] {
            try await remediations(config).filter { $0["outcome"] as? String != "suppressed" }
        }
        try write(cooldown: "1s")
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        #expect(await started(daemon), "\(daemon.log)")
        let spent = try await poll { () -> Bool? in
            try await remediations(config).contains { ($0["suppressed_reason"] as? String)?.hasPrefix("budget exhausted") == true } ? true : nil
        }
        #expect(spent == true, "\(daemon.log)")
        #expect(try await executed().count == 2)

        try write(cooldown: "2s")
        kill(daemon.pid, SIGHUP)
        #expect(await reloaded(daemon), "\(daemon.log)")
        try await Task.sleep(for: .seconds(3))
        #expect(try await executed().count == 2)

        let missing = try await CLI.run(["rule", "reset", "poke-wbe", "--reason", "typo", "--config", config])
        #expect(missing.status == 2 && missing.stderr.contains("did you mean `poke-web`"), "\(missing.stderr)")
        let reset = try await CLI.run(["rule", "reset", "poke-web", "--reason", "disk cleaned by hand", "--config", config])
        #expect(reset.status == 0, "\(reset.stderr)")
        let third = try await poll { () -> [String: Any]? in
            let found = try await executed()
            return found.count >= 3 ? found[2] : nil
        }
        let record = try #require(third, "\(daemon.log)")
        let explain = try await CLI.run(["explain", "\(record["id"] as? Int ?? 0)", "--config", config])
        #expect(explain.stdout.contains("rule reset #1") && explain.stdout.contains("disk cleaned by hand"), "\(explain.stdout)")
        #expect(explain.stdout.contains("budget 0 of 2 per 1h used"))
        #expect(await daemon.stop() == 0)
    }

    @Test func checkConfigRefusesAUnitOutsideAllowedUnitsAndSilenceRefusesUnknownNames() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, allowed_units: [nginx.service]}
            jobs:
              - {name: web, plugin: load_average, every: 1m}
            rules:
              - name: restart
                when: {job: web, consecutive_failures: 3}
                then:
                  - plugin: systemd_restart_unit
                    params: {unit: sshd.service}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let checked = try await CLI.run(["check-config", "--config", config])
        #expect(checked.status == 1)
        #expect(checked.stderr.contains("\(config):9:24: rule `restart`: `systemd_restart_unit` parameter `unit`: `sshd.service` is not allowed"), "\(checked.stderr)")

        let silence = try await CLI.run(["silence", "add", "--config", config, "--job", "nosuchjob", "--for", "1h", "--reason", "x"])
        #expect(silence.status == 2 && silence.stderr.contains("no job in \(config) matches `nosuchjob`"), "\(silence.stderr)")
        let forced = try await CLI.run(["silence", "add", "--config", config, "--job", "nosuchjob", "--for", "1h", "--reason", "x", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let glob = try await CLI.run(["silence", "add", "--config", config, "--job", "w*", "--for", "1h", "--reason", "x"])
        #expect(glob.status == 0, "\(glob.stderr)")
    }
}
