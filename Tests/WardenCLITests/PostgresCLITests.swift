import Foundation
import Testing
import WardenTestSupport

/// The Database family as an operator meets it: `warden exec` against a real server, and the
/// daemon ending a runaway query through a rule with a budget.
@Suite("PostgreSQL through the CLI", .serialized, .enabled(if: RealParts.available(TestPostgres.available)))
struct PostgresCLITests {
    @Test func pluginsListsTheEightDatabasePlugins() async throws {
        let output = try await CLI.run(["plugins", "--json", "--plugin-dir", "/nonexistent"])
        let plugins = try #require(output.json as? [[String: Any]])
        let categories = Dictionary(uniqueKeysWithValues: plugins.map { ($0["name"] as? String ?? "", $0["category"] as? String ?? "") })
        let expected = [
            "active_connections": "diagnostic", "slow_queries": "diagnostic", "lock_waits": "diagnostic",
            "replication_lag": "diagnostic", "table_bloat": "diagnostic",
            "terminate_query": "remediation", "kill_deadlock": "remediation", "vacuum_table": "remediation",
        ]
        for (name, category) in expected { #expect(categories[name] == category, "\(name)") }
    }

    /// `psql -c "SELECT pg_sleep(60)"` as the application role: a real client in a child process.
    private func sleeper(_ cluster: TestPostgres, database: String) -> Task<TestCommand.Output, any Error> {
        Task {
            try await TestCommand.run(TestPostgres.binDirectory! + "/psql", [
                "-h", cluster.socketDirectory, "-p", "\(cluster.port)", "-U", TestPostgres.appRole, "-d", database,
                "-X", "-c", "SELECT pg_sleep(60)",
            ])
        }
    }

    @Test func slowQueriesFindsAPsqlSleepAndTerminateQueryEndsIt() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        let psql = sleeper(cluster, database: database)
        let connection = ["--param", "host=\(cluster.socketDirectory)", "--param", "port=\(cluster.port)",
                          "--param", "database=\(database)", "--param", "user=postgres"]

        let found = try await poll(within: .seconds(15)) { () -> [String: Any]? in
            let output = try await CLI.run(["exec", "slow_queries", "--json", "--param", "min_duration=1s",
                                            "--param", "only_database=\(database)"] + connection)
            let result = output.json as? [String: Any]
            let data = result?["data"] as? [String: Any]
            return (data?["count"] as? Int) == 1 && output.status == 1 ? data : nil
        }
        let data = try #require(found)
        #expect(data["min_duration"] as? Double == 1)
        let query = try #require((data["queries"] as? [[String: Any]])?.first)
        #expect((query["query"] as? String)?.contains("pg_sleep(60)") == true)
        #expect(query["user"] as? String == TestPostgres.appRole)
        let pid = try #require(query["pid"] as? Int)

        let refused = try await CLI.run(["exec", "terminate_query", "--param", "pid=\(pid)"] + connection)
        #expect(refused.status == 2, "a remediation needs --allow-write")

        let ended = try await CLI.run(["exec", "terminate_query", "--allow-write", "--json", "--param", "pid=\(pid)",
                                       "--param", "mode=terminate"] + connection)
        #expect(ended.status == 0, "\(ended.stdout)\(ended.stderr)")
        let targets = ((ended.json as? [String: Any])?["data"] as? [String: Any])?["targets"] as? [[String: Any]]
        #expect(targets?.first?["action"] as? String == "terminated")
        let client = try await psql.value
        #expect(client.status != 0)
        #expect(client.stderr.contains("terminating connection due to administrator command"), "\(client.stderr)")
    }

    @Test func theDaemonCancelsARunawayQueryOnceAndThenRespectsItsBudget() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        // The shape of etc/warden/examples/postgres.yaml's end-runaway-queries, with short
        // bounds, over TCP with a password from the environment.
        try """
            daemon: {database: history.db, shutdown_grace: 2s}
            jobs:
              - name: pg-slow
                plugin: slow_queries
                every: 1s
                timeout: 5s
                params:
                  host: 127.0.0.1
                  port: \(cluster.port)
                  database: \(database)
                  user: \(TestPostgres.operatorRole)
                  password: ${env:TEST_PG_PASSWORD}
                  tls: disable
                  min_duration: 1
                  only_database: \(database)
            rules:
              - name: end-runaway-queries
                when: {job: pg-slow, consecutive_failures: 2}
                then:
                  - plugin: terminate_query
                    params:
                      host: "{{ job.params.host }}"
                      port: \(cluster.port)
                      database: \(database)
                      user: \(TestPostgres.operatorRole)
                      password: ${env:TEST_PG_PASSWORD}
                      tls: disable
                      min_duration: 1
                      only_database: \(database)
                      mode: cancel
                verify_after: 500ms
                budget: 1 per 1h
                cooldown: 0s
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["TEST_PG_PASSWORD": TestPostgres.operatorPassword]
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log", environment: environment)

        let first = sleeper(cluster, database: database)
        /// The first remediation record (as `warden history --remediations --json` shows it)
        /// that `matches`, within 30 s.
        func firstRemediation(where matches: @escaping ([String: Any]) -> Bool) async throws -> [String: Any]? {
            try await poll(within: .seconds(30)) { () -> [String: Any]? in
                let output = try await CLI.run(["history", "--config", config, "--remediations", "--json"])
                return (output.json as? [[String: Any]])?.first(where: matches)
            }
        }
        let remediation = try await firstRemediation { $0["verification"] as? String == "passed" }
        let runs = try await CLI.run(["history", "--config", config, "--job", "pg-slow", "--limit", "5"]).stdout
        let done = try #require(remediation, "daemon log:\n\(daemon.log)\nruns:\n\(runs)")
        #expect(done["plugin"] as? String == "terminate_query")
        let client = try await first.value
        #expect(client.stderr.contains("canceling statement due to user request"), "\(client.stderr)")

        // A second runaway within the hour: the budget is spent, the query is left alone.
        let second = sleeper(cluster, database: database)
        let suppressed = try await firstRemediation { $0["outcome"] as? String == "suppressed" }
        let refusal = try #require(suppressed, "daemon log:\n\(daemon.log)")
        #expect(refusal["suppressed_reason"] as? String == "budget exhausted: 1 of 1 per 1h used")
        #expect(await daemon.stop() == 0)
        _ = try await CLI.run(["exec", "terminate_query", "--allow-write", "--param", "host=\(cluster.socketDirectory)",
                               "--param", "port=\(cluster.port)", "--param", "database=\(database)", "--param", "user=postgres",
                               "--param", "min_duration=0", "--param", "only_database=\(database)", "--param", "only_user=\(TestPostgres.appRole)"])
        _ = try await second.value

        // The password never reached the history, nor the daemon's log.
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasPrefix("history.db") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
            #expect(bytes.range(of: Data(TestPostgres.operatorPassword.utf8)) == nil, "\(file)")
        }
        #expect(!daemon.log.contains(TestPostgres.operatorPassword))
    }

    @Test func theDaemonKeepsOnePooledSessionAndReplacesItOnReload() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, shutdown_grace: 2s}
            jobs:
              - name: pg-connections
                plugin: active_connections
                every: 500ms
                params: {host: "\(cluster.socketDirectory)", port: \(cluster.port), database: \(database), user: postgres}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log")
        let sessions = "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'warden' AND datname = '\(database)'"

        // Many runs, one session: the pool keeps it between runs.
        let first = try await poll(within: .seconds(15)) { () -> String? in
            let runs = try await CLI.run(["history", "--config", config, "--job", "pg-connections", "--json"]).json as? [[String: Any]]
            let pids = try await cluster.psql(sessions)
            return (runs?.count ?? 0) >= 4 && !pids.isEmpty ? pids : nil
        }
        let before = try #require(first, "daemon log:\n\(daemon.log)")
        #expect(!before.contains(","), "one pooled session, not one per run: \(before)")

        // A reload closes the pools: the next run opens a new session and the old one is gone.
        kill(daemon.pid, SIGHUP)
        let replaced = try await poll(within: .seconds(15)) { () -> String? in
            let pids = try await cluster.psql(sessions)
            return !pids.isEmpty && pids != before && !pids.contains(",") ? pids : nil
        }
        let after = try await cluster.psql(sessions)
        #expect(replaced != nil, "sessions before reload \(before), after: \(after)")

        #expect(await daemon.stop() == 0)
        let closed = try await poll(within: .seconds(10)) { try await cluster.psql(sessions).isEmpty ? true : nil }
        #expect(closed == true, "the session ends with the daemon")
    }
}
