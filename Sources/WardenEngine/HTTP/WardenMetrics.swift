import Foundation
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics (swift-prometheus). Label values are bounded by the
/// config: job, rule and notifier names, statuses, outcomes; never run ids or messages.
public final class WardenMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    static let durationBuckets: [Duration] = [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)]
    static let latenessBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5)]

    private let lateness: DurationHistogram
    private let queueDepth: Gauge
    private let dropped: Gauge
    private let processCPU: Gauge
    private let processRSS: Gauge
    private let processFDs: Gauge
    private let processStart: Gauge

    public init(version: String = WardenVersion.current) {
        lateness = registry.makeDurationHistogram(
            name: "warden_scheduler_start_lateness_seconds", buckets: Self.latenessBuckets,
            help: "How late runs started after their scheduled time.")
        queueDepth = registry.makeGauge(name: "warden_store_queue_depth", help: "Runs waiting to be written to the history.")
        dropped = registry.makeGauge(name: "warden_store_dropped_runs_total", help: "Runs dropped because the history buffer was past its bound.")
        processCPU = registry.makeGauge(name: "process_cpu_seconds_total", help: "User and system CPU time spent, in seconds.")
        processRSS = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        processFDs = registry.makeGauge(name: "process_open_fds", help: "Open file descriptors.")
        processStart = registry.makeGauge(name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch, in seconds.")
        registry.makeGauge(name: "warden_build_info", labels: [("version", version)], help: "Always 1: the running version in a label.").set(Double(1))
        processStart.set(Date().timeIntervalSince1970)
    }

    /// A recorded run: its counters, its job's state, its duration and how late it started.
    public func observe(_ runs: [ObservedRun]) {
        for observed in runs {
            let run = observed.record
            registry.makeCounter(name: "warden_runs_total", labels: [("job", run.job), ("status", run.status.rawValue)],
                                 help: "Runs by job and status.").increment()
            guard run.status != .skipped && run.status != .interrupted else { continue }
            let state: Double
            switch run.status.severity {
            case nil: state = 0
            case .warning?: state = 1
            case .critical?: state = 2
            case .unknown?: state = 3
            }
            registry.makeGauge(name: "warden_job_state", labels: [("job", run.job)],
                               help: "The job's state after its last run: 0 ok, 1 warning, 2 critical, 3 unknown.").set(state)
            if let duration = run.duration {
                registry.makeDurationHistogram(name: "warden_run_duration_seconds", labels: [("job", run.job)], buckets: Self.durationBuckets,
                                               help: "Run durations, all attempts included.").record(duration)
            }
            if run.attempts.count > 1 {
                registry.makeCounter(name: "warden_retry_attempts_total", labels: [("job", run.job)], help: "Attempts beyond the first.")
                    .increment(by: Int64(run.attempts.count - 1))
            }
            if case .schedule = run.trigger, let started = run.startedAt {
                lateness.record(.milliseconds(Int64(max(0, started.timeIntervalSince(run.scheduledAt)) * 1000)))
            }
        }
    }

    /// A remediation decision: an outcome, or `suppressed:<reason kind>`.
    public func remediation(rule: String, outcome: String) {
        registry.makeCounter(name: "warden_remediations_total", labels: [("rule", rule), ("outcome", outcome)],
                             help: "Remediation decisions by rule and outcome (suppressions by reason).").increment()
    }

    public func budgetRemaining(rule: String, _ remaining: Int) {
        registry.makeGauge(name: "warden_rule_budget_remaining", labels: [("rule", rule)], help: "Remediations the rule may still run in its budget window.")
            .set(Double(remaining))
    }

    public func notification(notifier: String, outcome: String) {
        registry.makeCounter(name: "warden_notifications_total", labels: [("notifier", notifier), ("outcome", outcome)],
                             help: "Notification delivery attempts by notifier and outcome (delivered, failed, expired).").increment()
    }

    /// What only a scrape needs: the writer's queue and the process's own figures.
    public func refresh(history: HistoryWriter.Health) {
        queueDepth.set(Double(history.buffered))
        dropped.set(Double(history.dropped))
        var usage = rusage()
        if getrusage(RUSAGE_SELF.rawValue, &usage) == 0 {
            let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
            processCPU.set(user + system)
        }
        if let status = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
           let pages = status.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            processRSS.set(pages * Double(sysconf(Int32(_SC_PAGESIZE))))
        }
        processFDs.set(Double((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0))
    }

    public func exposition() -> String {
        registry.emitToString()
    }
}
