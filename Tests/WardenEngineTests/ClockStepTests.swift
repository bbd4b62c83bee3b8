import Foundation
import Testing
import WardenTestSupport
@testable import WardenEngine

/// The wall clock stepped under a running scheduler, for real (`clock_settime`, root). In
/// `make test`'s serial phase: a step would move the deadlines of tests running beside it.
@Suite("wall clock steps", .serialized)
struct ClockStepTests {
    /// Moves CLOCK_REALTIME by `seconds` from wherever it is now (so a step and its reverse
    /// leave it where elapsed time put it).
    static func stepWallClock(by seconds: Int) throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        now.tv_sec += seconds
        guard clock_settime(CLOCK_REALTIME, &now) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
    }

    @Test("a step back does not hold interval or jittered jobs for the step's length",
          .enabled(if: RealParts.available(getuid() == 0), "needs root to set the clock"))
    func aStepBackDoesNotHoldTheJobs() async throws {
        let registry = try makeRegistry([ProbePlugin()])
        let suite = SchedulerTests()
        var jittered = suite.job("jittered", every: .seconds(1))
        jittered.jitter = .milliseconds(10)
        let (scheduler, runner, recorded) = suite.start([suite.job("slot", every: .seconds(1)), jittered], registry: registry)
        defer { scheduler.stop() }
        try #require(await eventually(within: .seconds(5)) { !recorded.of("slot").isEmpty && !recorded.of("jittered").isEmpty })

        let before = (slot: recorded.of("slot").count, jittered: recorded.of("jittered").count)
        try Self.stepWallClock(by: -30)
        defer { try? Self.stepWallClock(by: 30) }
        // Both timers' deadlines now lie 30 s ahead: without re-arming, neither job runs again
        // for half a minute.
        try await Task.sleep(for: .milliseconds(2_600))
        #expect(recorded.of("slot").count >= before.slot + 2)
        #expect(recorded.of("jittered").count >= before.jittered + 2)
        #expect(scheduler.wallClockSets >= 1)
        scheduler.stop()
        await runner.drain(grace: .seconds(2))
    }
}
