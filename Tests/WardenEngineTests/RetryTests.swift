import Foundation
import Testing
import WardenPluginKit
import WardenTestSupport
@testable import WardenEngine

@Suite("retry")
struct RetryTests {
    func job(_ retry: RetryPolicy, plugin: String = "probe", timeout: Duration = .seconds(5), params: JSONObject = [:], secrets: [String] = []) -> JobDefinition {
        JobDefinition(
            name: "flaky", plugin: plugin, description: nil, parameters: params, schedule: .every(.seconds(60)),
            jitter: .zero, timeout: timeout, retry: retry, enabled: true, secretValues: secrets, configHash: "h",
            location: ConfigLocation(file: "t", line: 1, column: 1)
        )
    }

    func loop(_ clock: ManualClock) -> AttemptLoop {
        AttemptLoop(executor: PluginExecutor(httpClient: sharedHTTPClient, logger: testLogger, environment: [:]), clock: clock)
    }

    @Test func exponentialWaitsFollowTenacity() {
        let policy = RetryPolicy(attempts: 10, wait: .exponential, multiplier: .milliseconds(500), minimum: .seconds(1), maximum: .seconds(10), exponentBase: 2)
        // max(min, min(multiplier * 2^(n-1), max)): 0.5→1 (min), 1, 2, 4, 8, 10 (max) …
        #expect((1...7).map { policy.waitAfter(attempt: $0) } == [.seconds(1), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
        #expect(policy.waitAfter(attempt: 5_000) == .seconds(10))  // saturates, no overflow
        let fixed = RetryPolicy(wait: .fixed, delay: .milliseconds(750))
        #expect(fixed.waitAfter(attempt: 1) == .milliseconds(750) && fixed.waitAfter(attempt: 9) == .milliseconds(750))
    }

    @Test func randomExponentialIsFullJitter() {
        let policy = RetryPolicy(wait: .randomExponential, multiplier: .seconds(1), maximum: .seconds(30))
        #expect(policy.waitAfter(attempt: 4, unit: 0) == .zero)
        #expect(policy.waitAfter(attempt: 4, unit: 0.5) == .seconds(4))
        for _ in 0..<200 {
            let wait = policy.waitAfter(attempt: 3)
            #expect(wait >= .zero && wait <= .seconds(4))
        }
    }

    @Test func retryOnSelectsOutcomes() {
        let flag = RetryPolicy(retryOn: [.retryFlag])
        #expect(flag.shouldRetry(.critical, retryFlag: true))
        #expect(!flag.shouldRetry(.critical, retryFlag: false))
        #expect(!flag.shouldRetry(.ok, retryFlag: true))
        let timeouts = RetryPolicy(retryOn: [.timeout])
        #expect(timeouts.shouldRetry(.timeout, retryFlag: false) && !timeouts.shouldRetry(.unknown, retryFlag: true))
        let errors = RetryPolicy(retryOn: [.error])
        #expect(errors.shouldRetry(.unknown, retryFlag: false) && !errors.shouldRetry(.critical, retryFlag: false))
        #expect(RetryPolicy(retryOn: [.unknown]).shouldRetry(.unknown, retryFlag: false))
        #expect(RetryPolicy(retryOn: [.failure]).shouldRetry(.critical, retryFlag: false))
        #expect(RetryPolicy(retryOn: [.failure]).shouldRetry(.warning, retryFlag: false))
        #expect(!RetryPolicy(retryOn: [.failure]).shouldRetry(.interrupted, retryFlag: true))
    }

    @Test func aFlakyPluginIsRetriedWithRecordedWaits() async throws {
        let probe = ProbePlugin(failures: 3)
        let registry = try makeRegistry([probe])
        let clock = ManualClock()
        let policy = RetryPolicy(attempts: 5, wait: .exponential, multiplier: .seconds(2), maximum: .seconds(60))
        let run = await loop(clock).run(job(policy), plugin: registry.lookup("probe")!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        #expect(run.status == .ok)
        #expect(run.attempts.map(\.outcome) == [.critical, .critical, .critical, .ok])
        #expect(clock.sleeps == [.seconds(2), .seconds(4), .seconds(8)])
        #expect(run.attempts.map(\.wait) == [.zero, .seconds(2), .seconds(4), .seconds(8)])
        #expect(run.attempts.map(\.number) == [1, 2, 3, 4])
        #expect(run.message == "probe ok 4")
    }

    @Test func attemptsStopAtTheLimitAndTheLastOutcomeWins() async throws {
        let probe = ProbePlugin(failures: 10)
        let registry = try makeRegistry([probe])
        let clock = ManualClock()
        let run = await loop(clock).run(job(RetryPolicy(attempts: 3)), plugin: registry.lookup("probe")!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        #expect(run.status == .critical && run.attempts.count == 3 && probe.calls == 3)
        #expect(run.error == "probe failure 3")
    }

    @Test func retriesNeverRunPastTheNextTick() async throws {
        let probe = ProbePlugin(failures: 10)
        let registry = try makeRegistry([probe])
        let clock = ManualClock()
        let policy = RetryPolicy(attempts: 10, wait: .exponential, multiplier: .seconds(4), maximum: .seconds(100))
        // Waits would be 4, 8, 16, 32 …: with the next tick 30 s away only 4 + 8 fit (12 s; +16 = 28 s
        // fits too), 28 + 32 does not.
        let nextTick = clock.now().addingTimeInterval(30)
        let run = await loop(clock).run(job(policy), plugin: registry.lookup("probe")!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nextTick, logger: testLogger)
        #expect(clock.sleeps == [.seconds(4), .seconds(8), .seconds(16)])
        #expect(run.attempts.count == 4)
        #expect(clock.now() < nextTick)
    }

    @Test func maxDelayStopsRetrying() async throws {
        let probe = ProbePlugin(failures: 10)
        let registry = try makeRegistry([probe])
        let clock = ManualClock()
        let policy = RetryPolicy(attempts: 10, maxDelay: .seconds(10), wait: .fixed, delay: .seconds(3))
        let run = await loop(clock).run(job(policy), plugin: registry.lookup("probe")!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        // Attempts start at 0, 3, 6, 9 s; the next one (12 s) would pass max_delay.
        #expect(run.attempts.count == 4)
        #expect(clock.sleeps == [.seconds(3), .seconds(3), .seconds(3)])
    }

    @Test func nonTransientFailuresAreNotRetriedByDefault() async throws {
        let registry = try makeRegistry([])
        let clock = ManualClock()
        // A refused port is transient (retry: true); a 404 is not.
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let notFound = job(RetryPolicy(attempts: 3), plugin: "service_status", params: ["service_url": .string("\(server.baseURL)/status/404"), "expected_status": 200, "timeout": 2])
        let run = await loop(clock).run(notFound, plugin: registry.lookup("service_status")!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        #expect(run.status == .critical && run.attempts.count == 1 && clock.sleeps.isEmpty)
    }

    @Test func resolvedSecretsAreScrubbedFromResults() async throws {
        let probe = ProbePlugin()
        let registry = try makeRegistry([probe])
        let clock = ManualClock()
        // `tag` is not a writeOnly parameter, but its value came from `${env:…}`: only the
        // resolved-secret scrubbing can hide it.
        let run = await loop(clock).run(
            job(RetryPolicy.none, params: ["tag": "tok-123"], secrets: ["tok-123"]),
            plugin: registry.lookup("probe")!, trigger: .manual, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        #expect(run.data["tag"] == .string("***"))
        #expect(run.message == "probe ok 1 ***")
    }
}
