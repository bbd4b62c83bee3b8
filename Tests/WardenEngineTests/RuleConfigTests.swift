import Foundation
import Testing
import WardenPluginKit
@testable import WardenEngine

@Suite("rules in the config")
struct RuleConfigTests {
    let services = Services()

    func problems(_ text: String) throws -> [String] {
        let registry = try makeRegistry([
            HealthPlugin(services: services), RepairPlugin(name: "repair", services: services, works: true), NotifyPlugin(services: services),
        ])
        do {
            _ = try ConfigLoader(registry: registry, environment: [:]).load(text: text, file: "r.yaml")
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let jobs = """
        jobs:
          - {name: web, plugin: health, every: 1m, params: {service: web}}
          - {name: db, plugin: health, every: 1m, params: {service: db}}
        """

    @Test func aFullRuleLoads() throws {
        let registry = try makeRegistry([HealthPlugin(services: services), RepairPlugin(name: "repair", services: services, works: true), NotifyPlugin(services: services)])
        let config = try ConfigLoader(registry: registry, environment: [:]).load(text: Self.jobs + """

            rules:
              - name: fix
                when: {job: "w*", failures: 3, within: 10m}
                then:
                  - plugin: notify
                  - {plugin: repair, params: {service: "{{ job.params.service }}"}}
                  - {plugin: repair, params: {service: "{{ run.data.service }}"}, timeout: 5m}
                verify_after: 2s
                escalate_within: 30m
                cooldown: 5m
                budget: 3 per 1h
                on_exhausted: {plugin: notify}
                target: "{{ job.name }}"
            maintenance:
              - {name: nightly, jobs: [db], cron: "0 2 * * *", duration: 1h}
            """, file: "r.yaml")
        let rule = try #require(config.rules.first)
        #expect(rule.trigger == .failuresWithinTime(failures: 3, window: .seconds(600)))
        #expect(rule.levels.count == 2)
        #expect(rule.levels[0].context.map(\.plugin) == ["notify"])
        #expect(rule.levels[0].action.timeout == nil, "the job's timeout applies")
        #expect(rule.levels[1].action.timeout == .seconds(300))
        #expect(rule.budget == RemediationBudget(count: 3, window: .seconds(3600)))
        #expect(rule.applies(to: "web") && !rule.applies(to: "db"))
        let window = try #require(config.maintenance.first)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        let twoThirty = calendar.date(from: DateComponents(year: 2026, month: 11, day: 24, hour: 2, minute: 30))!
        #expect(window.isActive(at: twoThirty) && !window.isActive(at: twoThirty.addingTimeInterval(3600)))
        #expect(window.covers(job: "db", rule: "fix") && !window.covers(job: "web", rule: "fix"))
    }

    @Test func aStepTimeoutMustBeADuration() throws {
        let found = try problems(Self.jobs + """

            rules:
              - name: fix
                when: {job: web, consecutive_failures: 2}
                then:
                  - {plugin: repair, params: {service: web}, timeout: soon}
            """)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("r.yaml:8:") == true, "\(found)")
        #expect(found.first?.contains("step timeout") == true, "\(found)")
    }

    @Test func ruleMistakesAreReportedWithPositions() throws {
        let found = try problems(Self.jobs + """

            rules:
              - name: a
                when: {job: wev, consecutive_failures: 3}
                then: [{plugin: notify}]
              - name: b
                when: {job: web, consecutive_failures: 3, to: failing}
                then: [{plugin: repair, params: {service: web}}]
              - name: c
                when: {job: web, failures: 3}
                then: [{plugin: repair, params: {service: "{{ job.params.nope }}"}}]
                budget: three per hour
              - name: d
                when: {job: web, to: failing}
                then: [{plugin: repair, params: {service: "{{ jobs.name }}"}}]
                cooldwn: 5m
            """)
        #expect(found.contains { $0.hasPrefix("r.yaml:6:11: rule `a`: `when.job: wev` matches no job — did you mean `web`?") })
        #expect(found.contains { $0.hasPrefix("r.yaml:7:11: rule `a`: `then` must contain at least one remediation step") })
        #expect(found.contains { $0.hasPrefix("r.yaml:9:11: rule `b`: `when` needs exactly one trigger") })
        #expect(found.contains { $0.hasPrefix("r.yaml:12:11: rule `c`: `failures: 3` needs `within:`") })
        #expect(found.contains { $0.hasPrefix("r.yaml:13:37:") && $0.contains("for job `web`: template `{{ job.params.nope }}` does not resolve") })
        #expect(found.contains { $0.hasPrefix("r.yaml:14:13: rule `c`: budget: expected `N per DURATION`") })
        #expect(found.contains { $0.hasPrefix("r.yaml:17:37:") && $0.contains("unknown template reference `{{ jobs.name }}`") })
        #expect(found.contains("r.yaml:18:5: unknown key `cooldwn` in a rule — did you mean `cooldown`?"))
        // A step that is wrong is reported once, not again as "no remediation step".
        #expect(found.filter { $0.contains("must contain at least one remediation step") }.count == 1)
    }

    @Test func dependencyLoopsAndUnknownParentsAreErrors() throws {
        let found = try problems("""
            jobs:
              - {name: a, plugin: health, every: 1m, params: {service: a}, depends_on: [b]}
              - {name: b, plugin: health, every: 1m, params: {service: b}, depends_on: [c]}
              - {name: c, plugin: health, every: 1m, params: {service: c}, depends_on: [a]}
              - {name: d, plugin: health, every: 1m, params: {service: d}, depends_on: [x]}
            """)
        #expect(found.contains { $0.contains("depends_on loop: a → b → c → a") })
        #expect(found.filter { $0.contains("depends_on loop") }.count == 1)
        #expect(found.contains { $0.hasPrefix("r.yaml:5:5: job `d`: depends_on names unknown job `x`") })
    }

    @Test func expectSyntaxErrorsPointIntoTheCondition() throws {
        let found = try problems("""
            jobs:
              - name: web
                plugin: health
                every: 1m
                params: {service: web}
                expect:
                  - data.status_code = 200
                  - "len(data.items > 0"
            """)
        #expect(found.contains("r.yaml:7:26: job `web`: expect `data.status_code = 200`: `=` is not a comparison: use `==`"))
        #expect(found.contains { $0.hasPrefix("r.yaml:8:28: job `web`: expect `len(data.items > 0`: expected `)`") })
    }
}
