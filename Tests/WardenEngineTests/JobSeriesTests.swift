import Foundation
import Prometheus
import Testing
import WardenEngine
import WardenTestSupport

/// The jobs' series on `/metrics`, written by Warden since swift-prometheus's registry made
/// registering N jobs O(N²).
@Suite struct JobSeriesTests {
    static let start = Date(timeIntervalSince1970: 1_790_000_000)
    static let families = ["warden_runs_total", "warden_job_state", "warden_run_duration_seconds", "warden_retry_attempts_total"]

    static func run(_ job: String, _ status: RunStatus, duration: Duration? = .milliseconds(40), attempts: Int = 1) -> ObservedRun {
        let attempt = AttemptRecord(
            number: 1, wait: .zero, startedAt: start, duration: duration ?? .zero, outcome: .ok, retry: false, message: "", error: nil)
        return ObservedRun(id: nil, record: RunRecord(
            job: job, plugin: "probe", trigger: .schedule, scheduledAt: start, startedAt: status == .skipped ? nil : start,
            finishedAt: start, duration: status == .skipped ? nil : duration, status: status, message: "", error: nil, retry: false,
            data: .null, configHash: "h", attempts: status == .skipped ? [] : Array(repeating: attempt, count: attempts)
        ))
    }

    /// The lines of the four job families, each once, HELP and TYPE included.
    static func jobLines(_ exposition: String) -> [String] {
        exposition.split(separator: "\n").map(String.init)
            .filter { line in families.contains { line.hasPrefix($0) || line.hasPrefix("# HELP \($0) ") || line.hasPrefix("# TYPE \($0) ") } }
            .sorted()
    }

    /// What WardenMetrics did before: one registry, each job's series made on its first run.
    final class RegistryReference {
        let registry = PrometheusCollectorRegistry()
        var states: [String: Gauge] = [:]
        var durations: [String: DurationHistogram] = [:]

        static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }

        func observe(_ run: RunRecord) {
            let job = run.job
            if states[job] == nil {
                states[job] = registry.makeGauge(
                    descriptor: Self.named("warden_job_state", "The job's state after its last run: 0 ok, 1 warning, 2 critical, 3 unknown."),
                    labels: [("job", job)])
                durations[job] = registry.makeDurationHistogram(
                    descriptor: Self.named("warden_run_duration_seconds", "Run durations, all attempts included."), labels: [("job", job)],
                    buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                              .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)])
            }
            registry.makeCounter(descriptor: Self.named("warden_runs_total", "Runs by job and status."),
                                 labels: [("job", job), ("status", run.status.rawValue)]).increment()
            guard run.status != .skipped && run.status != .interrupted else { return }
            let state: Double = switch run.status.severity {
            case nil: 0
            case .warning?: 1
            case .critical?: 2
            case .unknown?: 3
            }
            states[job]!.set(state)
            if let duration = run.duration { durations[job]!.record(duration) }
            if run.attempts.count > 1 {
                registry.makeCounter(descriptor: Self.named("warden_retry_attempts_total", "Attempts beyond the first."), labels: [("job", job)])
                    .increment(by: Int64(run.attempts.count - 1))
            }
        }
    }

    @Test func theJobsSeriesReadAsTheRegistryWroteThem() {
        let runs = [
            Self.run("web", .ok, duration: .milliseconds(3)),
            Self.run("web", .critical, duration: .milliseconds(250), attempts: 3),
            Self.run("web", .ok, duration: .seconds(2.5)),
            Self.run("db", .warning, duration: .seconds(40)),
            Self.run("db", .timeout, duration: .milliseconds(1_500), attempts: 2),
            Self.run("queue", .skipped),
            Self.run("quoted \"name\" \\ with\nbreak", .unknown, duration: .nanoseconds(1)),
            Self.run("idle", .interrupted, duration: nil),
        ]
        let metrics = WardenMetrics()
        let reference = RegistryReference()
        metrics.observe(Array(runs.prefix(3)))
        metrics.observe(Array(runs.dropFirst(3)))
        for run in runs { reference.observe(run.record) }

        let written = Self.jobLines(metrics.exposition())
        #expect(written == Self.jobLines(reference.registry.emitToString()))
        #expect(written.contains(#"warden_job_state{job="quoted \"name\" \\ with\nbreak"} 3.0"#))
        #expect(written.contains(#"warden_retry_attempts_total{job="web"} 2"#))
        #expect(written.contains(#"warden_run_duration_seconds_bucket{job="db",le="+Inf"} 2"#))
        // Families every other series of the registry shares are written once each.
        #expect(written.filter { $0.hasPrefix("# TYPE ") }.count == 4)
    }

    @Test func noJobNoJobFamilies() {
        #expect(Self.jobLines(WardenMetrics().exposition()).isEmpty)
    }

    /// A reload that removes a job removes its series: left, a scraper read the removed job's
    /// last state (failing, here) until the daemon restarted.
    @Test func aRemovedJobsSeriesGoWithIt() {
        let metrics = WardenMetrics()
        metrics.observe([Self.run("kept", .ok), Self.run("gone", .critical)])
        #expect(metrics.exposition().contains(#"warden_job_state{job="gone"} 2.0"#))
        metrics.keepJobs(["kept"])
        // A run of the removed job that was in flight at the reload, recorded after it.
        metrics.observe([Self.run("gone", .critical), Self.run("kept", .ok)])
        let after = metrics.exposition()
        #expect(!after.contains(#"job="gone""#), "\(after)")
        #expect(after.contains(#"warden_runs_total{job="kept",status="ok"} 2"#))
        // Configured again by a later reload: counted from its next run.
        metrics.keepJobs(["kept", "gone"])
        metrics.observe([Self.run("gone", .ok)])
        #expect(metrics.exposition().contains(#"warden_runs_total{job="gone",status="ok"} 1"#))
    }

    /// The registry copied a family's every series to add one: 10,000 jobs cost 185× what 500
    /// did (O(N²): 18 s of CPU in a debug build), where linear work costs 20× (seen 20–24×). CPU time
    /// of this thread, the best of three, and a bound far from both: the test asks for the
    /// order of growth, not a speed.
    @Test func eachNewJobCostsTheSameHoweverManyThereAre() {
        func cpuTime(registering jobs: Int) -> Duration {
            (0..<3).map { _ in
                let metrics = WardenMetrics()
                let runs = (0..<jobs).map { Self.run("job_\($0)", .ok) }
                let failing = runs.map { var failed = $0; failed.record.status = .critical; return failed }
                let (_, took) = measuringThreadCPUTime {
                    metrics.observe(runs)
                    metrics.observe(failing)
                }
                return took
            }.min()!
        }
        let few = cpuTime(registering: 500)
        let many = cpuTime(registering: 10_000)
        #expect(many < few * 100, "10,000 jobs took \(many) of CPU, 500 took \(few): \(many / few)×")
    }
}
