import Prometheus

/// One job's series on `/metrics` (runs by status, state, durations, retries), kept and written
/// by Warden rather than registered in swift-prometheus: its registry (2.4.1) copies a family's
/// whole label-set dictionary to add one label set, so the first run of each of N jobs cost
/// O(N) and a start with 10,000 jobs O(N²): a third of the daemon's CPU at 10,000 checks a
/// second went to those copies and their release (perf, BENCHMARKS.md), and a mass failure,
/// adding a `status="critical"` series to every job, paid it again. The text is the one the
/// registry wrote for the same calls (`JobSeriesTests` holds them line for line).
struct JobSeries: Sendable {
    static let runsTotal = Family(name: "warden_runs_total", help: "Runs by job and status.", type: "counter")
    static let jobState = Family(
        name: "warden_job_state", help: "The job's state after its last run: 0 ok, 1 warning, 2 critical, 3 unknown.", type: "gauge")
    static let runDuration = Family(name: "warden_run_duration_seconds", help: "Run durations, all attempts included.", type: "histogram")
    static let retryAttempts = Family(name: "warden_retry_attempts_total", help: "Attempts beyond the first.", type: "counter")
    static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    struct Family {
        let name: String
        let help: String
        let type: String
    }

    /// The order statuses are counted and written in.
    private static let statuses = RunStatus.allCases
    /// Runs by status, indexed as `statuses`; a status is written once it has a run.
    private var runs = [Int64](repeating: 0, count: JobSeries.statuses.count)
    /// 0 until a run that is neither skipped nor interrupted sets it.
    private var state = 0.0
    /// Cumulative, as Prometheus reads them: a duration counts in every bucket at or above it.
    private var durationBuckets = [Int](repeating: 0, count: JobSeries.durationBuckets.count)
    private var durationSum = Duration.zero
    private var durationCount = 0
    /// Written once a run needed more than one attempt.
    private var retries: Int64?

    /// A recorded run: its status counted; unless skipped or interrupted, the state it leaves,
    /// its duration and the attempts beyond its first.
    mutating func observe(_ run: RunRecord) {
        runs[Self.index(of: run.status)] += 1
        guard run.status.isOutcome else { return }
        switch run.status.severity {
        case nil: state = 0
        case .warning?: state = 1
        case .critical?: state = 2
        case .unknown?: state = 3
        }
        if let duration = run.duration {
            for (index, bound) in Self.durationBuckets.enumerated() where bound >= duration {
                durationBuckets[index] += 1
            }
            durationSum += duration
            durationCount += 1
        }
        if run.attempts.count > 1 {
            retries = (retries ?? 0) + Int64(run.attempts.count - 1)
        }
    }

    private static func index(of status: RunStatus) -> Int {
        statuses.firstIndex(of: status)!
    }

    /// The four families for `jobs`, each job's series in name order; a family no job has a
    /// series in is left out, as the registry left out families nothing had made.
    static func exposition(of jobs: [String: JobSeries]) -> String {
        let sorted = jobs.map { (job: escaped($0.key), series: $0.value) }.sorted { $0.job < $1.job }
        var text = ""
        text.reserveCapacity(sorted.count * 1_500)

        if !sorted.isEmpty {
            runsTotal.writeHeader(into: &text)
            for (job, series) in sorted {
                for (index, status) in statuses.enumerated() where series.runs[index] > 0 {
                    text += "\(runsTotal.name){job=\"\(job)\",status=\"\(status.rawValue)\"} \(series.runs[index])\n"
                }
            }
            jobState.writeHeader(into: &text)
            for (job, series) in sorted {
                text += "\(jobState.name){job=\"\(job)\"} \(series.state)\n"
            }
            runDuration.writeHeader(into: &text)
            for (job, series) in sorted {
                series.writeDuration(job: job, into: &text)
            }
        }
        let retried = sorted.compactMap { job, series in series.retries.map { (job, $0) } }
        if !retried.isEmpty {
            retryAttempts.writeHeader(into: &text)
            for (job, attempts) in retried {
                text += "\(retryAttempts.name){job=\"\(job)\"} \(attempts)\n"
            }
        }
        return text
    }

    private func writeDuration(job: String, into text: inout String) {
        let name = Self.runDuration.name
        for (bound, count) in zip(Self.durationBuckets, durationBuckets) {
            text += "\(name)_bucket{job=\"\(job)\",le=\"\(bound.bucketRepresentation)\"} \(count)\n"
        }
        text += "\(name)_bucket{job=\"\(job)\",le=\"+Inf\"} \(durationCount)\n"
        text += "\(name)_sum{job=\"\(job)\"} \(durationSum.bucketRepresentation)\n"
        text += "\(name)_count{job=\"\(job)\"} \(durationCount)\n"
    }

    /// A label value as the text format wants it: backslash, double quote and line feed escaped.
    static func escaped(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) else {
            return value
        }
        var text = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": text += "\\\\"
            case "\"": text += "\\\""
            case "\n": text += "\\n"
            default: text.unicodeScalars.append(character)
            }
        }
        return text
    }
}

extension JobSeries.Family {
    func writeHeader(into text: inout String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }
}
