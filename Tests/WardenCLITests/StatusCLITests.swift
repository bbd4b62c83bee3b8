import Foundation
import Testing
import WardenTestSupport

/// `warden status`: every configured job with its state and flags, whether the daemon runs
/// or not; exit 1 while something fails.
@Suite("warden status")
struct StatusCLITests {
    @Test func everyJobWithItsStateAndFlagsAndExitOneWhileSomethingFails() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dummy = "/usr/lib/nagios/plugins/check_dummy"
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, shutdown_grace: 1s}
            jobs:
              - {name: fine, plugin: nagios, every: 1s, params: {command: \(dummy), args: ["0", "all good"]}}
              - {name: broken, plugin: nagios, every: 1s, params: {command: \(dummy), args: ["2", "it is down"]}}
              - {name: hushed, plugin: nagios, every: 1s, params: {command: \(dummy), args: ["1", "degraded"]}}
              - {name: yearly, plugin: load_average, cron: "0 0 1 1 *"}
              - {name: off, plugin: load_average, every: 1s, enabled: false}
            rules:
              - {name: fix-broken, when: {job: broken, consecutive_failures: 1}, then: [{plugin: http_request, params: {url: "http://127.0.0.1:9/"}}], budget: 1 per 1h, verify: false}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // Nothing has run yet: everything pending, nothing failing.
        let before = try await CLI.run(["status", "--config", config, "--json"])
        #expect(before.status == 0, "\(before.stderr)")
        let pending = ((before.json as? [String: Any])?["jobs"] as? [[String: Any]]) ?? []
        #expect(pending.map { $0["state"] as? String } == ["pending", "pending", "pending", "pending", "disabled"])

        let silence = try await CLI.run(["silence", "add", "--config", config, "--job", "hushed", "--for", "1h", "--reason", "known"])
        #expect(silence.status == 0, "\(silence.stderr)")
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        let report = await poll(within: .seconds(20)) { () -> [String: Any]? in
            guard let output = try? await CLI.run(["status", "--config", config, "--json"]),
                  let report = output.json as? [String: Any], let jobs = report["jobs"] as? [[String: Any]],
                  jobs.first(where: { $0["name"] as? String == "broken" })?["flags"].map({ "\($0)".contains("budget") }) == true,
                  // Under load the three 1 s jobs may not all have run yet.
                  jobs.filter({ ["fine", "broken", "hushed"].contains($0["name"] as? String ?? "") }).allSatisfy({ $0["state"] as? String != "pending" })
            else { return nil }
            return report
        }
        let document = try #require(report, "\(daemon.log.suffix(2000))")
        let jobs = Dictionary(((document["jobs"] as? [[String: Any]]) ?? []).map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        #expect(jobs["fine"]?["state"] as? String == "ok")
        #expect(jobs["broken"]?["state"] as? String == "critical" && jobs["broken"]?["message"] as? String == "CRITICAL: it is down")
        #expect((jobs["broken"]?["flags"] as? [String])?.contains { $0.hasPrefix("budget of fix-broken exhausted until") } == true)
        #expect(jobs["hushed"]?["state"] as? String == "warning")
        #expect((jobs["hushed"]?["flags"] as? [String])?.contains { $0.hasPrefix("silenced until") } == true)
        #expect(jobs["yearly"]?["state"] as? String == "pending" && jobs["yearly"]?["next_run_at"] is String)
        #expect(jobs["off"]?["state"] as? String == "disabled" && jobs["off"]?["next_run_at"] is NSNull)
        #expect((document["daemon"] as? [String: Any])?["running"] as? Bool == true)
        #expect((document["daemon"] as? [String: Any])?["pid"] as? Int == Int(daemon.pid))
        #expect((document["summary"] as? [String: Any])?["failing"] as? Int == 2)
        let rule = try #require((document["rules"] as? [[String: Any]])?.first)
        #expect(rule["name"] as? String == "fix-broken" && rule["budget_used"] as? Int == 1 && rule["budget_left"] as? Int == 0)

        // Text: one line per job, exit 1, no colour when not a terminal.
        let text = try await CLI.run(["status", "--config", config])
        #expect(text.status == 1)
        #expect(text.stdout.hasPrefix("warden: running (pid \(daemon.pid)) · 5 jobs · 2 failing"), "\(text.stdout)")
        for name in ["fine", "broken", "hushed", "yearly", "off"] {
            #expect(text.stdout.contains("\n\(name) "), "\(name) missing:\n\(text.stdout)")
        }
        #expect(!text.stdout.contains("\u{1B}["))
        let failingOnly = try await CLI.run(["status", "--config", config, "--failing", "--json"])
        #expect(failingOnly.status == 1)
        #expect(Set((((failingOnly.json as? [String: Any])?["jobs"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }) == ["broken", "hushed"])

        // Stopped: the last known state, said so.
        #expect(await daemon.stop() == 0)
        let stopped = try await CLI.run(["status", "--config", config])
        #expect(stopped.status == 1 && stopped.stdout.hasPrefix("warden: not running"), "\(stopped.stdout)")
        let bad = try await CLI.run(["status", "--config", directory + "/missing.yaml"])
        // The problem as `check-config` words it (file:line:column), not a Swift value's dump.
        #expect(bad.status == 2 && bad.stderr.hasPrefix(directory + "/missing.yaml:1:1: cannot read the config file")
            && !bad.stderr.contains("ConfigFailure"), "\(bad.stderr)")
    }
}
