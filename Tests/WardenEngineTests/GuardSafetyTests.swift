import Foundation
import Synchronization
import Testing
import WardenPluginKit
import WardenTestSupport
@testable import WardenEngine

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Scenario {
    func load(_ yaml: String) throws -> WardenConfig {
        try ConfigLoader(registry: registry, environment: [:]).load(text: yaml, file: "scenario.yaml")
    }

    /// A failing run of `job`, stored while the database takes writes, then held back to be
    /// observed later (so that a fault can be put in place in between).
    func storedFailingRun(_ job: String) async throws -> StoredRun {
        clock.advance(by: .seconds(60))
        let definition = try #require(config.job(named: job))
        let run = await loop.run(definition, plugin: registry.lookup(definition.plugin)!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        let id = try #require(try store.insert([run]).first)
        return StoredRun(id: id, record: run)
    }
}

@Suite("remediation guards fail closed", .serialized)
struct GuardSafetyTests {
    static let rule = RemediationScenarioTests.web + """

        rules:
          - name: repair-web
            when: {job: web, consecutive_failures: 1}
            then: [{plugin: repair, params: {service: web}}]
            verify: false
            cooldown: 0s
            budget: unlimited
        """

    @Test func aLockedDatabaseRefusesTheRemediationAndRecordsItOnceWritable() async throws {
        let scenario = try Scenario(Self.rule, busyTimeout: 0.3)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        let run = try await scenario.storedFailingRun("web")
        // Another process holds the write lock: guards can be read (WAL), the audit row cannot
        // be written, so the remediation must not run.
        let holder = try SQLiteLockHolder(path: scenario.directory.file("history.db"))
        await scenario.engine.observe([ObservedRun(run)])
        await scenario.engine.waitUntilIdle()
        #expect(scenario.services.calls("repair") == 0)
        holder.release()
        #expect(try scenario.remediations().isEmpty)
        // The database is back: the refusal is on record at the next run, and the next
        // remediation runs normally.
        try await scenario.tick("web")
        let records = try scenario.remediations()
        let refusal = try #require(records.first)
        #expect(refusal.outcome == .suppressed)
        #expect(refusal.suppressedReason?.hasPrefix("guard state unavailable: cannot write the audit row") == true, "\(refusal.suppressedReason ?? "")")
        #expect(refusal.triggerRuns == [run.id])
        #expect(records.dropFirst().map(\.outcome) == [.ok])
        #expect(scenario.services.calls("repair") == 1)
    }

    @Test func unreadableGuardStateRefusesTheRemediation() async throws {
        let scenario = try Scenario(Self.rule, busyTimeout: 0.3)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        let run = try await scenario.storedFailingRun("web")
        // Another connection moves the silences away: they cannot be read, so whether the job
        // is silenced cannot be known.
        let mover = try SQLiteLockHolder(path: scenario.directory.file("history.db"), statements: ["ALTER TABLE silences RENAME TO silences_moved"], beginExclusive: false)
        mover.release()
        await scenario.engine.observe([ObservedRun(run)])
        await scenario.engine.waitUntilIdle()
        #expect(scenario.services.calls("repair") == 0)
        let refusal = try #require(try scenario.remediations().first)
        #expect(refusal.outcome == .suppressed)
        #expect(refusal.suppressedReason?.hasPrefix("guard state unavailable: ") == true)
        #expect(refusal.suppressedReason?.contains("silences") == true)
    }

    @Test func aReloadKeepsBudgetUseAndOnlyAResetRefundsIt() async throws {
        let yaml = RemediationScenarioTests.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
                cooldown: 10s
                budget: 2 per 1h
            """
        let scenario = try Scenario(yaml)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")
        try await scenario.tick("web")
        #expect(scenario.services.calls("poke") == 2)
        // Editing the cooldown (a new config hash) and reloading refunds nothing.
        await scenario.engine.apply(try scenario.load(yaml.replacingOccurrences(of: "cooldown: 10s", with: "cooldown: 12s")), registry: scenario.registry)
        try await scenario.tick("web")
        try await scenario.tick("web")
        #expect(scenario.services.calls("poke") == 2)
        #expect(try scenario.remediations().suffix(2).allSatisfy { $0.suppressedReason == "budget exhausted: 2 of 2 per 1h used" })
        // A wider budget applies to the same history.
        await scenario.engine.apply(try scenario.load(yaml.replacingOccurrences(of: "2 per 1h", with: "3 per 1h")), registry: scenario.registry)
        try await scenario.tick("web")
        #expect(scenario.services.calls("poke") == 3)
        try await scenario.tick("web")
        #expect(scenario.services.calls("poke") == 3)
        // A reset is the way to start over; the next remediation shows it.
        let reset = try scenario.store.resetRule("poke-web", reason: "fixed the disk by hand", at: scenario.clock.now())
        try await scenario.tick("web")
        #expect(scenario.services.calls("poke") == 4)
        let last = try #require(try scenario.remediations().last)
        #expect(last.outcome == .ok)
        #expect(last.state["last_reset"]?["id"] == .int(Int(reset)))
        #expect(last.state["budget"]?["used"] == 0)
    }

    @Test func aRestartKeepsBudgetUseEvenIfTheRuleChanged() async throws {
        let directory = try TemporaryDirectory()
        let yaml = RemediationScenarioTests.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
                cooldown: 0s
                budget: 2 per 1h
            """
        let before = try Scenario(yaml, directory: directory)
        await before.start()
        before.services.set("web", healthy: false)
        try await before.tick("web")
        try await before.tick("web")
        #expect(before.services.calls("poke") == 2)
        try before.store.close()
        let after = try Scenario(yaml.replacingOccurrences(of: "verify: false", with: "verify: false\n    verify_after: 1s"), directory: directory)
        await after.start()
        after.clock.advance(by: .seconds(120))
        after.services.set("web", healthy: false)
        try await after.tick("web")
        #expect(after.services.calls("poke") == 0)
        #expect(try after.remediations().last?.suppressedReason == "budget exhausted: 2 of 2 per 1h used")
    }

    @Test func aRuleWithoutCooldownOrBudgetGetsSafeDefaults() async throws {
        let scenario = try Scenario(RemediationScenarioTests.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: poke, params: {service: web}}]
                verify: false
            """)
        let rule = try #require(scenario.config.rules.first)
        #expect(rule.cooldown == .seconds(300))
        #expect(rule.budget == RemediationBudget(count: 3, window: .seconds(3600)))
        #expect(scenario.config.warnings.isEmpty)
        await scenario.start()
        scenario.services.set("web", healthy: false)
        // Failing every 10 s for 6 runs: one remediation, the rest held by the cooldown.
        for _ in 0..<6 { try await scenario.tick("web", after: .seconds(10)) }
        #expect(scenario.services.calls("poke") == 1)
        #expect(try scenario.suppressed().allSatisfy { $0.suppressedReason?.hasPrefix("cooldown: ") == true })
    }

    @Test func explicitOptOutsLoadWithWarnings() throws {
        let registry = try makeRegistry([RepairPlugin(name: "poke", services: Services(), works: false), HealthPlugin(services: Services())])
        let config = try ConfigLoader(registry: registry, environment: [:]).load(text: RemediationScenarioTests.web + """

            rules:
              - name: poke-web
                when: {job: web, consecutive_failures: 1}
                then: [{plugin: poke, params: {service: web}}]
                cooldown: 0s
                budget: unlimited
            """, file: "w.yaml")
        let rule = try #require(config.rules.first)
        #expect(rule.cooldown == .zero && rule.budget == nil)
        #expect(config.warnings.map(\.location.line) == [10, 11])
        #expect(config.warnings[0].message.contains("cooldown: 0s"))
        #expect(config.warnings[1].message.contains("budget: unlimited"))
    }
}

@Suite("allow-lists at load time")
struct AllowListConfigTests {
    func load(_ yaml: String) throws -> Result<WardenConfig, ConfigError> {
        let registry = try makeRegistry()
        do { return .success(try ConfigLoader(registry: registry, environment: [:]).load(text: yaml, file: "w.yaml")) } catch { return .failure(error) }
    }

    static let job = """
        jobs:
          - {name: web, plugin: load_average, every: 1m, params: {max_per_core_1m: 4}}
        """

    @Test func aStaticUnitOutsideAllowedUnitsIsAPositionedError() throws {
        let yaml = """
            daemon:
              allowed_units: [nginx.service]
            \(Self.job)
            rules:
              - name: restart
                when: {job: web, consecutive_failures: 3}
                then:
                  - plugin: systemd_restart_unit
                    params: {unit: postgresql.service}
            """
        guard case .failure(let error) = try load(yaml) else { Issue.record("loaded"); return }
        let problem = try #require(error.problems.first)
        #expect(problem.location.line == 10 && problem.location.column == 24, "\(problem)")
        #expect(problem.message.contains("`postgresql.service` is not allowed (daemon.allowed_units: nginx.service)"))
        // The unit in the list loads.
        guard case .success = try load(yaml.replacingOccurrences(of: "postgresql.service", with: "nginx.service")) else { Issue.record("refused"); return }
    }

    @Test func anEmptyAllowListRefusesEveryStaticUnitAndProgram() throws {
        let yaml = """
            \(Self.job)
            rules:
              - name: restart
                when: {job: web, consecutive_failures: 3}
                then:
                  - plugin: shell.exec
                    params: {command: /usr/bin/ss}
                  - plugin: shell.exec_write
                    params: {command: /usr/bin/systemctl, args: [restart, nginx]}
                  - plugin: systemd_restart_unit
                    params: {unit: nginx.service}
            """
        guard case .failure(let error) = try load(yaml) else { Issue.record("loaded"); return }
        let messages = error.problems.map(\.message)
        #expect(messages.contains { $0.contains("daemon.shell_allow is empty") })
        #expect(messages.contains { $0.contains("daemon.shell_write_allow is empty") })
        #expect(messages.contains { $0.contains("daemon.allowed_units is empty") })
        #expect(error.problems.allSatisfy { $0.location.line > 1 })
    }

    @Test func aTemplatedUnitIsAWarningNamingTheStep() throws {
        let yaml = """
            daemon: {allowed_units: [nginx.service]}
            \(Self.job)
            rules:
              - name: restart
                when: {job: web, consecutive_failures: 3}
                then:
                  - plugin: systemd_restart_unit
                    params: {unit: "{{ run.data.unit }}"}
            """
        guard case .success(let config) = try load(yaml) else { Issue.record("refused"); return }
        let warning = try #require(config.warnings.first)
        #expect(warning.location.line == 8)
        #expect(warning.message.contains("systemd_restart_unit") && warning.message.contains("daemon.allowed_units"))
    }
}

@Suite("concurrency limiter resize")
struct LimiterResizeTests {
    @Test func wideningAdmitsWaitersAndNarrowingHoldsNewOnes() async throws {
        let limiter = ConcurrencyLimiter(maxConcurrent: 1, maxQueue: 10)
        #expect(await limiter.acquire() == .granted)
        let waiter = Task { await limiter.acquire() }
        #expect(await eventually { limiter.queued == 1 })
        limiter.resize(maxConcurrent: 2, maxQueue: 10)
        #expect(await waiter.value == .granted)
        #expect(limiter.running == 2)
        limiter.resize(maxConcurrent: 1, maxQueue: 0)
        // Over the new bound: a release does not hand the slot on; the queue is closed to newcomers.
        #expect(await limiter.acquire() == .queueFull)
        limiter.release()
        #expect(limiter.running == 1)
    }
}
