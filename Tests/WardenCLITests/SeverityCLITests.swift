import Foundation
import Testing
import WardenTestSupport

/// One vocabulary: ok, warning, critical, unknown, timeout (and skipped, interrupted), from
/// Nagios exit codes, plugin results and `expect:` conditions to the history, `stats`, the
/// rules and the CLI.
@Suite("severities")
struct SeverityCLITests {
    static let dummy = "/usr/lib/nagios/plugins/check_dummy"

    @Test(arguments: [("0", "ok"), ("1", "warning"), ("2", "critical"), ("3", "unknown")])
    func nagiosExitCodesMapOneToOne(_ code: String, _ status: String) async throws {
        let output = try await CLI.run(["exec", "nagios", "--json", "--param", "command=\(Self.dummy)", "--params", #"{"args": ["\#(code)", "dummy"]}"#])
        let result = try #require(output.json as? [String: Any], "\(output.stderr)")
        #expect(result["status"] as? String == status)
        #expect(result["severity"] as? String == (status == "ok" ? nil : status))
        let text = try await CLI.run(["exec", "nagios", "--param", "command=\(Self.dummy)", "--params", #"{"args": ["\#(code)", "dummy"]}"#])
        #expect(text.stdout.hasPrefix(status.uppercased() + " nagios"), "\(text.stdout)")
    }

    @Test func theHistoryStatsAndRulesSpeakTheSameWords() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript("slow", spec: PluginFixtureDirectory.spec("slow"), body: "cat >/dev/null; sleep 5")
        try fixtures.addScript("mark", spec: PluginFixtureDirectory.spec("mark", category: "remediation", parameters: #"{"type":"object","properties":{"job":{"type":"string"}}}"#), body: """
            job=$(sed -n 's/.*"job" *: *"\\([^"]*\\)".*/\\1/p')
            echo "$job" >> '\(directory)/fixed'
            echo '{"success": true}'
            """)
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, shutdown_grace: 1s}
            jobs:
              - {name: warn, plugin: nagios, every: 1s, params: {command: \(Self.dummy), args: ["1", "degraded"]}}
              - {name: crit, plugin: nagios, every: 1s, params: {command: \(Self.dummy), args: ["2", "down"]}}
              - {name: unk, plugin: nagios, every: 1s, params: {command: \(Self.dummy), args: ["3", "cannot tell"]}}
              - {name: slow, plugin: slow, every: 1s, timeout: 300ms}
              - {name: fine, plugin: nagios, every: 1s, params: {command: \(Self.dummy), args: ["0", "fine"]}}
              - name: soft
                plugin: load_average
                every: 1s
                # Only the expectation may fail it, however loaded the machine running the test.
                params: {max_per_core_5m: 100000}
                expect:
                  - {condition: "data.load1 < 0", severity: warning}
            rules:
              # Default triggers: critical, timeout, unknown. The warning jobs never remediate.
            \((["warn", "crit", "unk", "slow", "fine", "soft"].map { "  - {name: fix-\($0), when: {job: \($0), consecutive_failures: 2}, then: [{plugin: mark, params: {job: \($0)}, timeout: 10s}], cooldown: 1h}" }).joined(separator: "\n"))
              - {name: fix-warnings-too, when: {job: soft, consecutive_failures: 2}, on: [warning, critical], then: [{plugin: mark, params: {job: "soft-widened"}, timeout: 10s}], cooldown: 1h}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        let done = await poll(within: .seconds(30)) { () -> Bool? in
            let fixed = (try? String(contentsOfFile: directory + "/fixed", encoding: .utf8)) ?? ""
            return ["crit", "unk", "slow", "soft-widened"].allSatisfy { fixed.contains($0) } ? true : nil
        }
        #expect(done == true, "\(daemon.log.suffix(3000))")
        #expect(await daemon.stop() == 0)
        let fixed = Set(((try? String(contentsOfFile: directory + "/fixed", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init))
        #expect(!fixed.contains("warn") && !fixed.contains("soft") && !fixed.contains("fine"), "\(fixed)")

        let failing = try await CLI.run(["history", "--config", config, "--status", "failing", "--json", "--limit", "1000"])
        let statuses = Set(((failing.json as? [[String: Any]]) ?? []).compactMap { $0["status"] as? String })
        #expect(statuses == ["warning", "critical", "unknown", "timeout"], "\(failing.stderr)")
        let byJob = Dictionary(((failing.json as? [[String: Any]]) ?? []).map { ($0["job"] as? String ?? "", $0["status"] as? String ?? "") }, uniquingKeysWith: { first, _ in first })
        #expect(byJob["warn"] == "warning" && byJob["soft"] == "warning" && byJob["crit"] == "critical" && byJob["unk"] == "unknown" && byJob["slow"] == "timeout")
        #expect(byJob["fine"] == nil)
        let bad = try await CLI.run(["history", "--config", config, "--status", "failed"])
        #expect(bad.status == 2 && bad.stderr.contains("expected failing, ok, warning, critical, unknown, timeout"), "\(bad.stderr)")

        let stats = try await CLI.run(["stats", "--config", config, "--json"])
        let jobs = ((stats.json as? [String: Any])?["jobs"] as? [[String: Any]]) ?? []
        let warn = try #require(jobs.first { $0["job"] as? String == "warn" })
        #expect((warn["warning"] as? Int ?? 0) > 0 && warn["critical"] as? Int == 0 && warn["failing"] as? Int == warn["warning"] as? Int)
        #expect(warn["last_status"] as? String == "warning")
    }
}
