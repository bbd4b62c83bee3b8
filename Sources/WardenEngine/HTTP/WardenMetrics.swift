import Foundation
import Prometheus
import Synchronization

/// The daemon's Prometheus metrics: swift-prometheus's registry for the daemon's own, rules' and
/// notifiers' series, `JobSeries` for the jobs'. Label values are bounded by the config: job,
/// rule and notifier names, statuses, outcomes; never run ids or messages.
public final class WardenMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    static let latenessBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5)]

    private let lateness: DurationHistogram
    private let queueDepth: Gauge
    private let dropped: Gauge
    private let processCPU: Gauge
    private let processRSS: Gauge
    private let processFDs: Gauge
    private let processStart: Gauge

    public init(version: String = WardenVersion.current) {
        lateness = registry.makeDurationHistogram(descriptor: Self.named("warden_scheduler_start_lateness_seconds", "How late runs started after their scheduled time."), buckets: Self.latenessBuckets)
        queueDepth = registry.makeGauge(descriptor: Self.named("warden_store_queue_depth", "Runs waiting to be written to the history."))
        dropped = registry.makeGauge(descriptor: Self.named("warden_store_dropped_runs_total", "Runs dropped because the history buffer was past its bound."))
        processCPU = registry.makeGauge(descriptor: Self.named("process_cpu_seconds_total", "User and system CPU time spent, in seconds."))
        processRSS = registry.makeGauge(descriptor: Self.named("process_resident_memory_bytes", "Resident memory size in bytes."))
        processFDs = registry.makeGauge(descriptor: Self.named("process_open_fds", "Open file descriptors."))
        processStart = registry.makeGauge(descriptor: Self.named("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds."))
        registry.makeGauge(descriptor: Self.named("warden_build_info", "Always 1: the running version in a label."), labels: [("version", version)]).set(Double(1))
        processStart.set(Date().timeIntervalSince1970)
    }

    /// Every job's series, written by Warden (`JobSeries` says why not by the registry), and
    /// the jobs the last reload removed.
    private struct Jobs {
        var series: [String: JobSeries] = [:]
        var removed: Set<String> = []
    }

    private let jobs = Mutex(Jobs())

    /// A recorded run: its job's series and how late it started.
    public func observe(_ runs: [ObservedRun]) {
        jobs.withLock { jobs in
            for observed in runs {
                let run = observed.record
                // In place: the job's name is hashed once a run (a copy out and back hashed it twice).
                if let index = jobs.series.index(forKey: run.job) {
                    jobs.series.values[index].observe(run)
                } else if !jobs.removed.contains(run.job) {
                    // A removed job's run that was in flight at the reload starts no series again.
                    jobs.series[run.job, default: JobSeries()].observe(run)
                }
                if run.status.isOutcome, case .schedule = run.trigger, let started = run.startedAt {
                    lateness.record(.milliseconds(Int64(max(0, started.timeIntervalSince(run.scheduledAt)) * 1000)))
                }
            }
        }
    }

    /// After a reload: the series of jobs no longer configured go (a scraper would otherwise
    /// read a removed job's last state, still failing perhaps, until the daemon restarts).
    public func keepJobs(_ names: Set<String>) {
        jobs.withLock { jobs in
            let gone = Set(jobs.series.keys).subtracting(names)
            for name in gone { jobs.series[name] = nil }
            jobs.removed = jobs.removed.union(gone).subtracting(names)
        }
    }

    /// A remediation decision: an outcome, or `suppressed:<reason kind>`.
    public func remediation(rule: String, outcome: String) {
        registry.makeCounter(descriptor: Self.named("warden_remediations_total", "Remediation decisions by rule and outcome (suppressions by reason)."), labels: [("rule", rule), ("outcome", outcome)]).increment()
    }

    public func budgetRemaining(rule: String, _ remaining: Int) {
        registry.makeGauge(descriptor: Self.named("warden_rule_budget_remaining", "Remediations the rule may still run in its budget window."), labels: [("rule", rule)])
            .set(Double(remaining))
    }

    public func notification(notifier: String, outcome: String) {
        registry.makeCounter(descriptor: Self.named("warden_notifications_total", "Notification delivery attempts by notifier and outcome (delivered, failed, expired)."), labels: [("notifier", notifier), ("outcome", outcome)]).increment()
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

    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        // The whole name in `metricName`: empty components are left out of it.
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The registry's families, then the jobs' (copied out under the lock, written outside it:
    /// a scrape of 10,000 jobs does not hold up the runs being observed).
    public func exposition() -> String {
        registry.emitToString() + JobSeries.exposition(of: jobs.withLock { $0.series })
    }
}
