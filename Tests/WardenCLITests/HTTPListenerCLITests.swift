import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WardenTestSupport

/// `daemon.http` on a running daemon: metrics a real Prometheus scrapes, the health check,
/// the JSON API, the status page, and the bearer token.
@Suite("HTTP listener")
struct HTTPListenerCLITests {
    static let chromium = "/usr/bin/chromium"

    static func get(_ url: String, token: String? = nil) async -> (status: Int, body: String, type: String) {
        var request = URLRequest(url: URL(string: url)!)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        guard let (data, response) = try? await URLSession.shared.data(for: request), let http = response as? HTTPURLResponse else { return (0, "", "") }
        return (http.statusCode, String(decoding: data, as: UTF8.self), http.value(forHTTPHeaderField: "Content-Type") ?? "")
    }

    /// A reload that removes a job takes its series off `/metrics` (they stayed, the removed
    /// job still read as failing, until the daemon restarted).
    @Test func aReloadTakesARemovedJobsSeriesOffTheMetrics() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try TestHTTPServer.freePort()
        let dummy = "/usr/lib/nagios/plugins/check_dummy"
        let config = directory + "/warden.yaml"
        func write(jobs: [String]) throws {
            try ("daemon: {database: history.db, shutdown_grace: 1s, http: {listen: \"127.0.0.1:\(port)\"}}\njobs:\n" + jobs.map {
                "  - {name: \($0), plugin: nagios, every: 1s, params: {command: \(dummy), args: [\"\($0 == "gone" ? 2 : 0)\", \"x\"]}}\n"
            }.joined()).write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(jobs: ["kept", "gone"])
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        let metrics = "http://127.0.0.1:\(port)/metrics"
        let before = await poll(within: .seconds(15)) { () -> String? in
            let body = await Self.get(metrics).body
            return body.contains(#"warden_job_state{job="gone"} 2"#) && body.contains(#"warden_job_state{job="kept"} 0"#) ? body : nil
        }
        #expect(before != nil, "\(daemon.log.suffix(2000))")
        try write(jobs: ["kept"])
        kill(daemon.pid, SIGHUP)
        #expect(await poll { daemon.log.contains("reload done") ? true : nil } == true, "\(daemon.log.suffix(2000))")
        // A run of `gone` may have been in flight at the reload; a second later it is recorded.
        try await Task.sleep(for: .seconds(1.5))
        let after = await Self.get(metrics).body
        #expect(!after.contains(#"job="gone""#), "\(after)")
        #expect(after.contains(#"warden_job_state{job="kept"} 0"#))
        #expect(await daemon.stop() == 0)
    }

    @Test(.enabled(if: RealParts.available(TestPrometheus.available), "needs prometheus"))
    func metricsThatPrometheusScrapesAndTheAPIAndThePage() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try TestHTTPServer.freePort()
        let receiver = try await WebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        let dummy = "/usr/lib/nagios/plugins/check_dummy"
        let token = "TOKEN\(UUID().uuidString.prefix(8))"
        let config = directory + "/warden.yaml"
        try """
            notifiers:
              - {name: hook, type: webhook, url: "\(receiver.baseURL)/hook"}
            daemon:
              database: history.db
              shutdown_grace: 1s
              notify: [hook]
              http: {listen: "127.0.0.1:\(port)", token: "${env:WARDEN_HTTP_TOKEN}"}
            jobs:
              - {name: fine, plugin: nagios, every: 1s, params: {command: \(dummy), args: ["0", "fine"]}}
              - {name: broken, plugin: nagios, every: 1s, params: {command: \(dummy), args: ["2", "down"]}, retry: {attempts: 2, wait: fixed, delay: 10ms, retry_on: [failure]}}
            rules:
              - {name: fix-broken, when: {job: broken, consecutive_failures: 1}, then: [{plugin: http_request, params: {url: "\(receiver.baseURL)/fix"}}], budget: 1 per 1h, verify_after: 100ms}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["WARDEN_HTTP_TOKEN": token]
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log", environment: environment)
        let base = "http://127.0.0.1:\(port)"
        #expect(await poll { await Self.get(base + "/healthz").status == 200 ? true : nil } == true, "\(daemon.log.suffix(2000))")

        // Without the token only /healthz answers.
        #expect(await Self.get(base + "/metrics").status == 401)
        #expect(await Self.get(base + "/api/v1/status").status == 401)
        let metrics = await poll(within: .seconds(15)) { () -> String? in
            let response = await Self.get(base + "/metrics", token: token)
            return response.body.contains("warden_remediations_total{") && response.body.contains("warden_notifications_total{") && response.body.contains("warden_runs_total{job=\"fine\"") ? response.body : nil
        }
        let text = try #require(metrics, "\(daemon.log.suffix(2000))")
        for name in ["warden_job_state{job=\"broken\"} 2", "warden_job_state{job=\"fine\"} 0", "warden_runs_total{job=\"fine\",status=\"ok\"}",
                     "warden_run_duration_seconds_bucket{job=\"fine\"", "warden_retry_attempts_total{job=\"broken\"}",
                     "warden_remediations_total{rule=\"fix-broken\",outcome=", "warden_rule_budget_remaining{rule=\"fix-broken\"}",
                     "warden_scheduler_start_lateness_seconds_bucket", "warden_store_queue_depth", "warden_store_dropped_runs_total 0",
                     "warden_notifications_total{notifier=\"hook\",outcome=\"delivered\"}", "warden_build_info{version=",
                     "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"] {
            #expect(text.contains(name), "missing \(name)")
        }
        #expect(!text.contains("run_id") && !text.contains("message"), "labels are bounded by the config")

        // The API: the status document, a job's runs, the remediations.
        let status = await Self.get(base + "/api/v1/status", token: token)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
        #expect(status.type.hasPrefix("application/json") && (document["summary"] as? [String: Any])?["failing"] as? Int == 1)
        let runs = await Self.get(base + "/api/v1/jobs/broken/runs?limit=1&status=failing", token: token)
        let list = (try? JSONSerialization.jsonObject(with: Data(runs.body.utf8))) as? [[String: Any]] ?? []
        #expect(list.count == 1 && list.allSatisfy { $0["status"] as? String == "critical" && $0["attempts"] as? Int == 2 }, "\(runs.body)")
        #expect(await Self.get(base + "/api/v1/jobs/nope/runs", token: token).status == 404)
        let remediations = await Self.get(base + "/api/v1/remediations", token: token)
        #expect(remediations.body.contains("\"rule\" : \"fix-broken\""), "\(remediations.body.prefix(500))")
        // The page: every job, the failing one marked.
        let page = await Self.get(base + "/?token=\(token)")
        #expect(page.status == 200 && page.type.hasPrefix("text/html"))
        #expect(page.body.contains("<tr class=\"critical\"><td class=\"name\">broken</td>") && page.body.contains("<td class=\"name\">fine</td>"))

        // Rendered by a real browser (headless Chromium): every job on the page, the failing
        // one marked, and a screenshot taken.
        if FileManager.default.isExecutableFile(atPath: Self.chromium) {
            let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,640"]
            let dom = try await TestCommand.run(Self.chromium, flags + ["--dump-dom", base + "/?token=\(token)"])
            #expect(dom.stdout.contains("<td class=\"name\">fine</td>") && dom.stdout.contains("<tr class=\"critical\"><td class=\"name\">broken</td>"), "\(dom.stdout.prefix(1000))")
            let screenshot = directory + "/status-page.png"
            _ = try await TestCommand.run(Self.chromium, flags + ["--screenshot=\(screenshot)", base + "/?token=\(token)"])
            let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
            #expect(png.count > 10_000 && png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "not a PNG screenshot")
        } else {
            Issue.record("headless Chromium (Debian's `chromium`, installed by scripts/setup.sh) is missing")
        }

        // A real Prometheus scrapes it (with the token); what it holds agrees with the history.
        // Its own `job` target label wins, so Warden's arrives as `exported_job` (docs/api.md).
        let prometheus = try TestPrometheus(targets: ["127.0.0.1:\(port)"], bearerToken: token)
        defer { prometheus.stop() }
        let scraped = await poll(within: .seconds(30)) { await prometheus.value(of: #"warden_runs_total{exported_job="fine",status="ok"}"#) }
        let value = try #require(scraped, "Prometheus never scraped warden_runs_total")
        let history = try await CLI.run(["history", "--config", config, "--job", "fine", "--status", "ok", "--json", "--limit", "100000"])
        let stored = ((history.json as? [[String: Any]]) ?? []).count
        // The database holds at least what Prometheus saw, and at most a scrape interval more.
        #expect(Double(stored) >= value && Double(stored) - value <= 6, "Prometheus \(value), history \(stored)")
        #expect(await daemon.stop() == 0)
    }
}
