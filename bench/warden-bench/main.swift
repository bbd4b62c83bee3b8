import Dispatch
import Foundation
import Synchronization
import WardenEngine
import Logging
import WardenPluginKit

// warden-bench timers [JOBS] [SECONDS]
//
// Timer precision of Warden's scheduler (one DispatchSourceTimer per job, re-armed from the
// schedule) next to the floor: bare repeating DispatchSourceTimers with the same spread of
// start offsets. Reports start lateness p50/p99/max and CPU time per second, side by side.

struct Lateness {
    var samples: [Double] = []

    mutating func add(_ milliseconds: Double) { samples.append(milliseconds) }

    func summary() -> (p50: Double, p99: Double, max: Double, count: Int) {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return (0, 0, 0, 0) }
        func rank(_ fraction: Double) -> Double { sorted[min(sorted.count - 1, Int(fraction * Double(sorted.count)))] }
        return (rank(0.50), rank(0.99), sorted.last!, sorted.count)
    }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func job(_ index: Int) -> JobDefinition {
    JobDefinition(
        name: "bench_\(index)", plugin: "noop", description: nil, parameters: [:], schedule: .every(.seconds(1)),
        jitter: .zero, timeout: .seconds(1), retry: .none, enabled: true, secretValues: [], configHash: "",
        location: ConfigLocation(file: "bench", line: 1, column: 1)
    )
}

/// Warden's scheduler: lateness = when the tick ran − the schedule's planned time.
func measureScheduler(jobs count: Int, seconds: Int) -> (Lateness, Double) {
    let lateness = Mutex(Lateness())
    let warmUp = Date().addingTimeInterval(1.5)
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let scheduler = Scheduler(logger: logger) { _, scheduledAt, _ in
        let now = Date()
        guard now > warmUp else { return }
        lateness.withLock { $0.add(now.timeIntervalSince(scheduledAt) * 1000) }
    }
    scheduler.start((0..<count).map(job))
    Thread.sleep(forTimeInterval: 1.5)
    let cpuStart = cpuSeconds()
    Thread.sleep(forTimeInterval: Double(seconds))
    let cpu = cpuSeconds() - cpuStart
    scheduler.stop()
    return (lateness.withLock { $0 }, cpu / Double(seconds))
}

/// The floor: bare repeating timers, start offsets spread over the second.
func measureBareTimers(count: Int, seconds: Int) -> (Lateness, Double) {
    let lateness = Mutex(Lateness())
    let queue = DispatchQueue(label: "bench.bare")
    let start = DispatchTime.now().uptimeNanoseconds + 1_500_000_000
    var timers: [any DispatchSourceTimer] = []
    for index in 0..<count {
        let offset = UInt64(index) * 1_000_000_000 / UInt64(count)
        let first = start + offset
        let fired = Mutex(0)
        let timer = DispatchSource.makeTimerSource(flags: [.strict], queue: queue)
        timer.setEventHandler {
            let now = DispatchTime.now().uptimeNanoseconds
            let k = fired.withLock { value -> UInt64 in defer { value += 1 }; return UInt64(value) }
            let planned = first + k * 1_000_000_000
            lateness.withLock { $0.add(Double(Int64(now) - Int64(planned)) / 1e6) }
        }
        timer.schedule(deadline: DispatchTime(uptimeNanoseconds: first), repeating: .seconds(1), leeway: .microseconds(200))
        timer.activate()
        timers.append(timer)
    }
    Thread.sleep(forTimeInterval: 1.5)
    let cpuStart = cpuSeconds()
    Thread.sleep(forTimeInterval: Double(seconds))
    let cpu = cpuSeconds() - cpuStart
    timers.forEach { $0.cancel() }
    return (lateness.withLock { $0 }, cpu / Double(seconds))
}

/// `expect:` evaluation cost next to the same check written by hand in Swift.
func measureExpectations() throws {
    let result = PluginResult(success: true, data: [
        "status_code": 200, "response_time": 0.12, "state": "ok", "items": [1, 2, 3], "pods": [["ready": true]],
    ], message: "ok")
    let cases: [(String, @Sendable (PluginResult) -> Bool)] = [
        ("data.status_code == 200", { $0.data["status_code"]?.intValue == 200 }),
        (#"data.state in ["ok", "warning"]"#, { ["ok", "warning"].contains($0.data["state"]?.stringValue ?? "") }),
        ("len(data.items) > 0 and data.pods[0].ready == true", {
            ($0.data["items"]?.arrayValue?.count ?? 0) > 0 && $0.data["pods"]?.arrayValue?.first?["ready"]?.boolValue == true
        }),
    ]
    let iterations = 1_000_000
    print("expect: evaluations of one condition over a result, \(iterations) each, release build")
    print("| condition | Warden ns/eval | hand-written Swift ns/eval | ratio |")
    print("|---|---:|---:|---:|")
    for (text, native) in cases {
        let expectation = try Expectation(text)
        var passed = 0
        let start = ContinuousClock.now
        for _ in 0..<iterations where expectation.evaluate(result).passed { passed += 1 }
        let warden = (ContinuousClock.now - start).seconds * 1e9 / Double(iterations)
        let nativeStart = ContinuousClock.now
        for _ in 0..<iterations where native(result) { passed += 1 }
        let swift = (ContinuousClock.now - nativeStart).seconds * 1e9 / Double(iterations)
        guard passed == 2 * iterations else { fatalError("\(text) did not hold") }
        print(String(format: "| `%@` | %.0f | %.0f | %.1f× |", text, warden, swift, warden / swift))
    }
}

/// Storage: write throughput through the real writer, then a database of `total` runs
/// generated through the real schema, its size, and history query latency on it.
func measureStore(total: Int, directory: String) async throws {
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let jobs = 1_000
    let now = Date()
    func run(_ index: Int, at date: Date) -> RunRecord {
        let started = date.addingTimeInterval(0.001)
        // As the daemon writes them: one attempt, its result the run's (one in fifty failing).
        let status: RunStatus = index % 50 == 0 ? .critical : .ok
        let message = "http://127.0.0.1:8080/health is healthy: HTTP 200 in 2 ms"
        return RunRecord(
            job: "job_\(index % jobs)", plugin: "service_status", trigger: .schedule, scheduledAt: date, startedAt: started,
            finishedAt: started.addingTimeInterval(0.002), duration: .milliseconds(2), status: status,
            message: message, error: nil, retry: false,
            data: ["status_code": 200, "healthy": true, "response_time": 0.002], configHash: "0123456789abcdef",
            attempts: [AttemptRecord(number: 1, wait: .zero, startedAt: started, duration: .milliseconds(2),
                                     outcome: status == .ok ? .ok : .critical, retry: false, message: message, error: nil)]
        )
    }

    // 1. Results per second through the real writer (group commit), 200,000 runs.
    let writerPath = directory + "/writer.db"
    let store = try HistoryStore.openForWriting(path: writerPath)
    let count = 200_000
    // Every run is recorded at once: the buffer must hold them all (the daemon's bound is smaller).
    let writer = HistoryWriter(store: store, logger: logger, bound: .init(runs: count, bytes: 1 << 30))
    Task { await writer.run() }
    let started = ContinuousClock.now
    for index in 0..<count { writer.record(run(index, at: now.addingTimeInterval(Double(index) / 1000))) }
    await writer.flush()
    let writeSeconds = (ContinuousClock.now - started).seconds
    await writer.close()
    try store.close()
    print(String(format: "| writer throughput | %.0f runs/s | %d runs with one attempt each, group commit, synchronous=NORMAL |", Double(count) / writeSeconds, count))

    // 2. A database of `total` runs over 30 days, 1,000 jobs, through the real schema.
    let path = directory + "/history.db"
    let big = try HistoryStore.openForWriting(path: path)
    let span = 30.0 * 86_400
    let batch = 20_000
    var written = 0
    let fillStart = ContinuousClock.now
    while written < total {
        let size = min(batch, total - written)
        try big.insert((0..<size).map { offset in
            let index = written + offset
            return run(index, at: now.addingTimeInterval(-span + span * Double(index) / Double(total)))
        })
        written += size
        if written % 1_000_000 == 0 { FileHandle.standardError.write(Data("  \(written / 1_000_000)M runs written\n".utf8)) }
    }
    let fillSeconds = (ContinuousClock.now - fillStart).seconds
    try big.close()
    let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    print(String(format: "| generate %dM runs | %.0f runs/s | batches of %d, one transaction each |", total / 1_000_000, Double(total) / fillSeconds, batch))
    print(String(format: "| database size | %.0f MB per million runs | %.1f GB for %dM runs (runs + attempts + indexes) |",
                 Double(bytes) / 1e6 / (Double(total) / 1e6), Double(bytes) / 1e9, total / 1_000_000))

    // 3. `history --job J --since 1h --limit 50`, in process, 200 times on random jobs.
    let reader = try HistoryStore.openForReading(path: path)
    var samples: [Double] = []
    for iteration in 0..<200 {
        let query = HistoryQuery(job: "job_\((iteration * 37) % jobs)", since: now.addingTimeInterval(-3600), limit: 50)
        let start = ContinuousClock.now
        let found = try reader.history(query)
        samples.append((ContinuousClock.now - start).seconds * 1000)
        guard !found.isEmpty else { fatalError("no runs found for \(query)") }
    }
    samples.sort()
    print(String(format: "| history query (in process) | p50 %.2f ms, p99 %.2f ms | --job J --since 1h --limit 50 on %dM runs |",
                 samples[samples.count / 2], samples[samples.count * 99 / 100], total / 1_000_000))
}

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "expect" {
    try measureExpectations()
    exit(0)
}
if arguments.first == "store" {
    let total = arguments.dropFirst().first.flatMap(Int.init) ?? 1_000_000
    let directory = arguments.dropFirst(2).first ?? NSTemporaryDirectory() + "warden-bench-store"
    try await measureStore(total: total, directory: directory)
    exit(0)
}
guard arguments.first == "timers" else {
    FileHandle.standardError.write(Data("usage: warden-bench timers [JOBS] [SECONDS] | warden-bench expect\n".utf8))
    exit(2)
}
let jobCounts = arguments.dropFirst().first.map { $0.split(separator: ",").compactMap { Int($0) } } ?? [1_000, 10_000]
let seconds = arguments.dropFirst(2).first.flatMap(Int.init) ?? 5

print("timer precision: every job at a 1 s interval, \(seconds) s measured after 1.5 s warm-up")
print("| jobs | timers | starts | p50 ms | p99 ms | max ms | CPU % of a core |")
print("|---:|---|---:|---:|---:|---:|---:|")
for count in jobCounts {
    for (name, measure) in [("bare DispatchSourceTimer (floor)", measureBareTimers), ("Warden scheduler", measureScheduler)] {
        FileHandle.standardError.write(Data("measuring \(name) with \(count) jobs…\n".utf8))
        let (lateness, cpu) = measure(count, seconds)
        let summary = lateness.summary()
        print(String(format: "| %d | %@ | %d | %.3f | %.3f | %.3f | %.1f |", count, name, summary.count, summary.p50, summary.p99, summary.max, cpu * 100))
    }
}
