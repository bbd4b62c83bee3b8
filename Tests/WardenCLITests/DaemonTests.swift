import Foundation
import Testing
import WardenTestSupport

/// `warden run` as a child process, as systemd or an operator starts it.
final class DaemonProcess {
    let process = Process()
    let logFile: String

    init(_ arguments: [String], logFile: String, environment: [String: String] = [:]) throws {
        self.logFile = logFile
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["run"] + arguments
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Sends `signal` and waits for the exit status.
    func stop(with signal: Int32 = SIGTERM, within limit: Duration = .seconds(20)) async -> Int32? {
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-cli-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Polls until `body` returns a value or `limit` passes.
func poll<T>(within limit: Duration = .seconds(20), _ body: () async throws -> T?) async rethrows -> T? {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if let value = try await body() { return value }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try await body()
}

func isoDate(_ text: Any?) -> Date? {
    guard let text = text as? String else { return nil }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)
}

@Suite("warden run", .serialized)
struct DaemonTests {
    @Test func retriesAreRecordedWithExponentialWaitsAndReadableWhileRunning() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = UUID().uuidString
        let config = directory + "/warden.yaml"
        try """
            daemon:
              database: history.db
              plugin_dirs: []
              shutdown_grace: 5s
            jobs:
              - name: flaky
                plugin: service_status
                every: 3s
                timeout: 2s
                retry:
                  attempts: 5
                  wait: exponential
                  multiplier: 300ms
                  max: 5s
                params:
                  service_url: "\(server.baseURL)/flaky?fail=2&key=\(key)"
            """.write(toFile: config, atomically: true, encoding: .utf8)

        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        let history = try await poll { () -> [[String: Any]]? in
            let output = try await CLI.run(["history", "--config", config, "--job", "flaky", "--attempts", "--json"])
            guard output.status == 0, let runs = output.json as? [[String: Any]], !runs.isEmpty else { return nil }
            return runs
        }
        let stats = try await CLI.run(["stats", "--config", config, "--json"])
        let status = await daemon.stop()
        #expect(status == 0, "daemon log:\n\(daemon.log)")

        // The first run: 503, 503 (retry: true), then 200 after waits of 300 ms and 600 ms.
        let runs = try #require(history, "no run recorded; daemon log:\n\(daemon.log)")
        let first = try #require(runs.last)
        #expect(first["status"] as? String == "ok")
        #expect(first["trigger"] as? String == "schedule")
        #expect(first["attempts"] as? Int == 3)
        let attempts = try #require(first["attempt_details"] as? [[String: Any]])
        #expect(attempts.map { $0["outcome"] as? String } == ["critical", "critical", "ok"])
        #expect(attempts.map { $0["wait_ms"] as? Double } == [0, 300, 600])
        for (previous, next) in zip(attempts, attempts.dropFirst()) {
            // The real gap between one attempt's end and the next one's start is the wait.
            let end = try #require(isoDate(previous["started_at"])).addingTimeInterval((previous["duration_ms"] as? Double ?? 0) / 1000)
            let gap = try #require(isoDate(next["started_at"])).timeIntervalSince(end) * 1000
            let wait = try #require(next["wait_ms"] as? Double)
            #expect(abs(gap - wait) < 60, "gap \(gap) ms for a wait of \(wait) ms")
        }

        // `stats --json` read the same database while the daemon was running.
        #expect(stats.status == 0)
        let jobs = try #require((stats.json as? [String: Any])?["jobs"] as? [[String: Any]])
        let flaky = try #require(jobs.first { $0["job"] as? String == "flaky" })
        #expect((flaky["runs"] as? Int ?? 0) >= 1)
        #expect((flaky["ok"] as? Int ?? 0) >= 1)

        // Afterwards the file holds every run, each with its attempts.
        let after = try await CLI.run(["history", "--config", config, "--attempts", "--json", "--limit", "1000"])
        let stored = try #require(after.json as? [[String: Any]])
        #expect(stored.count >= runs.count)
        #expect(stored.allSatisfy { ($0["attempt_details"] as? [Any])?.count == $0["attempts"] as? Int && ($0["attempts"] as? Int ?? 0) >= 1 })
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/history.db")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func interruptLetsTheRunningCheckFinishAndLosesNothing() async throws {
        let fixtures = try PluginFixtureDirectory()
        let marker = fixtures.path + "/started"
        try fixtures.addScript(
            "slow", spec: PluginFixtureDirectory.spec("slow"),
            body: #"touch \#(marker); sleep 1.5; echo '{"success":true,"message":"finished"}'"#
        )
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, shutdown_grace: 10s}
            jobs:
              - {name: slow, plugin: slow, every: 1s, timeout: 10s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        let started = await poll { FileManager.default.fileExists(atPath: marker) ? true : nil }
        #expect(started == true, "plugin never started; daemon log:\n\(daemon.log)")
        // Ctrl-C while the check is running.
        let status = await daemon.stop(with: SIGINT)
        #expect(status == 0, "daemon log:\n\(daemon.log)")
        let output = try await CLI.run(["history", "--config", config, "--job", "slow", "--json"])
        let runs = try #require(output.json as? [[String: Any]])
        // The in-flight run finished within the grace period and was stored.
        #expect(runs.contains { $0["status"] as? String == "ok" && $0["message"] as? String == "finished" })
        #expect(!runs.contains { $0["status"] as? String == "interrupted" })
    }

    @Test func resolvedSecretsReachNeitherTheHistoryNorTheLog() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let token = "tok-\(UUID().uuidString)"
        try token.write(toFile: directory + "/token", atomically: true, encoding: .utf8)
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, log_level: trace}
            jobs:
              - name: secret_url
                plugin: service_status
                every: 1s
                params: {service_url: "\(server.baseURL)/status/503?token=${file:\(directory)/token}"}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        let history = try await poll { () -> String? in
            let output = try await CLI.run(["history", "--config", config, "--attempts", "--json"])
            return output.stdout.contains("secret_url") ? output.stdout : nil
        }
        let check = try await CLI.run(["check-config", "--config", config, "--json"])
        #expect(await daemon.stop() == 0)
        // The request really carried the token …
        #expect(server.requests.contains { $0.uri.contains(token) })
        // … and it appears nowhere Warden writes: history, log lines, check-config.
        let stored = try #require(history)
        #expect(stored.contains("token=***"))
        #expect(!stored.contains(token))
        #expect(!daemon.log.contains(token), "\(daemon.log)")
        #expect(daemon.log.contains("secret_url"))
        #expect(!check.stdout.contains(token) && !check.stderr.contains(token))
        let database = try Data(contentsOf: URL(fileURLWithPath: directory + "/history.db"))
        #expect(database.range(of: Data(token.utf8)) == nil)
    }

    @Test func checkConfigReportsEveryProblemWithItsPosition() async throws {
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript("fixer", spec: PluginFixtureDirectory.spec("restart_web", category: "remediation"), body: "exit 0")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/bad.yaml"
        try """
            jobs:
              - name: web
                plugin: service_status
                every: 30s
                timout: 5s
                params:
                  service_url: http://127.0.0.1/health
                  timeout: soon
              - name: disk
                plugin: nagios
                every: 5 minutes
                params: {command: /usr/lib/nagios/plugins/check_disk}
              - name: fix
                plugin: restart_web
                every: 1m
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let output = try await CLI.run(["check-config", "--config", config, "--plugin-dir", fixtures.path])
        #expect(output.status == 1)
        let lines = output.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("\(config):5:5: unknown key `timout` in a job — did you mean `timeout`?"))
        #expect(lines.contains { $0.hasPrefix("\(config):8:16: job `web`: parameter `timeout`: invalid duration") })
        #expect(lines.contains { $0.hasPrefix("\(config):11:12: job `disk`: every: invalid duration `5 minutes`") })
        #expect(lines.contains { $0.hasPrefix("\(config):14:13: job `fix`: `restart_web` is a remediation plugin") })
        #expect(lines.last == "4 problems in \(config)")

        let json = try await CLI.run(["check-config", "--config", config, "--plugin-dir", fixtures.path, "--json"])
        let problems = try #require((json.json as? [String: Any])?["problems"] as? [[String: Any]])
        #expect(problems.map { $0["line"] as? Int } == [5, 8, 11, 14])
    }

    @Test func theShippedDefaultConfigIsValid() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for file in ["etc/warden/warden.yaml"] + (try FileManager.default.contentsOfDirectory(atPath: repository.path + "/etc/warden/examples").filter { $0.hasSuffix(".yaml") }.map { "etc/warden/examples/\($0)" }) {
            let output = try await CLI.run(["check-config", "--config", repository.path + "/" + file, "--plugin-dir", repository.path + "/etc/warden/examples/plugins.d"], environment: ["API_TOKEN": "example", "WARDEN_PG_PASSWORD": "example"])
            #expect(output.status == 0, "\(file): \(output.stderr)")
            #expect(output.stdout.hasPrefix("OK: "))
        }
    }

    @Test func aCrashingPluginIsAnErrorThatRetryOnErrorRetries() async throws {
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript("crash", spec: PluginFixtureDirectory.spec("crash"), body: "cat >/dev/null; kill -SEGV $$")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db}
            jobs:
              - name: crashy
                plugin: crash
                every: 1h
                retry: {attempts: 3, wait: fixed, delay: 10ms, retry_on: [error]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let output = try await CLI.run(["run-job", "crashy", "--config", config, "--plugin-dir", fixtures.path, "--json"])
        let run = try #require(output.json as? [String: Any], "\(output.stderr)")
        #expect(run["status"] as? String == "unknown", "\(run)")
        #expect(run["attempts"] as? Int == 3, "\(run)")
        #expect((run["error"] as? String)?.contains("SIGSEGV") == true, "\(run)")
    }

    @Test func runJobRecordsAManualRun() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db}
            jobs:
              - {name: web, plugin: service_status, every: 1h, params: {service_url: "\(server.baseURL)/health"}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let output = try await CLI.run(["run-job", "web", "--config", config, "--json"])
        #expect(output.status == 0, "\(output.stderr)")
        let run = try #require(output.json as? [String: Any])
        #expect(run["trigger"] as? String == "manual" && run["status"] as? String == "ok")
        let history = try await CLI.run(["history", "--config", config, "--json"])
        #expect((history.json as? [[String: Any]])?.first?["id"] as? Int == run["id"] as? Int)
        // The table shows the host's wall-clock time, from TZ when it is set (+05:30 here).
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let scheduled = try #require((run["scheduled_at"] as? String).flatMap(iso.date(from:)))
        let kolkata = DateFormatter()
        kolkata.locale = Locale(identifier: "en_US_POSIX")
        kolkata.timeZone = TimeZone(identifier: "Asia/Kolkata")
        kolkata.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let table = try await CLI.run(["history", "--config", config], environment: ["TZ": "Asia/Kolkata"])
        #expect(table.stdout.contains("  \(kolkata.string(from: scheduled))  web  ok"), "\(table.stdout)")
        let missing = try await CLI.run(["run-job", "wev", "--config", config])
        #expect(missing.status == 2 && missing.stderr.contains("did you mean `web`?"))
    }

    /// Issue 18: a config of 1,000 jobs committed its runs every 100 ms, each commit writing
    /// every page of `job_state` its runs touched (1.53 log frames a run at 1,000 checks a
    /// second; 1.22 with commits a second apart). Its commits now wait up to a second. Counted
    /// from outside, as `sqlite3` would see them: `PRAGMA data_version` moves once per commit
    /// of another connection. 1,000 jobs at 2 s are 32 slots firing ~60 ms apart, so 100 ms
    /// commits made about ten a second.
    @Test func aLargeConfigsRunsShareCommitsASecondLong() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        let jobs = (0..<1_000).map { "  - {name: load\($0), plugin: load_average, every: 2s, params: {max_per_core_1m: 1000}}" }
        try (["daemon: {database: history.db, plugin_dirs: []}", "jobs:"] + jobs).joined(separator: "\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        let script = """
            import json, sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if db.execute("SELECT count(*) FROM runs").fetchone()[0] >= 1000: break
                except sqlite3.OperationalError: pass
                time.sleep(0.1)
            first = db.execute("SELECT count(*) FROM runs").fetchone()[0]
            version, commits, end = db.execute("PRAGMA data_version").fetchone()[0], 0, time.monotonic() + 5
            while time.monotonic() < end:
                now = db.execute("PRAGMA data_version").fetchone()[0]
                commits += now != version
                version = now
                time.sleep(0.005)
            print(json.dumps({"commits": commits, "runs": db.execute("SELECT count(*) FROM runs").fetchone()[0] - first}))
            """
        let output = try await TestCommand.check("/usr/bin/python3", ["-c", script, directory + "/history.db"])
        let status = await daemon.stop()
        #expect(status == 0, "daemon log:\n\(daemon.log)")
        let counted = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Int], "\(output.stdout)")
        let runs = try #require(counted["runs"]), commits = try #require(counted["commits"])
        // 2,500 runs in the 5 s, or what a loaded machine manages; all in one-second commits
        // (the retention pass, once a minute, may add one).
        #expect(runs >= 1_000, "runs stored in 5 s: \(runs); daemon log:\n\(daemon.log)")
        #expect(commits <= 8, "\(runs) runs in 5 s took \(commits) commits")
    }

    /// `history` read by `QuickArguments` prints exactly what ArgumentParser's reading prints
    /// (a repeated flag sends the same request there), its errors included.
    @Test func historyReadsTheSameWithoutArgumentParser() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db}
            jobs:
              - {name: web, plugin: service_status, every: 1h, params: {service_url: "\(server.baseURL)/health"}}
              - {name: gone, plugin: service_status, every: 1h, timeout: 1s, params: {service_url: "http://127.0.0.1:9/health"}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        for job in ["web", "gone", "web"] { _ = try await CLI.run(["run-job", job, "--config", config]) }
        let good = [
            ["--json"], ["--csv"], [], ["--job", "web", "--limit", "1", "--json"], ["--status=failing", "--attempts", "--json"],
            ["--since", "1h", "--csv"], ["--remediations", "--json"],
        ]
        let bad = [["--limit", "0"], ["--status", "failed"], ["--since", "yesterday"]]
        for arguments in good + bad {
            let quick = try await CLI.run(["history", "--config", config] + arguments)
            let parsed = try await CLI.run(["history", "--config", config, "--config", config] + arguments)
            #expect(quick.status == (good.contains(arguments) ? 0 : 2), "\(arguments): \(quick.stderr)")
            #expect(quick.status == parsed.status && quick.stdout == parsed.stdout && quick.stderr == parsed.stderr, "\(arguments): \(quick.stderr)")
        }
    }
}
