import Dispatch
import Foundation
import Synchronization
import Testing
import WardenPluginKit
@testable import WardenEngine

/// Every plugin deadline shares one Dispatch timer (issue 18): a deadline fires once, in
/// order, never before it is due; a cancelled one never fires; and the timer, armed for the
/// earliest live deadline, is moved forward when an earlier one arrives after a later one.
@Suite("deadline timer")
struct DeadlineTimerTests {
    /// What fired, with how long after it was scheduled.
    final class Firings: Sendable {
        private let fired = Mutex<[(id: Int, late: Duration)]>([])
        func record(_ id: Int, since start: ContinuousClock.Instant) { fired.withLock { $0.append((id, .now - start)) } }
        var all: [(id: Int, late: Duration)] { fired.withLock { $0 } }
    }

    static func waitUntil(_ condition: () -> Bool, within limit: Duration = .seconds(5)) async throws {
        let end = ContinuousClock.now + limit
        while !condition() && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func dueDeadlinesFireAndCancelledOnesNever() async throws {
        let timer = DeadlineTimer()
        let firings = Firings()
        let start = ContinuousClock.now
        // From many threads at once: the timer is set under the same lock as the heap, so an
        // earlier deadline is never left behind a later one set by another thread.
        let tokens = Mutex<[Int: DeadlineTimer.Token]>([:])
        DispatchQueue.concurrentPerform(iterations: 400) { index in
            let token = timer.schedule(after: .milliseconds(100 + (index * 37) % 190)) { firings.record(index, since: start) }
            tokens.withLock { $0[index] = token }
        }
        // A loaded machine may let an early deadline come due before its cancel: `cancel`
        // says which it stopped, and exactly the others must fire.
        var cancelled = Set<Int>()
        for index in stride(from: 0, to: 400, by: 2) where timer.cancel(tokens.withLock { $0[index]! }) { cancelled.insert(index) }
        #expect(!cancelled.isEmpty, "every cancel came too late")
        try await Self.waitUntil { timer.pending == 0 && firings.all.count >= 400 - cancelled.count }
        try await Task.sleep(for: .milliseconds(100))
        let fired = firings.all
        #expect(fired.count == 400 - cancelled.count)
        #expect(Set(fired.map(\.id)) == Set(0..<400).subtracting(cancelled))
        for (id, late) in fired {
            #expect(late >= .milliseconds(100 + (id * 37) % 190), "deadline \(id) fired early: \(late)")
        }
        #expect(timer.pending == 0)
    }

    @Test func anEarlierDeadlineMovesTheTimerForward() async throws {
        let timer = DeadlineTimer()
        let firings = Firings()
        let start = ContinuousClock.now
        _ = timer.schedule(after: .seconds(3)) { firings.record(1, since: start) }
        _ = timer.schedule(after: .milliseconds(20)) { firings.record(2, since: start) }
        try await Self.waitUntil { !firings.all.isEmpty }
        let first = try #require(firings.all.first)
        #expect(first.id == 2)
        #expect(first.late < .seconds(2), "the 20 ms deadline waited for the 3 s one: \(first.late)")
    }

    @Test func cancelledDeadlinesDoNotHoldBackLiveOnes() async throws {
        let timer = DeadlineTimer()
        let firings = Firings()
        let start = ContinuousClock.now
        // As under load: thousands of runs finish long before their deadlines.
        // A loaded machine can stall this loop past a deadline before its cancel: those fire,
        // and are counted.
        var late = 0
        for _ in 0..<10_000 where !timer.cancel(timer.schedule(after: .milliseconds(30)) { firings.record(0, since: start) }) { late += 1 }
        #expect(timer.pending == 0)
        _ = timer.schedule(after: .milliseconds(60)) { firings.record(1, since: start) }
        try await Self.waitUntil { firings.all.contains { $0.id == 1 } }
        try await Task.sleep(for: .milliseconds(50))
        #expect(firings.all.filter { $0.id == 1 }.count == 1)
        #expect(firings.all.filter { $0.id == 0 }.count == late)
    }

    /// `ISOTime` writes what ISO8601DateFormatter wrote (internet date-time, milliseconds, UTC).
    @Test func isoTimeMatchesFoundationsFormatter() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 951_782_400.5), Date(timeIntervalSince1970: 1_764_633_600.999),
                     Date(timeIntervalSince1970: -1), Date(timeIntervalSince1970: 4_102_444_799.001), Date(timeIntervalSince1970: 1_709_164_800.0405)]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 { dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: 0...4_102_444_800_000, using: &random)) / 1000)) }
        for date in dates {
            #expect(ISOTime.string(date) == formatter.string(from: date), "\(date.timeIntervalSince1970)")
        }
    }

    /// `ISOTime.local` writes what a `yyyy-MM-dd HH:mm:ss` DateFormatter in the host's zone wrote.
    @Test func localTimeMatchesFoundationsFormatter() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        var dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.5), Date(timeIntervalSince1970: 1_764_633_600.999)]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 { dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: 0...4_102_444_800_000, using: &random)) / 1000)) }
        for date in dates {
            #expect(ISOTime.local(date) == formatter.string(from: date), "\(date.timeIntervalSince1970)")
        }
    }
}
