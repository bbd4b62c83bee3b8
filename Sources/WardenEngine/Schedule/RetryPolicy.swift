import Foundation
import WardenPluginKit

/// How a failed run is retried, with tenacity's semantics and names.
///
/// `attempts` is `stop_after_attempt` (the first try counts); `maxDelay` is
/// `stop_before_delay` (no wait begins that would end at or past it, counted from the first
/// attempt's start); `stopAfterDelay` is `stop_after_delay` (no wait begins once that much
/// time has passed since the first attempt's start); `wait` is `wait_fixed`,
/// `wait_exponential` or `wait_random_exponential`; `retryOn` says which outcomes are worth
/// another attempt.
public struct RetryPolicy: Sendable, Hashable {
    public enum Wait: String, Sendable, Hashable, CaseIterable {
        case fixed
        case exponential
        case randomExponential = "random_exponential"
    }

    /// Which attempt outcomes are retried.
    public enum Condition: String, Sendable, Hashable, CaseIterable {
        /// Any unsuccessful attempt.
        case failure
        /// Only when the result says `retry: true` (a transient problem; timeouts say so too).
        case retryFlag = "retry_flag"
        /// Any attempt that ran out of time.
        case timeout
        /// Any `unknown` attempt: the plugin threw, crashed or gave no usable result.
        case unknown
        /// The older name of `unknown`.
        case error
    }

    public var attempts: Int
    public var maxDelay: Duration?
    public var stopAfterDelay: Duration?
    public var wait: Wait
    /// `wait: fixed`: the wait between attempts.
    public var delay: Duration
    public var multiplier: Duration
    public var minimum: Duration
    public var maximum: Duration
    public var exponentBase: Double
    public var retryOn: Set<Condition>

    /// No retry: one attempt per run.
    public static let none = RetryPolicy(attempts: 1)

    public init(
        attempts: Int = 3,
        maxDelay: Duration? = nil,
        stopAfterDelay: Duration? = nil,
        wait: Wait = .exponential,
        delay: Duration = .seconds(1),
        multiplier: Duration = .seconds(1),
        minimum: Duration = .zero,
        maximum: Duration = .seconds(60),
        exponentBase: Double = 2,
        retryOn: Set<Condition> = [.retryFlag]
    ) {
        self.attempts = attempts
        self.maxDelay = maxDelay
        self.stopAfterDelay = stopAfterDelay
        self.wait = wait
        self.delay = delay
        self.multiplier = multiplier
        self.minimum = minimum
        self.maximum = maximum
        self.exponentBase = exponentBase
        self.retryOn = retryOn
    }

    /// Whether an attempt that ended this way is worth retrying at all.
    public func shouldRetry(_ outcome: AttemptOutcome, retryFlag: Bool) -> Bool {
        switch outcome {
        case .ok, .interrupted: return false
        case .warning, .critical, .unknown, .timeout:
            if retryOn.contains(.failure) { return true }
            if retryOn.contains(.retryFlag) && retryFlag { return true }
            if retryOn.contains(.timeout) && outcome == .timeout { return true }
            // `error` predates the severities: an attempt whose plugin threw or crashed is `unknown`.
            if (retryOn.contains(.error) || retryOn.contains(.unknown)) && outcome == .unknown { return true }
            return false
        }
    }

    /// The wait before the next attempt, after attempt number `attempt` (1-based) failed.
    /// `unit` is a uniform random number in [0, 1) for `random_exponential`.
    public func waitAfter(attempt: Int, unit: Double = .random(in: 0..<1)) -> Duration {
        switch wait {
        case .fixed:
            return delay
        case .exponential:
            return exponential(attempt)
        case .randomExponential:
            // tenacity's wait_random_exponential: uniform in [min, the exponential wait].
            let low = minimum.seconds
            let high = exponential(attempt).seconds
            return .milliseconds(Int64(((low + (high - low) * max(0, min(unit, 1))) * 1000).rounded()))
        }
    }

    /// Whether to stop instead of waiting `next` (tenacity's stop conditions):
    /// `elapsed` is the time from the first attempt's start to the end of the last one.
    public func stops(elapsed: Duration, next: Duration) -> StopReason? {
        if let stopAfterDelay, elapsed >= stopAfterDelay { return .stopAfterDelay }
        if let maxDelay, elapsed + next >= maxDelay { return .maxDelay }
        return nil
    }

    public enum StopReason: String, Sendable {
        case maxDelay = "max_delay"
        case stopAfterDelay = "stop_after_delay"
    }

    /// `max(min, min(multiplier · base^(attempt-1), max))`, computed in seconds so a large
    /// exponent saturates at `max` instead of overflowing.
    private func exponential(_ attempt: Int) -> Duration {
        let raw = multiplier.seconds * pow(exponentBase, Double(max(0, attempt - 1)))
        let capped = raw.isFinite ? min(raw, maximum.seconds) : maximum.seconds
        return .milliseconds(Int64((max(minimum.seconds, capped) * 1000).rounded()))
    }
}

/// How one attempt ended: `ok`, the result's severity (`warning`, `critical`, `unknown`: a
/// plugin that threw or crashed could not tell), `timeout`, or `interrupted` (shutdown).
public enum AttemptOutcome: String, Sendable, Hashable, Codable {
    case ok, warning, critical, unknown, timeout, interrupted

    public init(_ severity: Severity) {
        self = AttemptOutcome(rawValue: severity.rawValue)!
    }
}

/// How a run ended: its last attempt's outcome, or skipped before any attempt. One
/// vocabulary for the history, the CLI, the views and the docs.
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case ok, warning, critical, unknown, timeout, skipped, interrupted

    public init(_ outcome: AttemptOutcome) {
        self = RunStatus(rawValue: outcome.rawValue)!
    }

    /// What rules trigger on unless their `on:` says otherwise.
    public static let defaultTrigger: Set<RunStatus> = [.critical, .timeout, .unknown]
    /// Everything a check can end with that is not `ok`: `--status failing`, streaks, flapping.
    public static let failing = Set(allCases.filter(\.isFailure))

    /// Not ok (warning, critical, unknown, timeout): what streaks and flapping count. A
    /// switch, not `failing.contains`: flap detection asks it 21 times for every run, and
    /// hashing the raw string each time was 2 % of a check's instructions.
    public var isFailure: Bool {
        switch self {
        case .warning, .critical, .unknown, .timeout: return true
        case .ok, .skipped, .interrupted: return false
        }
    }

    /// Ok or a failure: a check that ran to its end, neither skipped nor interrupted by
    /// shutdown. What a job's state, its metrics' state and durations follow.
    public var isOutcome: Bool {
        self == .ok || isFailure
    }
}
