import Foundation
import Synchronization
import Testing
import WardenPluginKit
import WardenPlugins
import WardenTestSupport
@testable import WardenEngine

/// The runs a runner records, in memory.
final class RecordedRuns: Sendable {
    private let runs = Mutex<[RunRecord]>([])
    func add(_ run: RunRecord) { runs.withLock { $0.append(run) } }
    var all: [RunRecord] { runs.withLock { $0 } }
    func of(_ job: String) -> [RunRecord] { all.filter { $0.job == job } }
}

@Suite("scheduler", .serialized)
struct SchedulerTests {
    func job(_ name: String, every: Duration, timeout: Duration = .seconds(5), plugin: String = "probe", params: JSONObject? = nil) -> JobDefinition {
        JobDefinition(
            name: name, plugin: plugin, description: nil, parameters: params ?? ["tag": .string(name)],
            schedule: .every(every), jitter: .zero, timeout: timeout, retry: .none, enabled: true,
            secretValues: [], configHash: "h", location: ConfigLocation(file: "t", line: 1, column: 1)
        )
    }

    func start(_ jobs: [JobDefinition], registry: PluginRegistry, maxConcurrent: Int = 16, maxQueue: Int = 64) -> (Scheduler, JobRunner, RecordedRuns) {
        let recorded = RecordedRuns()
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: testLogger, environment: [:], cancellationGrace: .seconds(3))
        let runner = JobRunner(
            registry: registry, loop: AttemptLoop(executor: executor),
            limiter: ConcurrencyLimiter(maxConcurrent: maxConcurrent, maxQueue: maxQueue), logger: testLogger,
            record: { recorded.add($0) }
        )
        let scheduler = Scheduler(logger: testLogger) { job, scheduledAt, nextTick in
            runner.tick(job, scheduledAt: scheduledAt, nextTick: nextTick)
        }
        scheduler.start(jobs)
        return (scheduler, runner, recorded)
    }

    @Test func aJobNeverOverlapsItself() async throws {
        let probe = ProbePlugin(delay: .milliseconds(450))
        let registry = try makeRegistry([probe])
        let (scheduler, runner, recorded) = start([job("slow", every: .milliseconds(200))], registry: registry)
        try await Task.sleep(for: .milliseconds(1_700))
        scheduler.stop()
        await runner.drain(grace: .seconds(2))
        let runs = recorded.of("slow")
        let skipped = runs.filter { $0.status == .skipped }
        #expect(probe.perJobPeak == 1)
        // Counts are loose (a loaded machine delays ticks); what matters is no overlap.
        #expect(runs.filter { $0.status == .ok }.count >= 1)
        #expect(skipped.count >= 2)
        #expect(skipped.allSatisfy { $0.error == "overlap" && $0.attempts.isEmpty })
    }

    @Test func theConcurrencyCapHoldsAndExcessWaits() async throws {
        let probe = ProbePlugin(delay: .milliseconds(300))
        let registry = try makeRegistry([probe])
        let jobs = (0..<6).map { job("capped\($0)", every: .milliseconds(500)) }
        let (scheduler, runner, recorded) = start(jobs, registry: registry, maxConcurrent: 2, maxQueue: 64)
        try await Task.sleep(for: .milliseconds(2_200))
        scheduler.stop()
        await runner.drain(grace: .seconds(5))
        #expect(probe.peak == 2)
        // Waiting in the queue is not skipping: every job ran.
        for index in 0..<6 { #expect(recorded.of("capped\(index)").contains { $0.status == .ok }) }
    }

    @Test func aFullQueueIsRecordedAsSkipped() async throws {
        let probe = ProbePlugin(delay: .milliseconds(400))
        let registry = try makeRegistry([probe])
        let jobs = (0..<4).map { job("queued\($0)", every: .milliseconds(1_000)) }
        let (scheduler, runner, recorded) = start(jobs, registry: registry, maxConcurrent: 1, maxQueue: 0)
        try await Task.sleep(for: .milliseconds(1_100))
        scheduler.stop()
        await runner.drain(grace: .seconds(5))
        let skipped = recorded.all.filter { $0.error == "queue-full" }
        #expect(probe.peak == 1)
        #expect(!skipped.isEmpty && skipped.allSatisfy { $0.status == .skipped })
    }

    @Test func aTimedOutExecutablePluginLeavesNoProcessBehind() async throws {
        let fixtures = try PluginFixtureDirectory()
        let pidFile = fixtures.path + "/grandchild.pid"
        try fixtures.addScript("hang", spec: PluginFixtureDirectory.spec("hang"), body: """
            sleep 300 &
            echo $! > \(pidFile)
            sleep 300
            """)
        let registry = try makeRegistry([])
        _ = await PluginDirectory(paths: [fixtures.path]).discover(into: registry, logger: testLogger)
        let hang = job("hang", every: .seconds(60), timeout: .milliseconds(500), plugin: "hang", params: [:])
        let recorded = RecordedRuns()
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: testLogger, environment: [:], cancellationGrace: .seconds(3))
        let runner = JobRunner(registry: registry, loop: AttemptLoop(executor: executor),
                               limiter: ConcurrencyLimiter(maxConcurrent: 4, maxQueue: 4), logger: testLogger, record: { recorded.add($0) })
        let started = ContinuousClock.now
        let run = await runner.perform(hang, trigger: .manual, scheduledAt: Date(), nextTick: nil)
        #expect(ContinuousClock.now - started < .seconds(15), "the plugin alone sleeps 300 s")
        #expect(run.status == .timeout)
        #expect(run.attempts.first?.outcome == .timeout)
        let grandchild = try #require(await readPid(pidFile))
        #expect(await eventually(within: .seconds(3)) { !processIsAlive(grandchild) })
    }

    /// A job keeps its plan (plugin, executor, logger) between runs until a reload. A reload
    /// that gives the job another plugin runs that plugin from the job's next tick, also when
    /// a tick of the old definition comes between the new registry and the new timers.
    @Test func aReloadedJobRunsItsNewPlugin() async throws {
        let first = ProbePlugin(name: "first")
        let second = ProbePlugin(name: "second")
        let recorded = RecordedRuns()
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: testLogger, environment: [:])
        let runner = JobRunner(registry: try makeRegistry([first, second]), loop: AttemptLoop(executor: executor),
                               limiter: ConcurrencyLimiter(maxConcurrent: 4, maxQueue: 4), logger: testLogger, record: { recorded.add($0) })
        let old = job("web", every: .seconds(60), plugin: "first")
        runner.tick(old, scheduledAt: Date(), nextTick: nil)
        #expect(await eventually { recorded.of("web").count == 1 && runner.inFlightCount == 0 })
        runner.use(try makeRegistry([first, second]))
        runner.tick(old, scheduledAt: Date(), nextTick: nil)
        #expect(await eventually { recorded.of("web").count == 2 && runner.inFlightCount == 0 })
        runner.tick(job("web", every: .seconds(60), plugin: "second"), scheduledAt: Date(), nextTick: nil)
        #expect(await eventually { recorded.of("web").count == 3 && runner.inFlightCount == 0 })
        #expect(recorded.of("web").map(\.plugin) == ["first", "first", "second"])
        #expect(recorded.of("web").map(\.status) == [.ok, .ok, .ok])
        #expect(first.calls == 2 && second.calls == 1)
    }

    @Test func drainInterruptsRunsThatOutlastTheGrace() async throws {
        let probe = ProbePlugin(delay: .seconds(30))
        let registry = try makeRegistry([probe])
        let (scheduler, runner, recorded) = start([job("stuck", every: .milliseconds(100), timeout: .seconds(60))], registry: registry)
        #expect(await eventually { runner.inFlightCount == 1 })
        scheduler.stop()
        let started = ContinuousClock.now
        await runner.drain(grace: .milliseconds(300))
        #expect(ContinuousClock.now - started < .seconds(15), "the probe alone takes 30 s")
        let runs = recorded.of("stuck").filter { $0.status != .skipped }
        #expect(runs.map(\.status) == [.interrupted])
    }

    /// An interval job's timer is set once and repeats (Dispatch re-arms it itself); a job
    /// with jitter is set again for every fire. Setting the timer from its handler on every
    /// run woke Dispatch's manager thread once per check.
    @Test func anIntervalTimerIsSetOnceAndRepeats() async throws {
        let registry = try makeRegistry([ProbePlugin()])
        var jittered = job("jittered", every: .milliseconds(100))
        jittered.jitter = .milliseconds(10)
        let (scheduler, runner, recorded) = start([job("steady", every: .milliseconds(100)), jittered], registry: registry)
        try await Task.sleep(for: .milliseconds(700))
        let settings = scheduler.timerSettings
        scheduler.stop()
        await runner.drain(grace: .seconds(1))
        #expect(recorded.of("steady").count >= 4)
        #expect(settings["steady"] == 1)
        #expect((settings["jittered"] ?? 0) >= recorded.of("jittered").count)
    }

    @Test func timersFireOnTheirPhaseAndDoNotDrift() async throws {
        let probe = ProbePlugin()
        let registry = try makeRegistry([probe])
        let interval = Duration.milliseconds(250)
        let (scheduler, runner, recorded) = start([job("beat", every: interval)], registry: registry)
        try await Task.sleep(for: .milliseconds(1_400))
        scheduler.stop()
        await runner.drain(grace: .seconds(1))
        let runs = recorded.of("beat")
        #expect(runs.count >= 4)
        let phase = JobSchedule.phase(forJob: "beat", interval: interval).milliseconds
        for run in runs {
            // Scheduled times sit exactly on phase + k·interval …
            #expect(run.scheduledAt.epochMilliseconds % interval.milliseconds == phase)
        }
        // … and the runs start on them, well inside their interval. Drift would add up past
        // it; a loaded machine stalls a wake-up now and then (the median ignores one).
        let lateness = runs.map { $0.startedAt!.timeIntervalSince($0.scheduledAt) }.sorted()
        #expect(lateness[lateness.count / 2] < 0.125, "\(lateness)")
    }

    /// The interval jobs of a slot fire from one timer, each tick handing them the same
    /// scheduled time; a cron or jittered job keeps a timer of its own. A timer per job cost
    /// Dispatch's timer machinery once per check.
    @Test func theJobsOfASlotShareOneTimer() async throws {
        let registry = try makeRegistry([ProbePlugin()])
        var jittered = job("jittered", every: .milliseconds(100))
        jittered.jitter = .milliseconds(10)
        let steady = ["a", "b", "c"].map { job($0, every: .milliseconds(100)) }
        let (scheduler, runner, recorded) = start(steady + [jittered], registry: registry)
        #expect(scheduler.timerCount == 2)
        try await Task.sleep(for: .milliseconds(700))
        scheduler.stop()
        await runner.drain(grace: .seconds(1))
        let times = ["a", "b", "c"].map { Set(recorded.of($0).map(\.scheduledAt)) }
        #expect(times[0].count >= 4, "\(times[0])")
        // Each tick reached every job of the slot, and no job ran off it.
        #expect(times[0].intersection(times[1]).intersection(times[2]).count >= times[0].count - 1, "\(times)")
        #expect(scheduler.timerCount == 0)
    }

    /// A reload takes a removed job out of its slot (the others keep their beat and their
    /// timer), puts a changed one back in, and stops the timer of a slot left empty.
    @Test func aReloadChangesASlotsJobs() async throws {
        let registry = try makeRegistry([ProbePlugin()])
        let jobs = ["a", "b", "c"].map { job($0, every: .milliseconds(100)) }
        let (scheduler, runner, recorded) = start(jobs, registry: registry)
        try await Task.sleep(for: .milliseconds(350))
        var changed = jobs[2]
        changed.configHash = "h2"
        let changes = scheduler.update([jobs[0], changed])
        #expect(changes.unchanged == ["a"] && changes.removed == ["b"] && changes.changed == ["c"], "\(changes)")
        #expect(scheduler.timerCount == 1 && scheduler.timerSettings["a"] == 1)
        let removedAt = recorded.of("b").count
        try await Task.sleep(for: .milliseconds(350))
        #expect(recorded.of("b").count <= removedAt + 1)
        #expect(recorded.of("a").count >= 5 && recorded.of("c").count >= 5, "\(recorded.of("a").count) \(recorded.of("c").count)")
        scheduler.update([])
        #expect(scheduler.timerCount == 0)
        let stoppedAt = recorded.all.count
        try await Task.sleep(for: .milliseconds(300))
        await runner.drain(grace: .seconds(1))
        #expect(recorded.all.count <= stoppedAt + 2)
    }
}
