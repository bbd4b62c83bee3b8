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

    /// tenacity 9.2's formulas, transcribed: `wait_exponential` is
    /// `max(max(0, min), min(multiplier * exp_base ** (n - 1), max))`, and
    /// `wait_random_exponential` is `uniform(min, that)`.
    static func tenacityExponential(attempt: Int, multiplier: Double, base: Double, min low: Double, max high: Double) -> Double {
        Swift.max(Swift.max(0, low), Swift.min(multiplier * pow(base, Double(attempt - 1)), high))
    }

    @Test(arguments: [(0.5, 2.0, 1.0, 10.0), (1.0, 3.0, 0.0, 60.0), (0.25, 2.0, 0.4, 2.0), (2.0, 1.5, 5.0, 5.0)])
    func exponentialWaitsEqualTenacitysExactly(_ multiplier: Double, _ base: Double, _ low: Double, _ high: Double) {
        let policy = RetryPolicy(attempts: 20, wait: .exponential, multiplier: .milliseconds(Int64(multiplier * 1000)),
                                 minimum: .milliseconds(Int64(low * 1000)), maximum: .milliseconds(Int64(high * 1000)), exponentBase: base)
        for attempt in 1...12 {
            let expected = Self.tenacityExponential(attempt: attempt, multiplier: multiplier, base: base, min: low, max: high)
            #expect(policy.waitAfter(attempt: attempt) == .milliseconds(Int64((expected * 1000).rounded())), "attempt \(attempt)")
        }
    }

    @Test func randomExponentialDrawsBetweenMinAndTheExponentialWait() {
        // The reference case: 15 of 40 waits were under `min` before.
        let policy = RetryPolicy(wait: .randomExponential, multiplier: .milliseconds(500), minimum: .milliseconds(400), maximum: .seconds(2))
        var lowest = Duration.seconds(60)
        var highest = Duration.zero
        for attempt in 1...5 {
            let high = Self.tenacityExponential(attempt: attempt, multiplier: 0.5, base: 2, min: 0.4, max: 2)
            for _ in 0..<1_000 {
                let wait = policy.waitAfter(attempt: attempt)
                #expect(wait >= .milliseconds(400) && wait <= .milliseconds(Int64(high * 1000)), "attempt \(attempt): \(wait)")
                lowest = min(lowest, wait)
                highest = max(highest, wait)
            }
        }
        #expect(lowest < .milliseconds(450) && highest > .milliseconds(1_900), "the draws cover the range: \(lowest) … \(highest)")
        #expect(policy.waitAfter(attempt: 3, unit: 0) == .milliseconds(400))
        #expect(policy.waitAfter(attempt: 3, unit: 1) == .seconds(2))
        // With `min: 0` it is AWS full jitter.
        let full = RetryPolicy(wait: .randomExponential, multiplier: .seconds(1), maximum: .seconds(30))
        #expect(full.waitAfter(attempt: 4, unit: 0) == .zero && full.waitAfter(attempt: 4, unit: 0.5) == .seconds(4))
    }

    /// tenacity on the same failing plugin: `fixed 1s` with `stop_before_delay(1.5)` makes 2
    /// attempts, with `stop_after_delay(1.5)` 3; `stop_before_delay(2)` stops at exactly 2 s.
    @Test(arguments: [
        (RetryPolicy(attempts: 10, maxDelay: .milliseconds(1_500), wait: .fixed, delay: .seconds(1)), 2),
        (RetryPolicy(attempts: 10, stopAfterDelay: .milliseconds(1_500), wait: .fixed, delay: .seconds(1)), 3),
        (RetryPolicy(attempts: 10, maxDelay: .seconds(2), wait: .fixed, delay: .seconds(1)), 2),
        (RetryPolicy(attempts: 10, stopAfterDelay: .seconds(2), wait: .fixed, delay: .seconds(1)), 3),
    ])
    func delayStopsAgreeWithTenacity(_ policy: RetryPolicy, _ attempts: Int) async throws {
        let probe = ProbePlugin(failures: 100)
        let registry = try makeRegistry([probe])
        let clock = ManualClock()
        let run = await loop(clock).run(job(policy), plugin: registry.lookup("probe")!, trigger: .schedule, scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        #expect(run.attempts.count == attempts)
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

    /// A first-try success is one attempt whose start and duration are the run's, so the
    /// store keeps it as the run row alone (`RunRecord.soleAttempt`).
    @Test func aFirstTrySuccessIsItsOwnAttempt() async throws {
        let registry = try makeRegistry([ProbePlugin()])
        let clock = ManualClock()
        let run = await loop(clock).run(job(RetryPolicy(attempts: 3)), plugin: registry.lookup("probe")!, trigger: .schedule,
                                        scheduledAt: clock.now(), nextTick: nil, logger: testLogger)
        #expect(run.status == .ok && run.attempts.count == 1)
        #expect(run.attempts.first?.startedAt == run.startedAt && run.attempts.first?.duration == run.duration)
        #expect(run.attemptIsTheRun)
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

    /// `isFailure` is a switch for speed and `RunStatus.failing` is derived from it: both name
    /// the four statuses streaks, flapping and `--status failing` count.
    @Test func isFailureAgreesWithTheFailingSet() {
        #expect(RunStatus.failing == [.warning, .critical, .unknown, .timeout])
        for status in RunStatus.allCases {
            #expect(status.isFailure == RunStatus.failing.contains(status), "\(status)")
        }
    }
}
