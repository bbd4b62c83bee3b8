import Foundation
import Testing
import WardenPluginKit
import WardenTestSupport

/// Notifications against real receivers: loopback webhook and Slack receivers, a real
/// Alertmanager and a real SMTP server; and the outbox's promise: nothing lost across a
/// dead receiver and a SIGKILL.
@Suite("notifications")
struct NotificationCLITests {
    /// A diagnostic that is critical while `down` exists in `directory`.
    static func plugins(_ directory: String) throws -> PluginFixtureDirectory {
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript("flip", spec: PluginFixtureDirectory.spec("flip"), body: """
            cat >/dev/null
            if [ -f '\(directory)/down' ]; then echo '{"success": false, "message": "service down", "error": "down"}'; else echo '{"success": true, "message": "service up"}'; fi
            """)
        return fixtures
    }

    static func events(_ receiver: WebhookReceiver, path: String) -> [[String: Any]] {
        receiver.deliveries.filter { $0.path == path }.compactMap { $0.json as? [String: Any] }
    }

    @Test func failingAndRecoveryReachAWebhookSignedAndSlackAndTheHistoryShowsThem() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(directory)
        let hmacKey = "HMACKEY\(UUID().uuidString.prefix(8))"
        let config = directory + "/warden.yaml"
        try """
            notifiers:
              - {name: hook, type: webhook, url: "\(receiver.baseURL)/hook", secret: "${env:HOOK_SECRET}", headers: {X-Team: ops}}
              - {name: chat, type: slack, url: "\(receiver.baseURL)/slack"}
            daemon: {database: history.db, shutdown_grace: 1s, notify: [hook, chat]}
            jobs:
              - {name: web, plugin: flip, every: 1s, notify_after: 2}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["HOOK_SECRET": hmacKey]
        let arguments = ["--config", config, "--plugin-dir", fixtures.path]
        #expect(FileManager.default.createFile(atPath: directory + "/down", contents: nil))
        let daemon = try DaemonProcess(arguments, logFile: directory + "/daemon.log", environment: environment)
        let failing = await poll(within: .seconds(20)) { Self.events(receiver, path: "/hook").first { $0["event"] as? String == "job_failing" } }
        let event = try #require(failing, "\(daemon.log.suffix(2000))")
        #expect(event["job"] as? String == "web" && event["severity"] as? String == "critical" && event["status"] as? String == "critical")
        #expect(event["message"] as? String == "service down" && (event["run_id"] as? Int ?? 0) > 0 && event["version"] as? Int == 1)
        #expect((event["title"] as? String)?.hasPrefix("[CRITICAL] web on ") == true)

        try FileManager.default.removeItem(atPath: directory + "/down")
        let recovered = await poll(within: .seconds(20)) { Self.events(receiver, path: "/hook").first { $0["event"] as? String == "job_recovered" } }
        #expect(recovered?["severity"] as? String == "critical", "a recovery carries the severity it had")
        let slack = await poll(within: .seconds(10)) { () -> [[String: Any]]? in
            let messages = Self.events(receiver, path: "/slack")
            return messages.count >= 2 ? messages : nil
        }
        #expect((slack?.first?["text"] as? String)?.hasPrefix("[CRITICAL] web on ") == true)
        #expect((slack?.last?["text"] as? String)?.hasPrefix("[RECOVERED] web on ") == true)

        // Every body matches the JSON Schema that docs/notifications.md documents.
        let schema = try Self.documentedSchema()
        for delivery in receiver.deliveries where delivery.path == "/hook" {
            let body = try JSONValue.parse(delivery.body)
            if case .failure(let error) = schema.validate(body) { Issue.record("a webhook body does not match the documented schema: \(error)") }
        }

        // notify_after: 2 — the first failing run told nobody; exactly one failing and one recovery.
        let hooks = Self.events(receiver, path: "/hook").compactMap { $0["event"] as? String }
        #expect(hooks == ["job_failing", "job_recovered"], "\(hooks)")

        // The signature is HMAC-SHA256 of the body with the secret; custom headers are sent.
        let first = try #require(receiver.deliveries.first { $0.path == "/hook" })
        #expect(first.headers["x-team"] == "ops" && first.headers["x-warden-event"] == "job_failing")
        let check = try await TestCommand.run("/usr/bin/python3", ["-c", """
            import hmac, hashlib, sys
            print("sha256=" + hmac.new(sys.argv[1].encode(), open(sys.argv[2], "rb").read(), hashlib.sha256).hexdigest())
            """, hmacKey, try Self.save(first.body, in: directory)])
        #expect(first.headers["x-warden-signature"] == check.stdout.trimmingCharacters(in: .whitespacesAndNewlines))

        // `warden notifications` lists them, delivered, with the receiver's answer.
        // (The receiver has a message a moment before the sender records its answer.)
        let delivered = await poll(within: .seconds(10)) { () -> [[String: Any]]? in
            let listed = try? await CLI.run(["notifications", "--config", config, "--json"], environment: environment)
            let entries = (listed?.json as? [[String: Any]]) ?? []
            return entries.count == 4 && entries.allSatisfy({ $0["state"] as? String == "delivered" }) ? entries : nil
        }
        #expect(delivered?.allSatisfy { ($0["answer"] as? String)?.hasPrefix("HTTP 200") == true } == true, "\(String(describing: delivered))")
        // `warden notify test` sends now and says what the receiver answered.
        let test = try await CLI.run(["notify", "test", "hook", "--config", config, "--plugin-dir", fixtures.path], environment: environment)
        #expect(test.status == 0 && test.stdout.contains("delivered to hook (webhook): HTTP 200"), "\(test.stdout)\(test.stderr)")
        #expect(Self.events(receiver, path: "/hook").last?["event"] as? String == "test")
        let unknown = try await CLI.run(["notify", "test", "hok", "--config", config, "--plugin-dir", fixtures.path], environment: environment)
        #expect(unknown.status == 2 && unknown.stderr.contains("did you mean `hook`?"))

        #expect(await daemon.stop() == 0)
        // The signing secret is nowhere but in the environment.
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasPrefix("history.db") || file.hasSuffix(".log") {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)), as: UTF8.self)
            #expect(!text.contains(hmacKey), "the webhook secret reached \(file)")
        }
    }

    /// The schema in docs/notifications.md: the JSON block after "Its JSON Schema:".
    static func documentedSchema() throws -> JSONSchema {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/docs/notifications.md"
        let text = try String(contentsOfFile: docs, encoding: .utf8)
        let after = try #require(text.range(of: "Its JSON Schema:"))
        let start = try #require(text.range(of: "```json\n", range: after.upperBound..<text.endIndex))
        let end = try #require(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        return try JSONSchema(try JSONValue.parse(String(text[start.upperBound..<end.lowerBound])))
    }

    static func save(_ data: Data, in directory: String) throws -> String {
        let path = directory + "/body-\(UUID().uuidString)"
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aDeadReceiverAndASIGKILLLoseNoNotificationAndRepeatNone() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        receiver.setDown(true)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(directory)
        let config = directory + "/warden.yaml"
        try """
            notifiers:
              - {name: hook, type: webhook, url: "\(receiver.baseURL)/hook"}
            daemon: {database: history.db, shutdown_grace: 1s, notify: [hook]}
            jobs:
              - {name: web, plugin: flip, every: 1s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let arguments = ["--config", config, "--plugin-dir", fixtures.path]
        #expect(FileManager.default.createFile(atPath: directory + "/down", contents: nil))
        var daemon = try DaemonProcess(arguments, logFile: directory + "/daemon-1.log")
        // The job fails and recovers while the receiver is away: both wait in the outbox.
        let queued = await poll(within: .seconds(20)) { () -> Bool? in
            let output = try? await CLI.run(["notifications", "--config", config, "--pending", "--json"])
            let events = ((output?.json as? [[String: Any]]) ?? []).compactMap { ($0["event"] as? [String: Any])?["event"] as? String }
            if events.contains("job_failing") && FileManager.default.fileExists(atPath: directory + "/down") {
                try? FileManager.default.removeItem(atPath: directory + "/down")
            }
            return Set(events) == ["job_failing", "job_recovered"] ? true : nil
        }
        #expect(queued == true, "\(daemon.log.suffix(2000))")
        let failed = try await CLI.run(["notifications", "--config", config, "--failed"])
        #expect(failed.stdout.contains("HTTP 503"), "\(failed.stdout)")
        _ = await daemon.stop(with: SIGKILL)

        receiver.setDown(false)
        daemon = try DaemonProcess(arguments, logFile: directory + "/daemon-2.log")
        let delivered = await poll(within: .seconds(30)) { () -> [String]? in
            let events = Self.events(receiver, path: "/hook").compactMap { $0["event"] as? String }
            return events.count >= 2 ? events : nil
        }
        // A few more seconds: nothing is sent twice.
        try await Task.sleep(for: .seconds(3))
        #expect(await daemon.stop() == 0)
        #expect(delivered == ["job_failing", "job_recovered"], "\(daemon.log.suffix(2000))")
        #expect(Self.events(receiver, path: "/hook").count == 2)
    }

    @Test func remediationOutcomesAndALongSuppressionAreTold() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(directory)
        try fixtures.addScript("nofix", spec: PluginFixtureDirectory.spec("nofix", category: "remediation"), body: "cat >/dev/null; echo '{\"success\": true, \"message\": \"tried\"}'")
        let config = directory + "/warden.yaml"
        try """
            notifiers:
              - {name: hook, type: webhook, url: "\(receiver.baseURL)/hook"}
            daemon: {database: history.db, shutdown_grace: 1s, notify: [hook], notify_suppressed_after: 0s}
            jobs:
              - {name: web, plugin: flip, every: 1s}
            rules:
              - {name: fix-web, when: {job: web, consecutive_failures: 1}, then: [{plugin: nofix}], verify_after: 100ms, cooldown: 1h}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(FileManager.default.createFile(atPath: directory + "/down", contents: nil))
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        let events = await poll(within: .seconds(20)) { () -> [String]? in
            let events = Self.events(receiver, path: "/hook").compactMap { $0["event"] as? String }
            return events.contains("remediation_suppressed") ? events : nil
        }
        #expect(await daemon.stop() == 0)
        let seen = try #require(events, "\(daemon.log.suffix(2000))")
        #expect(seen.first == "job_failing" && seen.contains("remediation_not_verified"), "\(seen)")
        #expect(seen.filter { $0 == "remediation_suppressed" }.count == 1, "told once per stretch: \(seen)")
        let suppressed = try #require(Self.events(receiver, path: "/hook").first { $0["event"] as? String == "remediation_suppressed" })
        #expect(suppressed["rule"] as? String == "fix-web" && (suppressed["message"] as? String)?.contains("cooldown") == true, "\(suppressed)")
        let notVerified = try #require(Self.events(receiver, path: "/hook").first { $0["event"] as? String == "remediation_not_verified" })
        #expect((notVerified["remediation_id"] as? Int ?? 0) > 0)
    }

    @Test func aHungNotifierDelaysNoOtherNotifier() async throws {
        let receiver = try await WebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(directory)
        let hang = directory + "/hang.sh"
        try "#!/bin/sh\nsleep 1000\n".write(toFile: hang, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hang)
        let config = directory + "/warden.yaml"
        try """
            notifiers:
              - {name: stuck, type: exec, command: \(hang)}
              - {name: hook, type: webhook, url: "\(receiver.baseURL)/hook"}
            daemon: {database: history.db, shutdown_grace: 1s, notify: [stuck, hook]}
            jobs:
              - {name: web, plugin: flip, every: 1s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(FileManager.default.createFile(atPath: directory + "/down", contents: nil))
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        let failing = await poll(within: .seconds(10)) { Self.events(receiver, path: "/hook").first }
        #expect(failing?["event"] as? String == "job_failing", "\(daemon.log.suffix(2000))")
        try FileManager.default.removeItem(atPath: directory + "/down")
        let recovered = await poll(within: .seconds(10)) { Self.events(receiver, path: "/hook").count >= 2 ? true : nil }
        #expect(recovered == true)
        #expect(await daemon.stop() == 0)
    }

    @Test(.enabled(if: RealParts.available(TestAlertmanager.available), "needs prometheus-alertmanager"))
    func aFailingJobFiresInAlertmanagerAndItsRecoveryResolvesIt() async throws {
        let alertmanager = try TestAlertmanager()
        defer { alertmanager.stop() }
        #expect(await poll(within: .seconds(20)) { await alertmanager.alerts() } != nil, "Alertmanager did not start")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(directory)
        let config = directory + "/warden.yaml"
        try """
            notifiers:
              - {name: am, type: alertmanager, url: "\(alertmanager.baseURL)"}
            daemon: {database: history.db, shutdown_grace: 1s, notify: [am]}
            jobs:
              - {name: api, plugin: flip, every: 2s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        #expect(await poll { daemon.log.contains("warden started") ? true : nil } == true)
        // Stop the "service": within two check intervals (2 s each) the alert fires.
        #expect(FileManager.default.createFile(atPath: directory + "/down", contents: nil))
        let stopped = ContinuousClock.now
        let firing = await poll(within: .seconds(15)) { () -> [String: Any]? in
            await alertmanager.alerts()?.first { ($0["labels"] as? [String: String])?["job"] == "api" }
        }
        let alert = try #require(firing, "\(daemon.log.suffix(2000))")
        #expect(ContinuousClock.now - stopped < .seconds(4), "the alert took \(ContinuousClock.now - stopped)")
        let labels = (alert["labels"] as? [String: String]) ?? [:]
        #expect(labels["alertname"] == "WardenJobFailing" && labels["severity"] == "critical" && labels["instance"] == ProcessInfo.processInfo.hostName)
        #expect(((alert["status"] as? [String: Any])?["state"] as? String) == "active")
        // Start it again: the alert resolves.
        try FileManager.default.removeItem(atPath: directory + "/down")
        let resolved = await poll(within: .seconds(15)) { () -> Bool? in
            guard let alerts = await alertmanager.alerts() else { return nil }
            return alerts.contains { ($0["labels"] as? [String: String])?["job"] == "api" } ? nil : true
        }
        #expect(resolved == true)
        #expect(await daemon.stop() == 0)
    }

    @Test(.enabled(if: RealParts.available(TestSMTPServer.available), "needs python3-aiosmtpd"))
    func emailAndExecNotifiersDeliverOneMessagePerEvent() async throws {
        let smtp = try TestSMTPServer()
        defer { smtp.stop() }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try Self.plugins(directory)
        let command = directory + "/notify.sh"
        try """
            #!/bin/sh
            { echo "$WARDEN_EVENT $WARDEN_JOB $WARDEN_SEVERITY"; cat; echo; } >> '\(directory)/exec.log'
            """.write(toFile: command, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: command)
        let config = directory + "/warden.yaml"
        try """
            notifiers:
              - {name: mail, type: email, host: 127.0.0.1, port: \(smtp.port), security: none, from: warden@example.org, to: [ops@example.org, oncall@example.org]}
              - {name: cmd, type: exec, command: \(command)}
            daemon: {database: history.db, shutdown_grace: 1s, notify: [mail, cmd]}
            jobs:
              - {name: db, plugin: flip, every: 1s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(FileManager.default.createFile(atPath: directory + "/down", contents: nil))
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        let first = await poll(within: .seconds(20)) { smtp.messages.first }
        let message = try #require(first, "\(daemon.log.suffix(2000))")
        #expect(message.contains("Subject: [CRITICAL] db on "), "\(message)")
        #expect(message.contains("X-Envelope-To: ops@example.org,oncall@example.org") && message.contains("From: warden@example.org"))
        #expect(message.contains("X-Warden-Event: job_failing") && message.contains("service down"))
        try FileManager.default.removeItem(atPath: directory + "/down")
        let both = await poll(within: .seconds(20)) { smtp.messages.count >= 2 ? smtp.messages : nil }
        #expect(both?.last?.contains("Subject: [RECOVERED] db on ") == true)
        let exec = await poll(within: .seconds(10)) { () -> String? in
            let text = (try? String(contentsOfFile: directory + "/exec.log", encoding: .utf8)) ?? ""
            return text.contains("job_recovered db critical") ? text : nil
        }
        #expect(exec?.hasPrefix("job_failing db critical\n{") == true, "\(exec ?? "")")
        #expect(await daemon.stop() == 0)
    }
}
