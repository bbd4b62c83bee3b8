import Foundation
import Testing
import WardenTestSupport

@Suite("remediation end to end", .serialized)
struct RemediationEndToEndTests {
    /// A custom remediation plugin in Python: requests the URL it is given.
    static func addFixPlugin(to fixtures: PluginFixtureDirectory) throws {
        let script = #"""
            #!/usr/bin/env python3
            import json, os, sys, urllib.request
            SPEC = {
                "name": "fix_service",
                "description": "Repair the test service by calling its fix endpoint.",
                "category": "remediation",
                "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
            }
            if len(sys.argv) > 1 and sys.argv[1] == "--spec":
                print(json.dumps(SPEC))
                sys.exit(0)
            params = json.load(sys.stdin)
            if os.environ.get("WARDEN_DRY_RUN") == "1":
                print(json.dumps({"success": True, "message": "dry run"}))
                sys.exit(0)
            with urllib.request.urlopen(params["url"], timeout=5) as response:
                body = response.read().decode()
            print(json.dumps({"success": True, "message": "service repaired", "data": {"answer": body}}))
            """#
        let path = fixtures.path + "/fix_service"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    func runs(_ config: String) async throws -> [[String: Any]] {
        let output = try await CLI.run(["history", "--config", config, "--job", "web", "--json", "--limit", "1000"])
        return (output.json as? [[String: Any]]) ?? []
    }

    func remediations(_ config: String) async throws -> [[String: Any]] {
        let output = try await CLI.run(["history", "--config", config, "--remediations", "--json"])
        return (output.json as? [[String: Any]]) ?? []
    }

    @Test func aBrokenServiceIsRepairedVerifiedAndTheStreakAndBudgetSurviveSIGKILL() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let fixtures = try PluginFixtureDirectory()
        try Self.addFixPlugin(to: fixtures)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = UUID().uuidString
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, shutdown_grace: 2s}
            jobs:
              - name: web
                plugin: service_status
                every: 3s
                timeout: 60s
                params: {service_url: "\(server.baseURL)/service?key=\(key)", timeout: 60s}
                expect: ["data.status_code == 200"]
            rules:
              - name: repair-web
                when: {job: web, consecutive_failures: 3}
                then:
                  - plugin: fix_service
                    params: {url: "\(server.baseURL)/service/fix?key=\(key)"}
                verify_after: 300ms
                budget: 1 per 1h
                cooldown: 0s
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = ["--config", config, "--plugin-dir", fixtures.path]
        server.breakService(key)
        // The third check is held unanswered (the timeouts are long): however slowly this test
        // watches on a loaded machine, the first daemon records exactly two failures.
        server.holdService(key, afterAnswering: 2)

        // 1. Two failures, then SIGKILL: mid-streak, nothing flushed on purpose.
        var daemon = try DaemonProcess(arguments, logFile: directory + "/daemon-1.log")
        let twoFailures = try await poll(within: .seconds(30)) { () -> [[String: Any]]? in
            let found = try await runs(config)
            return found.filter { $0["status"] as? String == "critical" }.count >= 2 ? found : nil
        }
        try #require(twoFailures != nil, "daemon log:\n\(daemon.log)")
        try await Task.sleep(for: .milliseconds(300))
        // Foundation reports a signal death as the signal number with reason `.uncaughtSignal`.
        #expect(await daemon.stop(with: SIGKILL) == SIGKILL && daemon.process.terminationReason == .uncaughtSignal)
        server.releaseService(key)
        let beforeKill = try await runs(config)
        #expect(beforeKill.count == 2)
        #expect(beforeKill.allSatisfy { $0["status"] as? String == "critical" })
        #expect(try await remediations(config).isEmpty)
        let lastIDBeforeKill = beforeKill.compactMap { $0["id"] as? Int }.max() ?? 0

        // 2. Restarted, the next failure is the third in a row: the rule fires and repairs.
        daemon = try DaemonProcess(arguments, logFile: directory + "/daemon-2.log")
        let repaired = try await poll(within: .seconds(40)) { () -> [String: Any]? in
            try await remediations(config).first { $0["verification"] as? String == "passed" }
        }
        let remediation = try #require(repaired, "daemon log:\n\(daemon.log)")
        #expect(!server.isBroken(key))
        #expect(remediation["outcome"] as? String == "ok")
        #expect(remediation["plugin"] as? String == "fix_service")
        #expect((remediation["trigger"] as? String)?.hasPrefix("3 consecutive failures") == true)
        let triggerIDs = try #require(remediation["trigger_run_ids"] as? [Int])
        #expect(triggerIDs.count == 3)
        // Two of the three failures happened before the SIGKILL: the streak survived it.
        #expect(triggerIDs.filter { $0 <= lastIDBeforeKill }.count == 2)
        let all = try await remediations(config)
        #expect(all.count == 1)

        // The history shows the failing runs and the passing verification run.
        let history = try await runs(config)
        let verificationID = try #require(remediation["verification_run_id"] as? Int)
        let verification = try #require(history.first { $0["id"] as? Int == verificationID })
        #expect(verification["status"] as? String == "ok")
        #expect((verification["trigger"] as? String)?.hasPrefix("verify-of:") == true)
        #expect(history.filter { $0["status"] as? String == "critical" }.count >= 3)

        // `warden explain` tells the story: the triggering runs and the verification.
        let id = try #require(remediation["id"] as? Int)
        let explain = try await CLI.run(["explain", "\(id)", "--config", config])
        #expect(explain.status == 0)
        for runID in triggerIDs { #expect(explain.stdout.contains("run #\(runID) ")) }
        #expect(explain.stdout.contains("What ran: step 1, `fix_service`"))
        #expect(explain.stdout.contains("Verification: passed"))
        #expect(explain.stdout.contains("run #\(verificationID) "))
        #expect(explain.stdout.contains("budget 0 of 1 per 1h used"))

        // 3. SIGKILL again, break it again: the budget spent before the kill still counts.
        #expect(await daemon.stop(with: SIGKILL) != nil)
        server.breakService(key)
        daemon = try DaemonProcess(arguments, logFile: directory + "/daemon-3.log")
        let suppressed = try await poll(within: .seconds(40)) { () -> [String: Any]? in
            try await remediations(config).first { $0["outcome"] as? String == "suppressed" }
        }
        let refusal = try #require(suppressed, "daemon log:\n\(daemon.log)")
        #expect(refusal["suppressed_reason"] as? String == "budget exhausted: 1 of 1 per 1h used")
        #expect(server.isBroken(key))
        #expect(await daemon.stop() == 0)
    }
}

@Suite("warden silence")
struct SilenceCLITests {
    @Test func addListRemove() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/history.db"
        let added = try await CLI.run(["silence", "add", "--database", database, "--job", "web-*", "--for", "30m", "--reason", "deploying", "--json", "--force"])
        #expect(added.status == 0, "\(added.stderr)")
        let silence = try #require(added.json as? [String: Any])
        #expect(silence["job"] as? String == "web-*" && silence["reason"] as? String == "deploying")
        let id = try #require(silence["id"] as? Int)
        let listed = try await CLI.run(["silence", "list", "--database", database, "--json"])
        #expect((listed.json as? [[String: Any]])?.map { $0["id"] as? Int } == [id])
        let text = try await CLI.run(["silence", "list", "--database", database])
        #expect(text.stdout.contains("deploying") && text.stdout.contains("web-*"))
        #expect(try await CLI.run(["silence", "remove", "\(id)", "--database", database]).status == 0)
        #expect((try await CLI.run(["silence", "list", "--database", database, "--json"]).json as? [Any])?.isEmpty == true)
        let missing = try await CLI.run(["silence", "remove", "\(id)", "--database", database])
        #expect(missing.status == 2 && missing.stderr.contains("no silence #\(id)"))
        let bad = try await CLI.run(["silence", "add", "--database", database, "--for", "30m", "--reason", "x"])
        #expect(bad.status == 2 && bad.stderr.contains("--job or --rule"))
    }
}
