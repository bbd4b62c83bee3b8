import Foundation
import Logging
import PostgresNIO
import Testing
import WardenEngine
import WardenPluginKit
import WardenPlugins
import WardenPostgres
import WardenTestSupport

/// A client session of its own on the test cluster, as an application would hold one.
private func session(_ cluster: TestPostgres, database: String, user: String = TestPostgres.appRole) async throws -> PostgresConnection {
    let configuration = PostgresConnection.Configuration(
        unixSocketPath: "\(cluster.socketDirectory)/.s.PGSQL.\(cluster.port)", username: user, password: nil, database: database)
    return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Logger(label: "test-session"))
}

private func backendPid(_ connection: PostgresConnection) async throws -> Int {
    for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: Logger(label: "test")).decode(Int.self) {
        return pid
    }
    return 0
}

/// Connection parameters over the cluster's socket, as the superuser (trusted locally).
private func overSocket(_ cluster: TestPostgres, database: String) -> JSONObject {
    ["host": .string(cluster.socketDirectory), "port": .int(cluster.port), "database": .string(database), "user": "postgres"]
}

/// Polls until `check` holds (statistics and lock views catch up asynchronously).
private func eventually(within limit: Duration = .seconds(15), _ check: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await check() { return true }
        try await Task.sleep(for: .milliseconds(200))
    }
    return try await check()
}

@Suite("PostgreSQL plugins", .serialized, .enabled(if: RealParts.available(TestPostgres.available)))
struct DatabasePluginTests {
    @Test func slowQueriesFindsASleepAndTerminateQueryHonoursItsGuards() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        let app = try await session(cluster, database: database)
        let admin = try await session(cluster, database: database, user: "postgres")
        let appPid = try await backendPid(app)
        let adminPid = try await backendPid(admin)
        let appSleep = Task { try await app.query("SELECT pg_sleep(60)", logger: Logger(label: "test")).collect() }
        let adminSleep = Task { try await admin.query("SELECT pg_sleep(60)", logger: Logger(label: "test")).collect() }

        var found = PluginResult(success: true)
        let seen = try await eventually {
            found = try await run(SlowQueriesPlugin(), overSocket(cluster, database: database).merging(
                ["min_duration": 0.5, "only_database": .string(database)]) { $1 })
            return found.data["count"]?.intValue == 2
        }
        #expect(seen, "\(found)")
        #expect(!found.success, "two slow queries > max_count 0 fail the check")
        let pids = Set(found.data["queries"]?.arrayValue?.compactMap { $0["pid"]?.intValue } ?? [])
        #expect(pids == [appPid, adminPid])
        #expect(found.data["queries"]?.arrayValue?.first?["query"]?.stringValue?.contains("pg_sleep(60)") == true)
        #expect(found.data["pg_stat_statements"]?["available"] == false, "not installed in a fresh database")

        // A role without pg_monitor cannot see other roles' queries, and is told so.
        let blind = "blind_\(database)"
        try await cluster.psql("CREATE ROLE \(blind) LOGIN")
        let unseen = try await run(SlowQueriesPlugin(), overSocket(cluster, database: database).merging(
            ["user": .string(blind), "min_duration": 0.5]) { $1 })
        #expect(unseen.data["count"] == 0)
        #expect((unseen.data["hidden_sessions"]?.intValue ?? 0) >= 2)
        #expect(unseen.message.contains("hidden from \(blind) (grant it pg_monitor)"), "\(unseen)")

        // pg_stat_statements, once installed (the cluster preloads it), lists statements.
        try await cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", database: database)
        let withStatements = try await run(SlowQueriesPlugin(), overSocket(cluster, database: database).merging(["min_duration": 0.5]) { $1 })
        #expect(withStatements.data["pg_stat_statements"]?["available"] == true)
        #expect((withStatements.data["pg_stat_statements"]?["top"]?.arrayValue?.count ?? 0) > 0)

        // Dry run: the superuser's session and Warden's own backend are spared, with reasons.
        let filters: JSONObject = ["min_duration": 0, "only_database": .string(database), "only_state": "active", "mode": "terminate"]
        let plan = try await run(TerminateQueryPlugin(), overSocket(cluster, database: database).merging(filters) { $1 }, dryRun: true)
        let targets = plan.data["targets"]?.arrayValue ?? []
        func fate(_ pid: Int) -> JSONValue? { targets.first { $0["pid"]?.intValue == pid } }
        #expect(fate(appPid)?["action"] == "would terminate", "\(plan)")
        #expect(fate(adminPid)?["action"] == "skipped")
        #expect(fate(adminPid)?["reason"]?.stringValue?.contains("superuser") == true)
        let own = targets.first { $0["reason"]?.stringValue == "Warden's own backend" }
        #expect(own != nil, "the plugin's own backend matches the filters and is refused: \(targets)")
        #expect(plan.data["dry_run"] == true)
        try await Task.sleep(for: .milliseconds(300))
        #expect(!app.isClosed, "a dry run changes nothing")

        // For real, limited to one target: the app session's query is cancelled.
        let done = try await run(TerminateQueryPlugin(), overSocket(cluster, database: database).merging(
            ["pid": .int(appPid), "mode": "cancel"]) { $1 })
        #expect(done.success, "\(done)")
        #expect(done.data["signalled"] == 1)
        await #expect(throws: PSQLError.self) { try await appSleep.value }

        // allow_superuser lets it end the superuser's session too.
        let forced = try await run(TerminateQueryPlugin(), overSocket(cluster, database: database).merging(
            ["pid": .int(adminPid), "mode": "terminate", "allow_superuser": true]) { $1 })
        #expect(forced.success, "\(forced)")
        await #expect(throws: PSQLError.self) { try await adminSleep.value }
        #expect(try await eventually { admin.isClosed })
        try? await app.close()
    }

    @Test func terminateQueryStopsAtMaxTargetsAndRefusesAnUnboundedSweep() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        var sleepers: [PostgresConnection] = []
        for _ in 0..<3 {
            let connection = try await session(cluster, database: database)
            sleepers.append(connection)
            Task { _ = try await connection.query("SELECT pg_sleep(60)", logger: Logger(label: "test")).collect() }
        }
        let parameters = overSocket(cluster, database: database).merging(
            ["min_duration": 0.3, "only_database": .string(database), "only_user": .string(TestPostgres.appRole),
             "mode": "terminate", "max_targets": 2]) { $1 }
        var result = PluginResult(success: false)
        #expect(try await eventually {
            result = try await run(TerminateQueryPlugin(), parameters, dryRun: true)
            return result.data["matched"] == 3
        })
        result = try await run(TerminateQueryPlugin(), parameters)
        #expect(result.success, "\(result)")
        #expect(result.data["signalled"] == 2)
        #expect(result.data["skipped"] == 1)
        let skipped = result.data["targets"]?.arrayValue?.first { $0["action"] == "skipped" }
        #expect(skipped?["reason"]?.stringValue == "over max_targets (2)")
        #expect(try await eventually { sleepers.filter(\.isClosed).count == 2 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(sleepers.filter(\.isClosed).count == 2, "the third session was left alone")

        let unbounded = try await run(TerminateQueryPlugin(), overSocket(cluster, database: database))
        #expect(!unbounded.success)
        #expect(unbounded.error?.contains("`pid` or `min_duration`") == true)
        _ = try await run(TerminateQueryPlugin(), parameters.merging(["max_targets": 5]) { $1 })
        for sleeper in sleepers { try? await sleeper.close() }
    }

    @Test func lockWaitsShowsAChainAndKillDeadlockBreaksIt() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        try await cluster.psql("CREATE TABLE accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts VALUES (1, 100), (2, 100); GRANT ALL ON accounts TO \(TestPostgres.appRole)", database: database)
        let holder = try await session(cluster, database: database)
        let waiter = try await session(cluster, database: database)
        let holderPid = try await backendPid(holder)
        let waiterPid = try await backendPid(waiter)
        _ = try await holder.query("BEGIN", logger: Logger(label: "test")).collect()
        _ = try await holder.query("UPDATE accounts SET balance = 0 WHERE id = 1", logger: Logger(label: "test")).collect()
        let blocked = Task { _ = try await waiter.query("UPDATE accounts SET balance = 1 WHERE id = 1", logger: Logger(label: "test")).collect() }

        var waits = PluginResult(success: true)
        #expect(try await eventually {
            waits = try await run(LockWaitsPlugin(), overSocket(cluster, database: database).merging(["max_wait": 0.2]) { $1 })
            return waits.data["waiting"] == 1 && (waits.data["longest_wait_seconds"]?.doubleValue ?? 0) > 0.2
        }, "\(waits)")
        #expect(!waits.success, "a wait past max_wait fails")
        let chain = try #require(waits.data["chains"]?.arrayValue?.first { $0["root"]?["pid"]?.intValue == holderPid }, "\(waits)")
        #expect(chain["waiting"]?.arrayValue?.first?["pid"]?.intValue == waiterPid)
        #expect(chain["waiting"]?.arrayValue?.first?["waiting_for"] == [.int(holderPid)])
        #expect(chain["waiting"]?.arrayValue?.first?["lock_type"]?.stringValue?.isEmpty == false)
        #expect(chain["root"]?["state"] == "idle in transaction")

        let plan = try await run(KillDeadlockPlugin(), overSocket(cluster, database: database).merging(
            ["min_wait": 0, "only_database": .string(database)]) { $1 }, dryRun: true)
        #expect(plan.success && plan.data["broken"] == 0 && plan.data["chains"]?.arrayValue?.first?["action"] == "would terminate", "\(plan)")

        let broken = try await run(KillDeadlockPlugin(), overSocket(cluster, database: database).merging(
            ["min_wait": 0, "only_database": .string(database)]) { $1 })
        #expect(broken.success, "\(broken)")
        #expect(broken.data["broken"] == 1)
        #expect(broken.data["chains"]?.arrayValue?.first?["root"]?["pid"]?.intValue == holderPid)
        try await blocked.value  // the waiter's update went through
        #expect(try await eventually { holder.isClosed })
        let balance = try await cluster.psql("SELECT balance FROM accounts WHERE id = 1", database: database)
        #expect(balance == "1")
        try? await waiter.close()
    }

    @Test func aDeadlockCycleIsFoundAndOneVictimEnded() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        // A long deadlock_timeout for these sessions keeps PostgreSQL's own detector out of
        // the way, so the cycle stays for Warden to find.
        try await cluster.psql("""
            CREATE TABLE pairs (id int PRIMARY KEY, v int); INSERT INTO pairs VALUES (1, 0), (2, 0);
            GRANT ALL ON pairs TO \(TestPostgres.appRole);
            ALTER ROLE \(TestPostgres.appRole) IN DATABASE \(database) SET deadlock_timeout = '120s';
            """, database: database)
        let first = try await session(cluster, database: database)
        let second = try await session(cluster, database: database)
        let log = Logger(label: "test")
        for (connection, row) in [(first, 1), (second, 2)] {
            _ = try await connection.query("BEGIN", logger: log).collect()
            _ = try await connection.query("UPDATE pairs SET v = 1 WHERE id = \(row)", logger: log).collect()
        }
        let one = Task { _ = try await first.query("UPDATE pairs SET v = 2 WHERE id = 2", logger: log).collect() }
        try await Task.sleep(for: .milliseconds(200))
        let two = Task { _ = try await second.query("UPDATE pairs SET v = 2 WHERE id = 1", logger: log).collect() }

        var waits = PluginResult(success: true)
        #expect(try await eventually {
            waits = try await run(LockWaitsPlugin(), overSocket(cluster, database: database))
            return waits.data["deadlocks"] == 1
        }, "\(waits)")
        let broken = try await run(KillDeadlockPlugin(), overSocket(cluster, database: database).merging(
            ["min_wait": 0, "only_database": .string(database)]) { $1 })
        #expect(broken.success, "\(broken)")
        let victim = broken.data["chains"]?.arrayValue?.first?["victim"]?["pid"]?.intValue
        #expect(victim != nil)
        #expect(broken.data["chains"]?.arrayValue?.first?["deadlock"]?.arrayValue?.count == 2)
        // Exactly one of the two survives and completes its update.
        let outcomes = [await one.result, await two.result].map { if case .success = $0 { true } else { false } }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
        try? await first.close()
        try? await second.close()
    }

    @Test func tableBloatRanksTheBloatedTableFirstAndVacuumLowersItsDeadTuples() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        try await cluster.psql("""
            CREATE TABLE events (id int, payload text) WITH (autovacuum_enabled = false);
            INSERT INTO events SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
            DELETE FROM events WHERE id <= 15000;
            CREATE TABLE quiet (id int) WITH (autovacuum_enabled = false);
            INSERT INTO quiet SELECT generate_series(1, 100); DELETE FROM quiet WHERE id <= 10;
            CREATE TABLE survivor (id int);
            CREATE TABLE "we""ird; DROP TABLE survivor; --" (id int);
            """, database: database)
        let parameters = overSocket(cluster, database: database).merging(["min_dead_tuples": 1000, "max_dead_ratio": 0.5]) { $1 }
        var bloat = PluginResult(success: true)
        #expect(try await eventually {
            bloat = try await run(TableBloatPlugin(), parameters)
            return bloat.data["tables"]?.arrayValue?.first?["dead_tuples"] == 15000
        }, "\(bloat)")
        #expect(!bloat.success)
        let first = bloat.data["tables"]?.arrayValue?.first
        #expect(first?["table"] == "events")
        #expect(first?["bloated"] == true)
        #expect(first?["dead_ratio"] == 0.75)
        #expect(bloat.data["tables"]?.arrayValue?.first { $0["table"] == "quiet" }?["bloated"] == false)

        let vacuum = try await run(VacuumTablePlugin(), overSocket(cluster, database: database).merging(["table": "events"]) { $1 })
        #expect(vacuum.success, "\(vacuum)")
        #expect(vacuum.data["statement"] == #"VACUUM (ANALYZE) "public"."events""#)
        #expect(vacuum.data["before"]?["dead_tuples"] == 15000)
        #expect((vacuum.data["after"]?["dead_tuples"]?.intValue ?? .max) < 15000)
        #expect(try await eventually {
            let after = try await run(TableBloatPlugin(), parameters)
            return after.success && after.data["tables"]?.arrayValue?.first { $0["table"] == "events" }?["dead_tuples"] == 0
        })

        // A name full of quotes and semicolons is one identifier, nothing more.
        let hostile = try await run(VacuumTablePlugin(), overSocket(cluster, database: database).merging(
            ["table": #"we"ird; DROP TABLE survivor; --"#, "full": true]) { $1 })
        #expect(hostile.success, "\(hostile)")
        #expect(hostile.data["statement"] == #"VACUUM (FULL, ANALYZE) "public"."we""ird; DROP TABLE survivor; --""#)
        #expect(try await cluster.psql("SELECT count(*) FROM pg_class WHERE relname = 'survivor'", database: database) == "1")
        let missing = try await run(VacuumTablePlugin(), overSocket(cluster, database: database).merging(["table": "nope\"; --"]) { $1 })
        #expect(!missing.success)
        #expect(missing.error?.contains("no table public.nope\"; --") == true)
        let planned = try await run(VacuumTablePlugin(), overSocket(cluster, database: database).merging(["table": "quiet"]) { $1 }, dryRun: true)
        #expect(planned.success && planned.message.hasPrefix("would run: VACUUM"))
    }

    @Test func replicationLagReportsBothSidesOfAStreamingReplica() async throws {
        let cluster = try await TestPostgres.primary()
        let replica = try await TestPostgres.replica()
        var primary = PluginResult(success: false)
        #expect(try await eventually {
            primary = try await run(ReplicationLagPlugin(), overSocket(cluster, database: "postgres").merging(["min_replicas": 1, "max_lag_bytes": 100_000_000]) { $1 })
            // replay_lsn is null until the replica's first feedback message.
            let replica = primary.data["replicas"]?.arrayValue?.first
            return primary.success && replica?["state"] == "streaming" && replica?["replay_behind_bytes"]?.intValue != nil
        }, "\(primary)")
        #expect(primary.data["role"] == "primary")

        try await cluster.psql("CREATE TABLE IF NOT EXISTS replicated (id int); INSERT INTO replicated VALUES (1)")
        var standby = PluginResult(success: false)
        #expect(try await eventually {
            standby = try await run(ReplicationLagPlugin(), overSocket(replica, database: "postgres").merging(["max_lag_seconds": 60]) { $1 })
            return standby.success && standby.data["last_replay"]?.stringValue != nil
        }, "\(standby)")
        #expect(standby.data["role"] == "replica")
        #expect(standby.data["wal_receiver"]?["status"] == "streaming")
        #expect(standby.data["wal_receiver"]?["sender_port"]?.intValue == cluster.port)

        let wrongRole = try await run(ReplicationLagPlugin(), overSocket(replica, database: "postgres").merging(["expect_role": "primary"]) { $1 })
        #expect(!wrongRole.success)
        #expect(wrongRole.error?.contains("the server is a replica, expected a primary") == true)
        let tooFew = try await run(ReplicationLagPlugin(), overSocket(cluster, database: "postgres").merging(["min_replicas": 2]) { $1 })
        #expect(!tooFew.success)
    }

    @Test func activeConnectionsCountsSessionsAndFlagsIdleTransactions() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        let idle = try await session(cluster, database: database)
        let busy = try await session(cluster, database: database)
        let idlePid = try await backendPid(idle)
        _ = try await idle.query("BEGIN", logger: Logger(label: "test")).collect()
        _ = try await idle.query("SELECT 1", logger: Logger(label: "test")).collect()
        try await Task.sleep(for: .milliseconds(1200))

        let result = try await run(ActiveConnectionsPlugin(), overSocket(cluster, database: database).merging(["max_idle_in_transaction": 1]) { $1 })
        #expect(!result.success, "\(result)")
        #expect(result.error?.contains("pid \(idlePid) idle in transaction") == true)
        #expect((result.data["by_database"]?[database]?.intValue ?? 0) >= 3, "two sessions and the plugin's own")
        #expect((result.data["by_user"]?[TestPostgres.appRole]?.intValue ?? 0) >= 2)
        #expect(result.data["oldest_idle_in_transaction"]?["pid"]?.intValue == idlePid)
        #expect(result.data["max_connections"] == 100)
        #expect((result.data["headroom"]?.intValue ?? 0) > 0)
        let relaxed = try await run(ActiveConnectionsPlugin(), overSocket(cluster, database: database))
        #expect(relaxed.success, "\(relaxed)")
        try? await idle.close()
        try? await busy.close()
    }

    @Test func connectionFailuresAreClearAndSayWhetherToRetry() async throws {
        let cluster = try await TestPostgres.primary()
        let overTCP: JSONObject = [
            "host": "127.0.0.1", "port": .int(cluster.port), "database": "postgres",
            "user": .string(TestPostgres.operatorRole), "tls": "disable",
        ]
        let good = try await run(ActiveConnectionsPlugin(), overTCP.merging(["password": .string(TestPostgres.operatorPassword)]) { $1 })
        #expect(good.success, "\(good)")

        let wrongPassword = try await run(ActiveConnectionsPlugin(), overTCP.merging(["password": "not it"]) { $1 })
        #expect(!wrongPassword.success)
        #expect(wrongPassword.error?.contains("authentication failed") == true, "\(wrongPassword)")
        #expect(!wrongPassword.retry)
        #expect(wrongPassword.message.contains("warden_operator@127.0.0.1"))

        let closed = try await run(ActiveConnectionsPlugin(), overTCP.merging(["port": .int(try TestHTTPServer.refusedPort())]) { $1 })
        #expect(closed.error == "connection refused", "\(closed)")
        #expect(closed.retry)

        let silent = try SilentTCPListener()
        let started = ContinuousClock.now
        let hung = try await run(ActiveConnectionsPlugin(), overTCP.merging(["port": .int(silent.port), "connect_timeout": 1]) { $1 })
        #expect(hung.error == "no answer within 1s (connect_timeout)", "\(hung)")
        #expect(hung.retry)
        #expect(ContinuousClock.now - started < .seconds(5))

        let noSocket = try await run(ActiveConnectionsPlugin(), ["host": "/nonexistent-dir", "port": 5999])
        #expect(noSocket.error == "no server socket in /nonexistent-dir for port 5999", "\(noSocket)")

        let contradictory = try await run(ActiveConnectionsPlugin(), ["dsn": "postgres://a@b/c", "host": "x"])
        #expect(contradictory.error?.contains("`dsn` and `host` both name the server") == true)
    }

    @Test func tlsModesEncryptAndVerifyFullChecksTheCertificate() async throws {
        let cluster = try await TestPostgres.primary()
        let overTCP: JSONObject = [
            "host": "127.0.0.1", "port": .int(cluster.port), "database": "postgres",
            "user": .string(TestPostgres.operatorRole), "password": .string(TestPostgres.operatorPassword),
        ]
        let resources = PluginResources()
        let required = try await run(ActiveConnectionsPlugin(), overTCP.merging(["tls": "require"]) { $1 }, resources: resources)
        #expect(required.success, "\(required)")
        let encrypted = "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'warden' AND s.ssl"
        #expect(try await cluster.psql(encrypted) == "1", "the pooled session is encrypted")
        await resources.closeAll()

        let verified = try await run(ActiveConnectionsPlugin(), overTCP.merging(
            ["tls": "verify-full", "ca_file": .string(cluster.certificateAuthority)]) { $1 })
        #expect(verified.success, "\(verified)")

        let untrusted = try await run(ActiveConnectionsPlugin(), overTCP.merging(["tls": "verify-full"]) { $1 })
        #expect(!untrusted.success)
        #expect(untrusted.error?.hasPrefix("TLS handshake failed") == true, "\(untrusted)")
        #expect(!untrusted.retry, "an untrusted certificate does not fix itself")
    }

    @Test func aDSNWorksAndItsPasswordIsRedactedWhereverItIsShown() async throws {
        let cluster = try await TestPostgres.primary()
        let encoded = TestPostgres.operatorPassword.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let dsn = "postgres://\(TestPostgres.operatorRole):\(encoded)@127.0.0.1:\(cluster.port)/postgres?sslmode=disable&connect_timeout=3"
        let result = try await run(ActiveConnectionsPlugin(), ["dsn": .string(dsn)])
        #expect(result.success, "\(result)")
        #expect(!result.json.jsonText().contains(encoded))

        let registry = PluginRegistry()
        let entry = try registry.register(ActiveConnectionsPlugin())
        let shown = JSONValue.object(entry.redacted(["dsn": .string(dsn)])).jsonText()
        #expect(shown.contains("postgres://\(TestPostgres.operatorRole):***@127.0.0.1"), "\(shown)")
        #expect(!shown.contains(encoded))
        let secrets = entry.schema.secretValues(in: ["dsn": .string(dsn)])
        #expect(secrets.contains(TestPostgres.operatorPassword) && secrets.contains(encoded))
    }

    @Test func runsShareOnePoolPerTargetUntilTheResourcesAreClosed() async throws {
        let cluster = try await TestPostgres.primary()
        let database = try await cluster.createDatabase()
        let resources = PluginResources()
        for _ in 0..<3 {
            let result = try await run(ActiveConnectionsPlugin(), overSocket(cluster, database: database), resources: resources)
            #expect(result.success)
        }
        _ = try await run(ActiveConnectionsPlugin(), overSocket(cluster, database: "postgres"), resources: resources)
        #expect(await resources.count == 2, "one pool per distinct target")
        let wardenSessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'warden' AND datname = '\(database)'"
        #expect(try await cluster.psql(wardenSessions) == "1", "three runs reused one pooled connection")

        await resources.closeAll()
        #expect(await resources.count == 0)
        #expect(try await eventually { try await cluster.psql(wardenSessions) == "0" }, "closing (as on reload) ends the sessions")
    }
}
