import Foundation
import Testing
import WardenPluginKit
@testable import WardenEngine

@Suite("config loader")
struct ConfigLoaderTests {
    let registry: PluginRegistry
    let remediation = ProbePlugin(name: "restart_thing", category: .remediation)

    init() throws {
        registry = try makeRegistry([ProbePlugin(), remediation])
    }

    func load(_ text: String, environment: [String: String] = [:]) throws(ConfigError) -> WardenConfig {
        try ConfigLoader(registry: registry, environment: environment).load(text: text, file: "test.yaml")
    }

    func problems(_ text: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try load(text, environment: environment)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func aValidConfigLoadsWithDefaultsApplied() throws {
        let config = try load("""
            daemon:
              database: var/history.db
              max_concurrency: 4
              retention: 7d
            jobs:
              - name: web
                plugin: service_status
                every: 30s
                jitter: 2s
                timeout: 5s
                retry: {attempts: 4, wait: random_exponential, multiplier: 500ms, max: 8s, max_delay: 20s, stop_after_delay: 15s, retry_on: [failure, timeout]}
                params: {service_url: "http://127.0.0.1:8080/health"}
              - name: nightly
                plugin: probe
                cron: "30 2 * * mon-fri"
                enabled: false
            """)
        #expect(config.daemon.maxConcurrency == 4)
        #expect(config.daemon.retention == .seconds(7 * 86_400))
        #expect(config.daemon.database.hasSuffix("/var/history.db") && config.daemon.database.hasPrefix("/"))
        let web = try #require(config.job(named: "web"))
        #expect(web.schedule == .every(.seconds(30)))
        #expect(web.jitter == .seconds(2) && web.timeout == .seconds(5))
        #expect(web.retry.attempts == 4 && web.retry.wait == .randomExponential)
        #expect(web.retry.multiplier == .milliseconds(500) && web.retry.maximum == .seconds(8))
        #expect(web.retry.retryOn == [.failure, .timeout])
        #expect(web.retry.maxDelay == .seconds(20) && web.retry.stopAfterDelay == .seconds(15))
        // Schema defaults are applied at load time.
        #expect(web.parameters["expected_status"] == .int(200))
        #expect(web.parameters["timeout"] == .int(5))
        let nightly = try #require(config.job(named: "nightly"))
        #expect(!nightly.enabled && nightly.timeout == .seconds(30) && nightly.retry.attempts == 1)
        #expect(web.configHash != nightly.configHash && web.configHash.count == 16)
    }

    @Test func everyProblemIsReportedInOnePassWithItsPosition() {
        let found = problems("""
            jobs:
              - name: a
                plugin: probe
                every: 10s
                timout: 5s
              - name: b
                plugin: probe
                every: soon
              - name: Bad Name
                plugin: restart_thing
                every: 1m
              - name: d
                plugin: prob
                cron: "* * *"
              - name: a
                plugin: probe
                every: 1s
            """)
        #expect(found.contains("test.yaml:5:5: unknown key `timout` in a job — did you mean `timeout`?"))
        #expect(found.contains { $0.hasPrefix("test.yaml:8:12: job `b`: every: invalid duration `soon`") })
        #expect(found.contains { $0.hasPrefix("test.yaml:9:11: invalid job name `Bad Name`") })
        #expect(found.contains { $0.hasPrefix("test.yaml:10:13:") && $0.contains("`restart_thing` is a remediation plugin; jobs may only run diagnostic plugins") })
        #expect(found.contains { $0.hasPrefix("test.yaml:13:13: job `d`: unknown plugin `prob` — did you mean `probe`?") })
        #expect(found.contains { $0.hasPrefix("test.yaml:14:11: job `d`: invalid cron expression") })
        #expect(found.contains { $0.hasPrefix("test.yaml:15:5: duplicate job name `a`: already defined at test.yaml:2:5") })
        #expect(found.count == 7)
    }

    @Test func parameterErrorsNameTheParameterAndPointAtIt() {
        let found = problems("""
            jobs:
              - name: web
                plugin: service_status
                every: 30s
                params:
                  timeout: "slow"
                  expected_status: [200, "ok"]
            """)
        #expect(found.contains("test.yaml:6:7: job `web`: parameter `service_url`: required parameter is missing"))
        #expect(found.contains { $0.hasPrefix("test.yaml:6:16: job `web`: parameter `timeout`: invalid duration `slow`") })
        #expect(found.contains { $0.hasPrefix("test.yaml:7:30: job `web`: parameter `expected_status.1`") })
    }

    @Test func structuralMistakesAreProblemsNotCrashes() {
        #expect(problems("") == ["test.yaml:1:1: the config is empty: expected a mapping with `daemon:` and `jobs:`"])
        #expect(problems("jobs: {a: 1}").first?.contains("`jobs` must be a list") == true)
        #expect(problems("- 1\n- 2").first?.contains("the config must be a mapping") == true)
        #expect(problems("jobs:\n  - name: x\n    plugin: probe\n    every: 1s\n    cron: '* * * * *'").first?.contains("both `every` and `cron`") == true)
        #expect(problems("jobs:\n  - name: x\n    plugin: probe").first?.contains("needs a schedule") == true)
        #expect(problems("jobs:\n  - name: x\n    plugin: probe\n    every: 10s\n    jitter: 20s").first?.contains("jitter 20s must be shorter") == true)
        #expect(problems("daemon:\n  max_concurrency: 0\n  log_level: loud").count == 2)
        #expect(problems("jobs:\n  - name: x\n    plugin: probe\n    every: 1s\n    retry: {attempts: 3, min: 10s, max: 1s}").first?.contains("retry.min") == true)
    }

    @Test func yamlSyntaxErrorsAndDuplicateKeysCarryTheirPosition() {
        let syntax = problems("jobs:\n  - name: x\n    plugin: [probe\n")
        #expect(syntax.count == 1 && syntax[0].hasPrefix("test.yaml:4:") && syntax[0].contains("invalid YAML"))
        let duplicate = problems("jobs:\n  - name: x\n    name: y\n    plugin: probe\n    every: 1s\n")
        #expect(duplicate.count == 1 && duplicate[0].contains("duplicate key `name`"))
    }

    @Test func secretsResolveFromEnvironmentAndFilesAndStayOutOfTheHash() throws {
        let directory = try TemporaryDirectory()
        let secretFile = try directory.write("token", "file-secret-42\n")
        let text = """
            jobs:
              - name: a
                plugin: probe
                every: 1m
                params: {token: "${env:PROBE_TOKEN}", tag: "Bearer ${file:\(secretFile)}"}
            """
        let config = try load(text, environment: ["PROBE_TOKEN": "env-secret-17"])
        let job = try #require(config.job(named: "a"))
        #expect(job.parameters["token"] == .string("env-secret-17"))
        #expect(job.parameters["tag"] == .string("Bearer file-secret-42"))
        #expect(Set(job.secretValues) == ["env-secret-17", "file-secret-42"])
        // Rotating the secret does not change what the hash covers: the unresolved text.
        let rotated = try load(text, environment: ["PROBE_TOKEN": "rotated"])
        #expect(rotated.job(named: "a")?.configHash == job.configHash)
    }

    @Test func aMissingSecretNamesTheJobAndKey() {
        let found = problems("""
            jobs:
              - name: api
                plugin: probe
                every: 1m
                params: {token: "${env:MISSING_TOKEN}", tag: "${file:/nonexistent/secret}"}
            """)
        #expect(found.contains("test.yaml:5:21: job `api`: params.token: environment variable `MISSING_TOKEN` (from `${env:MISSING_TOKEN}`) is not set"))
        #expect(found.contains { $0.hasPrefix("test.yaml:5:50: job `api`: params.tag: cannot read secret file `/nonexistent/secret`") })
    }

    @Test func secretValuesNeverAppearInProblems() {
        // A resolved secret that fails validation is reported without its value.
        let found = problems("""
            jobs:
              - name: web
                plugin: service_status
                every: 30s
                params: {service_url: "${env:URL_WITH_TOKEN}", timeout: -1}
            """, environment: ["URL_WITH_TOKEN": "notaurl-s3cr3t"])
        #expect(!found.isEmpty)
        #expect(!found.joined().contains("s3cr3t"))
    }

    @Test func noInputCrashesTheLoader() throws {
        let valid = """
            daemon: {max_concurrency: 2, retention: 1d}
            jobs:
              - name: web
                plugin: service_status
                every: 30s
                retry: {attempts: 2, wait: fixed, delay: 1s}
                params: {service_url: "http://127.0.0.1/", expected_status: [200, 204]}
            """
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(" :-[]{}\"'#&*!|>%@`,?\n\t\\x0aé\u{0}")
        for _ in 0..<2_000 {
            var characters = Array(valid)
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let index = Int.random(in: 0..<characters.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: characters[index] = alphabet.randomElement(using: &generator)!
                case 1: characters.remove(at: index)
                default: characters.insert(alphabet.randomElement(using: &generator)!, at: index)
                }
            }
            _ = try? load(String(characters))
        }
    }
}
