import Dispatch
import Testing
@testable import WardenEngine

/// The hand-off primitive under the deadline race, the limiter's queue and the writer's
/// waiters: one value, one waiter, whichever comes first, never resumed twice.
@Suite("one-shot hand-off")
struct OneShotTests {
    @Test func aValueDeliveredBeforeTheWaitIsKept() async {
        let shot = OneShot<Int>()
        #expect(shot.deliver(7))
        #expect(shot.isDelivered)
        #expect(await shot.value() == 7)
    }

    @Test func onlyTheFirstDeliveryCounts() async {
        let shot = OneShot<String>()
        #expect(shot.deliver("first"))
        #expect(!shot.deliver("second"))
        #expect(await shot.value() == "first")
    }

    @Test func aWaiterIsWokenByADeliveryFromAnotherThread() async {
        let shot = OneShot<Int>()
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { shot.deliver(42) }
        #expect(await shot.value() == 42)
    }

    @Test func racingDeliverersHaveExactlyOneWinner() async {
        for _ in 0..<200 {
            let shot = OneShot<Int>()
            let winners = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<8 { group.addTask { shot.deliver(index) } }
                group.addTask { _ = await shot.value(); return false }
                var count = 0
                for await won in group where won { count += 1 }
                return count
            }
            #expect(winners == 1)
        }
    }

    @Test func theLimitersCancelledWaiterLeavesAndAGrantStands() async {
        let limiter = ConcurrencyLimiter(maxConcurrent: 1, maxQueue: 4)
        #expect(await limiter.acquire() == .granted)
        let waiting = Task { await limiter.acquire() }
        while limiter.queued == 0 { await Task.yield() }
        waiting.cancel()
        #expect(await waiting.value == .closed)
        #expect(limiter.queued == 0)
        // A grant handed over before its waiter even started waiting is not lost.
        let next = Task { await limiter.acquire() }
        while limiter.queued == 0 { await Task.yield() }
        limiter.release()
        #expect(await next.value == .granted)
        #expect(limiter.running == 1)
        limiter.release()
        #expect(limiter.running == 0)
    }
}
