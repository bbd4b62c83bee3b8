import Foundation
import Testing
import WardenPluginKit
@testable import WardenEngine

/// Inputs that crashed or hung the loader (and with it a SIGHUP reload): each must now be a
/// positioned problem, in bounded time.
@Suite("hostile configs")
struct HostileConfigTests {
    func problems(_ yaml: String, environment: [String: String] = [:]) throws -> [ConfigProblem] {
        let registry = try makeRegistry()
        do {
            _ = try ConfigLoader(registry: registry, environment: environment).load(text: yaml, file: "h.yaml")
            return []
        } catch {
            return error.problems
        }
    }

    static func job(_ extra: String = "", every: String = "1m") -> String {
        """
        jobs:
          - name: load
            plugin: load_average
            every: \(every)
        \(extra)
        """
    }

    @Test(arguments: ["1e17", "99999999999999999999d", "1e400", ".inf", "-.inf", ".nan", "1e308s", "9e15"])
    func numbersThatDoNotFitAreProblems(_ value: String) throws {
        let found = try problems(Self.job(every: value))
        let problem = try #require(found.first, "\(value) loaded")
        #expect(problem.location.line == 4, "\(problem)")
        #expect(problem.message.contains("invalid duration") || problem.message.contains("expected"), "\(problem)")
    }

    @Test func hugeRuleDurationsAreProblems() throws {
        let found = try problems(Self.job() + """
            rules:
              - name: r
                when: {job: load, consecutive_failures: 1}
                then: [{plugin: http_request, params: {url: "http://127.0.0.1/"}}]
                verify_after: 1e308
            """)
        #expect(found.contains { $0.message.contains("verify_after") && $0.location.line == 9 })
    }

    @Test func aDiagnosticFollowedByAnInvalidRemediationIsAProblemNotACrash() throws {
        let found = try problems(Self.job() + """
            rules:
              - name: r
                when: {job: load, consecutive_failures: 1}
                then: [{plugin: load_average}, {plugin: http_request}]
            """)
        #expect(found.contains { $0.message.contains("http_request") && $0.location.line == 8 }, "\(found)")
    }

    @Test func deeplyNestedConditionsAreRefusedWithAPosition() throws {
        let deep = String(repeating: "(", count: 1_500) + "data.x == 1" + String(repeating: ")", count: 1_500)
        let nots = String(repeating: "not ", count: 5_000) + "data.ok"
        let wide = (0..<3_000).map { _ in "data.x == 1" }.joined(separator: " and ")
        for condition in [deep, nots, wide] {
            let found = try problems(Self.job("    expect: ['\(condition)']"))
            let problem = try #require(found.first)
            #expect(problem.location.line == 5)
            #expect(problem.message.contains("deeper than") || problem.message.contains("more than"), "\(problem.message.prefix(200))")
        }
    }

    @Test func aSecretFileThatIsAFIFOOrUnderProcIsRefusedAtOnce() throws {
        let directory = try TemporaryDirectory()
        let fifo = directory.file("secret.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        for path in [fifo, "/proc/kmsg", directory.path, "/dev/zero"] {
            let started = ContinuousClock.now
            let found = try problems(Self.job() + """
                  - name: web
                    plugin: service_status
                    every: 1m
                    params: {service_url: "http://127.0.0.1/", headers: {Authorization: "${file:\(path)}"}}
                """)
            #expect(ContinuousClock.now - started < .seconds(5), "\(path) blocked the loader")
            let problem = try #require(found.first, "\(path) loaded")
            #expect(problem.message.contains("cannot read secret file"), "\(problem)")
            #expect(problem.location.line == 8)
        }
    }

    @Test func aHugeNameIsRefusedAndNotEchoed() throws {
        let name = String(repeating: "a", count: 5_000_000)
        let found = try problems("""
            jobs:
              - name: \(name)
                plugin: load_average
                every: 1m
            """)
        let problem = try #require(found.first)
        #expect(problem.location.line == 2)
        #expect(problem.message.contains("at most 128 bytes"))
        #expect(problem.message.count < 400)
    }
}

@Suite("secrets in rule steps")
struct RuleStepSecretTests {
    @Test func aSecretUsedOnlyInARuleStepNeverReachesTheRecordOrTheMessages() async throws {
        let secret = "s3cr3t-only-in-the-step-\(UUID().uuidString)"
        let scenario = try Scenario(RemediationScenarioTests.web + """

            rules:
              - name: repair-web
                when: {job: web, consecutive_failures: 1}
                then:
                  - {plugin: probe, params: {tag: "${env:STEP_TOKEN}", token: "${env:STEP_TOKEN}"}}
                  - {plugin: poke, params: {service: "${env:STEP_TOKEN}"}}
                verify: false
                cooldown: 0s
            """, environment: ["STEP_TOKEN": secret])
        await scenario.start()
        scenario.services.set("web", healthy: false)
        try await scenario.tick("web")
        let record = try #require(try scenario.executed().first)
        // The poke plugin echoes the service it was given; the probe echoes its token.
        let everything = [record.parameters?.jsonText(), record.context?.jsonText(), record.message, record.error, record.data?.jsonText(), record.state.jsonText()]
            .compactMap { $0 }.joined(separator: "\n")
        #expect(!everything.contains(secret), "\(everything)")
        #expect(everything.contains("***"))
        // Nor in the database files.
        try scenario.store.close()
        for suffix in ["", "-wal", "-shm"] {
            let data = (try? Data(contentsOf: URL(fileURLWithPath: scenario.directory.file("history.db" + suffix)))) ?? Data()
            #expect(data.range(of: Data(secret.utf8)) == nil, "history.db\(suffix) holds the secret")
        }
    }

    @Test func checkConfigNeverQuotesAStepSecret() throws {
        let secret = "not-a-number-\(UUID().uuidString)"
        let registry = try makeRegistry()
        do {
            _ = try ConfigLoader(registry: registry, environment: ["T": secret]).load(text: """
                daemon: {allowed_units: [a.service]}
                jobs:
                  - {name: load, plugin: load_average, every: 1m}
                rules:
                  - name: r
                    when: {job: load, consecutive_failures: 1}
                    then: [{plugin: systemd_restart_unit, params: {unit: a.service, timeout: "${env:T}"}}]
                """, file: "s.yaml")
            Issue.record("loaded")
        } catch {
            #expect(!error.description.contains(secret), "\(error.description)")
            #expect(error.description.contains("timeout"))
        }
    }
}
