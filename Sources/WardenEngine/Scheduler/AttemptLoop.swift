import Foundation
import Logging
import WardenPluginKit

/// Runs one job once: its attempts under the retry policy, each recorded.
///
/// Retries never outlive the run's window: an attempt starts only if its back-off ends
/// before the job's next tick, and its timeout is cut so that it cannot run past that tick.
public struct AttemptLoop: Sendable {
    public var executor: PluginExecutor
    public var clock: any RunClock

    public init(executor: PluginExecutor, clock: any RunClock = SystemRunClock()) {
        self.executor = executor
        self.clock = clock
    }

    public nonisolated(nonsending) func run(
        _ job: JobDefinition,
        plugin entry: RegisteredPlugin,
        trigger: RunRecord.Trigger,
        scheduledAt: Date,
        nextTick: Date?,
        logger: Logger,
        firstAttemptLogger: Logger? = nil
    ) async -> RunRecord {
        let policy = job.retry
        var attempts: [AttemptRecord] = []
        var wait = Duration.zero
        var last: PluginExecutor.Execution?
        var conditions: [ConditionOutcome] = []
        let firstStart = clock.now()

        for number in 1...max(1, policy.attempts) {
            let startedAt = number == 1 ? firstStart : clock.now()
            var timeout = job.timeout
            if number > 1, let nextTick {
                timeout = min(timeout, .milliseconds(Int64(nextTick.timeIntervalSince(startedAt) * 1000)))
            }
            var execution = await executor.execute(
                entry, parameters: job.parameters, timeout: max(timeout, .milliseconds(1)),
                additionalSecrets: job.secretValues,
                logger: (number == 1 ? firstAttemptLogger : nil) ?? pluginLogger(for: job, plugin: entry, attempt: number)
            )
            (execution, conditions) = Self.applyExpectations(job.expectations, to: execution)
            last = execution
            attempts.append(AttemptRecord(
                number: number, wait: wait, startedAt: startedAt, duration: execution.duration,
                outcome: execution.outcome, retry: execution.result.retry,
                message: execution.result.message, error: execution.result.error
            ))

            guard number < policy.attempts,
                  policy.shouldRetry(execution.outcome, retryFlag: execution.result.retry),
                  !Task.isCancelled else { break }
            let next = policy.waitAfter(attempt: number)
            let resumeAt = clock.now().addingTimeInterval(next.seconds)
            let elapsed = Duration.milliseconds(Int64((clock.now().timeIntervalSince(firstStart) * 1000).rounded()))
            if let reason = policy.stops(elapsed: elapsed, next: next) {
                logger.debug("retry stopped: \(reason.rawValue) reached", metadata: ["job": .string(job.name)])
                break
            }
            if let nextTick, resumeAt >= nextTick {
                logger.debug("retry stopped: the next tick comes first", metadata: ["job": .string(job.name)])
                break
            }
            logger.debug("retrying", metadata: [
                "job": .string(job.name), "attempt": .stringConvertible(number + 1), "wait": .string(next.wardenFormatted),
            ])
            do {
                try await clock.sleep(for: next)
            } catch {
                break
            }
            wait = next
        }

        let finishedAt = clock.now()
        let result = last?.result ?? .failure("no attempt ran")
        var status = RunStatus(last?.outcome ?? .unknown)
        if Task.isCancelled && status != .ok { status = .interrupted }
        // Scheduled and manual runs move the job's alert state; a remediation's re-check
        // moves it too (a fixed job recovers), a retry-of run likewise. Given to the record's
        // initializer: set afterwards, each write was a `malloc` for the accessor's frame.
        var alerting = job.alerting
        alerting.muted = job.maintenance.contains { $0.isActive(at: finishedAt) }
        return RunRecord(
            job: job.name, plugin: entry.spec.name, trigger: trigger, scheduledAt: scheduledAt,
            startedAt: firstStart, finishedAt: finishedAt,
            // One attempt is the whole run: its own measure, so that the store can keep the
            // two as one row (`RunRecord.soleAttempt`).
            duration: attempts.count == 1 ? attempts[0].duration : .microseconds(Int64(finishedAt.timeIntervalSince(firstStart) * 1_000_000)),
            status: status, message: result.message, error: result.error, retry: result.retry,
            data: result.data, configHash: job.configHash, attempts: attempts, conditions: conditions, alerting: alerting
        )
    }

    /// The logger attempt `attempt` of a run of `job` hands its plugin. `firstAttemptLogger`
    /// takes one made ahead: building it costs a copy of the logger and three metadata writes.
    public func pluginLogger(for job: JobDefinition, plugin entry: RegisteredPlugin, attempt: Int) -> Logger {
        executor.pluginLogger(for: entry, metadata: ["job": .string(job.name), "attempt": .stringConvertible(attempt)])
    }

    /// A successful result that fails one of the job's `expect:` conditions is unsuccessful,
    /// with the worst severity among the failed conditions; the conditions' outcomes are kept
    /// either way.
    static func applyExpectations(
        _ expectations: [Expectation], to execution: PluginExecutor.Execution
    ) -> (PluginExecutor.Execution, [ConditionOutcome]) {
        guard !expectations.isEmpty, [.ok, .warning, .critical].contains(execution.outcome) else { return (execution, []) }
        let outcomes = expectations.map { expectation in
            let (passed, value) = expectation.evaluate(execution.result)
            return ConditionOutcome(expression: expectation.description, passed: passed, value: value)
        }
        guard execution.outcome == .ok, let failed = outcomes.first(where: { !$0.passed }) else { return (execution, outcomes) }
        let severity = zip(expectations, outcomes).filter { !$0.1.passed }.map(\.0.severity).max() ?? .critical
        var result = execution.result
        result.success = false
        result.severity = severity
        result.error = "expectation failed: \(failed.expression) (value: \(failed.value.jsonText()))"
        return (PluginExecutor.Execution(result: result, duration: execution.duration, outcome: AttemptOutcome(severity)), outcomes)
    }
}
