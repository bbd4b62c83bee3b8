import Foundation
import Synchronization
import Testing
import WardenPluginKit
@testable import WardenEngine

/// Which services are healthy; the fake plugins read and repair it.
final class Services: Sendable {
    private let healthy = Mutex<[String: Bool]>([:])
    private let calls = Mutex<[String: Int]>([:])
    func set(_ name: String, healthy value: Bool) { healthy.withLock { $0[name] = value } }
    func isHealthy(_ name: String) -> Bool { healthy.withLock { $0[name] ?? true } }
    func count(_ plugin: String) { calls.withLock { $0[plugin, default: 0] += 1 } }
    func calls(_ plugin: String) -> Int { calls.withLock { $0[plugin] ?? 0 } }
}

/// Diagnostic: is service `service` healthy?
struct HealthPlugin: Plugin {
    let services: Services
    let spec = PluginSpec(name: "health", description: "fake health check", category: .diagnostic, parameters: [
        "type": "object", "properties": ["service": ["type": "string"]], "required": ["service"],
    ])
    func execute(_ params: JSONObject, context: PluginContext) async throws -> PluginResult {
        let service = params["service"]?.stringValue ?? ""
        services.count("health")
        return services.isHealthy(service)
            ? .ok(["service": .string(service), "status_code": 200], message: "\(service) healthy")
            : PluginResult(success: false, data: ["service": .string(service), "status_code": 503], message: "\(service) down", error: "503")
    }
}

/// Remediation: `repair` fixes the service when `works` is true; otherwise it runs and fails to help.
struct RepairPlugin: Plugin {
    let name: String
    let services: Services
    let works: Bool
    var spec: PluginSpec {
        PluginSpec(name: name, description: "fake repair", category: .remediation, parameters: [
            "type": "object", "properties": ["service": ["type": "string"]], "required": ["service"],
        ])
    }
    func execute(_ params: JSONObject, context: PluginContext) async throws -> PluginResult {
        services.count(name)
        if works { services.set(params["service"]?.stringValue ?? "", healthy: true) }
        return .ok(message: "\(name) ran for \(params["service"]?.stringValue ?? "")")
    }
}

/// Diagnostic used for `on_exhausted` and context steps: counts its calls.
struct NotifyPlugin: Plugin {
    let services: Services
    let spec = PluginSpec(name: "notify", description: "fake notifier", category: .diagnostic, parameters: ["type": "object"])
    func execute(_ params: JSONObject, context: PluginContext) async throws -> PluginResult {
        services.count("notify")
        return .ok(message: "notified")
    }
}

/// A config, a real SQLite store, the engine, and an injected clock.
final class WrittenRuns: Sendable {
    let runs = Mutex<[ObservedRun]>([])
}

final class Scenario: Sendable {
    let services = Services()
    let clock = ManualClock()
    let directory: TemporaryDirectory
    let store: HistoryStore
    let registry: PluginRegistry
    let config: WardenConfig
    let engine: RemediationEngine
    let writer: HistoryWriter
    /// Every run the writer committed (or showed while writes failed).
    let written = WrittenRuns()
    let loop: AttemptLoop

    init(_ yaml: String, directory: TemporaryDirectory? = nil, busyTimeout: TimeInterval = 10, environment: [String: String] = [:]) throws {
        self.directory = try directory ?? TemporaryDirectory()
        registry = try makeRegistry([
            HealthPlugin(services: services), RepairPlugin(name: "repair", services: services, works: true),
            RepairPlugin(name: "poke", services: services, works: false), NotifyPlugin(services: services), ProbePlugin(),
        ])
        config = try ConfigLoader(registry: registry, environment: environment).load(text: yaml, file: "scenario.yaml")
        store = try HistoryStore.openForWriting(path: self.directory.file("history.db"), busyTimeout: busyTimeout)
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: testLogger, environment: [:])
        loop = AttemptLoop(executor: executor, clock: clock)
        let written = self.written
        writer = HistoryWriter(store: store, logger: testLogger, onObserve: { runs in written.runs.withLock { $0 += runs } })
        engine = RemediationEngine(config: config, registry: registry, executor: executor, store: store, writer: writer, clock: clock, logger: testLogger)
    }

    /// The writer's loop runs for the life of the scenario, as in the daemon's history ring.
    func start() async {
        Task { [writer] in await writer.run() }
        await engine.restore()
    }

    /// One scheduled run of `job`, recorded and observed; waits for any remediation it causes.
    @discardableResult
    func tick(_ job: String, after gap: Duration = .seconds(60)) async throws -> StoredRun {
        clock.advance(by: gap)
        let definition = try #require(config.job(named: job))
        let run = await loop.run(definition, plugin: registry.lookup(definition.plugin)!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        let id = try #require(try store.insert([run]).first)
        let stored = StoredRun(id: id, record: run)
        await engine.observe([ObservedRun(stored)])
        await engine.waitUntilIdle()
        return stored
    }

    func remediations() throws -> [RemediationRecord] {
        try store.remediations(limit: 1000).reversed()
    }

    func executed() throws -> [RemediationRecord] { try remediations().filter { $0.outcome != .suppressed } }
    func suppressed() throws -> [RemediationRecord] { try remediations().filter { $0.outcome == .suppressed } }
}

@Suite("remediation scenarios")
struct RemediationScenarioTests {
    static let web = """
        jobs:
          - name: web
            plugin: health
            every: 1m
            params: {service: web}
        """

    @Test func threeConsecutiveFailuresRunExactlyOneRemediationThatIsVerified() async throws {
        let scenario = try Scenario(Self.web + """

            rules:
              - name: restart-web
                when: {job: web, consecutive_failures: 3}
                then:
                  - plugin: notify
                  - plugin: repair
                    params: {service: "{{ job.params.service }}"}
                verify_after: 10s
            """)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        let first = try await scenario.tick("web")
        let second = try await scenario.tick("web")
        #expect(try scenario.remediations().isEmpty)
        let third = try await scenario.tick("web")
        let records = try scenario.remediations()
        #expect(records.count == 1)
        let record = try #require(records.first)
        #expect(record.outcome == .ok && record.step == 1 && record.plugin == "repair")
        #expect(record.triggerRuns == [first.id, second.id, third.id])
        #expect(record.parameters == ["service": "web"])
        #expect(record.verification == .passed)
        #expect(record.context?.arrayValue?.first?["plugin"] == "notify")
        // The verification is a recorded run of the job, 10 s after the remediation.
        let verificationID = try #require(record.verificationRunID)
        let recordID = try #require(record.id)
        let verification = try #require(try scenario.store.runs(ids: [verificationID]).first)
        #expect(verification.record.trigger == .verification(of: recordID))
        #expect(verification.record.status == .ok)
        // It reached the database through the writer, as every run does.
        #expect(scenario.written.runs.withLock { $0.map(\.id) } == [verificationID])
        #expect(scenario.clock.sleeps.contains(.seconds(10)))
        #expect(scenario.services.calls("repair") == 1)
        // Fixed: the next runs pass and nothing else happens.
        try await scenario.tick("web")
        #expect(try scenario.remediations().count == 1)
        #expect(await scenario.engine.consecutiveFailures(of: "web") == 0)
    }

    @Test func cooldownIsRespected() async throws {
        let scenario = try Scenario(Self.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
                cooldown: 10m
            """)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")                       // t = 1m: remediation
        try await scenario.tick("web", after: .seconds(60))   // t = 2m: cooldown
        try await scenario.tick("web", after: .seconds(300))   // t = 7m: cooldown
        try await scenario.tick("web", after: .seconds(300))   // t = 12m: remediation again
        #expect(try scenario.remediations().map(\.outcome) == [.ok, .suppressed, .suppressed, .ok])
        let reason = try #require(try scenario.suppressed().first?.suppressedReason)
        #expect(reason.hasPrefix("cooldown: 9m left of 10m"))
        #expect(scenario.services.calls("poke") == 2)
    }

    @Test func aSpentBudgetSuppressesAndNotifiesOnce() async throws {
        let scenario = try Scenario(Self.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
                budget: 3 per 1h
                on_exhausted: {plugin: notify}
            """)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        for _ in 0..<5 { try await scenario.tick("web", after: .seconds(300)) }
        #expect(try scenario.remediations().map(\.outcome) == [.ok, .ok, .ok, .suppressed, .suppressed])
        #expect(try scenario.suppressed().allSatisfy { $0.suppressedReason == "budget exhausted: 3 of 3 per 1h used" })
        try await Task.sleep(for: .milliseconds(100))  // on_exhausted runs detached
        #expect(scenario.services.calls("notify") == 1)
        #expect(scenario.services.calls("poke") == 3)
        #expect(try scenario.suppressed().first?.state["budget"]?["used"] == 3)
        // An hour after the first use the window has room again.
        try await scenario.tick("web", after: .seconds(2400))
        #expect(try scenario.remediations().last?.outcome == .ok)
    }

    @Test func aFlappingJobIsNotRemediated() async throws {
        let scenario = try Scenario(Self.web + """

            rules:
              - name: poke-web
                when: {job: web, to: failing}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
                cooldown: 0s
                budget: unlimited
            """)
        await scenario.start()
        for index in 0..<24 {
            scenario.services.set("web", healthy: index % 2 == 0)
            try await scenario.tick("web")
        }
        #expect(await scenario.engine.isFlapping("web"))
        let suppressed = try scenario.suppressed()
        #expect(!suppressed.isEmpty)
        #expect(suppressed.allSatisfy { $0.suppressedReason?.hasPrefix("flapping: ") == true })
        // It did remediate before the flapping was recognised, and never after.
        let outcomes = try scenario.remediations().map(\.outcome)
        #expect(outcomes.first == .ok)
        #expect(outcomes.drop { $0 == .ok }.allSatisfy { $0 == .suppressed })
    }

    @Test func aFailingParentSuppressesTheChild() async throws {
        let scenario = try Scenario("""
            jobs:
              - {name: db, plugin: health, every: 1m, params: {service: db}}
              - {name: web, plugin: health, every: 1m, params: {service: web}, depends_on: [db]}
            rules:
              - name: repair-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: repair, params: {service: web}}]
            """)
        await scenario.start()
        scenario.services.set("db", healthy: false)
        scenario.services.set("web", healthy: false)
        try await scenario.tick("db")
        try await scenario.tick("web")
        let record = try #require(try scenario.remediations().first)
        #expect(record.outcome == .suppressed)
        #expect(record.suppressedReason == "parent failing: `db` (depends_on)")
        #expect(record.state["parents"]?["db"] == "failing")
        #expect(scenario.services.calls("repair") == 0)
        // The child keeps running and recording meanwhile.
        #expect(try scenario.store.history(HistoryQuery(job: "web")).count == 1)
    }

    @Test func aSilenceSuppressesAndChecksKeepRunning() async throws {
        let scenario = try Scenario(Self.web + """

            rules:
              - name: repair-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: repair, params: {service: web}}]
            """)
        await scenario.start()
        try scenario.store.addSilence(job: "we*", rule: nil, reason: "deploying", until: scenario.clock.now().addingTimeInterval(1800), now: scenario.clock.now())
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")
        let record = try #require(try scenario.remediations().first)
        #expect(record.suppressedReason?.hasPrefix("silenced: deploying (silence #1 until") == true)
        #expect(scenario.services.calls("repair") == 0)
        // After the silence ends, remediation resumes.
        try await scenario.tick("web", after: .seconds(1860))
        #expect(try scenario.remediations().last?.outcome == .ok)
    }

    @Test func aMaintenanceWindowSuppresses() async throws {
        let now = ManualClock().now()
        let formatter = ISO8601DateFormatter()
        let scenario = try Scenario(Self.web + """

            rules:
              - name: repair-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: repair, params: {service: web}}]
            maintenance:
              - {name: upgrade, jobs: [web], from: "\(formatter.string(from: now))", until: "\(formatter.string(from: now.addingTimeInterval(600)))"}
            """)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")
        #expect(try scenario.remediations().first?.suppressedReason == "maintenance window `upgrade`")
    }

    @Test func aFailedVerificationEscalatesToTheNextStep() async throws {
        let scenario = try Scenario(Self.web + """

            rules:
              - name: fix-web
                when: {job: web, consecutive_failures: 2}
                then:
                  - {plugin: poke, params: {service: web}}
                  - {plugin: repair, params: {service: web}}
                cooldown: 0s
                budget: unlimited
            """)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")
        try await scenario.tick("web")
        let records = try scenario.executed()
        #expect(records.map(\.step) == [1, 2])
        #expect(records.map(\.plugin) == ["poke", "repair"])
        #expect(records.map(\.verification) == [.failed, .passed])
        #expect(records[1].trigger.hasPrefix("escalation: step 1 did not fix the job"))
        // Verified and reset: a new incident starts again at step 1.
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")
        try await scenario.tick("web")
        #expect(try scenario.executed().map(\.step) == [1, 2, 1, 2])
    }

    @Test func aDryRunRecordsWhatWouldRunAndRunsNothing() async throws {
        let scenario = try Scenario(Self.web + """

            rules:
              - name: repair-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: repair, params: {service: "{{ job.params.service }}"}}]
                dry_run: true
            """)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")
        let record = try #require(try scenario.remediations().first)
        #expect(record.outcome == .dryRun && record.dryRun)
        #expect(record.plugin == "repair" && record.parameters == ["service": "web"])
        #expect(record.verification == .skipped)
        #expect(scenario.services.calls("repair") == 0)
        #expect(!scenario.services.isHealthy("web"))
    }

    @Test func expectConditionsFailRunsAndAreStored() async throws {
        let scenario = try Scenario("""
            jobs:
              - name: web
                plugin: health
                every: 1m
                params: {service: web}
                expect: ["data.status_code == 200", 'data.service in ["api", "db"]']
            """)
        await scenario.start()
        // The plugin succeeds, but the second condition does not hold: the run failed.
        let run = try await scenario.tick("web")
        #expect(run.record.status == .critical)
        #expect(run.record.error == #"expectation failed: data.service in ["api", "db"] (value: "web")"#)
        let stored = try #require(try scenario.store.history(HistoryQuery(job: "web")).first)
        #expect(stored.record.conditions.map(\.passed) == [true, false])
        #expect(stored.record.conditions.map(\.value) == [200, "web"])
    }

    @Test func countersAndBudgetSurviveARestart() async throws {
        let yaml = Self.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 2}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
                budget: 5 per 1d
                cooldown: 0s
            """
        let directory = try TemporaryDirectory()
        let before = try Scenario(yaml, directory: directory)
        await before.start()
        before.services.set("web", healthy: false)
        try await before.tick("web")
        try await before.tick("web")
        try await before.tick("web")
        #expect(await before.engine.consecutiveFailures(of: "web") == 3)
        #expect(await before.engine.budgetUsed(by: "poke-web") == 2)
        try before.store.close()

        let after = try Scenario(yaml, directory: directory)
        await after.start()
        #expect(await after.engine.consecutiveFailures(of: "web") == 3)
        #expect(await after.engine.budgetUsed(by: "poke-web") == 2)

        // A changed job starts fresh.
        let changed = try Scenario(yaml.replacingOccurrences(of: "every: 1m", with: "every: 2m"), directory: directory)
        await changed.start()
        #expect(await changed.engine.consecutiveFailures(of: "web") == 0)
        #expect(await changed.engine.budgetUsed(by: "poke-web") == 2)
    }

    /// The history is the one record of a job's state: runs the engine never observed (a
    /// manual `warden run-job` while no daemon ran) count once it starts.
    @Test func runsRecordedWithoutTheEngineCountAfterItStarts() async throws {
        let yaml = Self.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 3}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
                cooldown: 0s
            """
        let directory = try TemporaryDirectory()
        let cli = try Scenario(yaml, directory: directory)
        cli.services.set("web", healthy: false)
        let web = try #require(cli.config.job(named: "web"))
        for _ in 0..<2 {
            // What `warden run-job` does: run the job and store the run, no engine involved.
            let run = await cli.loop.run(web, plugin: cli.registry.lookup(web.plugin)!, trigger: .manual, scheduledAt: cli.clock.now(), nextTick: nil, logger: testLogger)
            _ = try cli.store.insert([run])
        }
        try cli.store.close()

        let daemon = try Scenario(yaml, directory: directory)
        await daemon.start()
        #expect(await daemon.engine.consecutiveFailures(of: "web") == 2)
        daemon.services.set("web", healthy: false)
        try await daemon.tick("web")
        #expect(try daemon.remediations().map(\.rule) == ["poke-web"], "the third failure in a row, counting the two manual runs")
    }
}
