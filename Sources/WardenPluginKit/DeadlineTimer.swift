import Dispatch
import Synchronization

/// Every deadline in the daemon (a plugin run's, an HTTP exchange's, the writer's linger), on
/// one Dispatch timer.
///
/// A deadline per run used to be a `DispatchQueue.asyncAfter`: a timer source made, handed
/// to Dispatch's manager thread (an eventfd write and a wake-up) and fired seconds later as
/// a no-op, since nearly every run finishes first — several thread wake-ups per check at
/// thousands of checks a second. Here a deadline is a heap entry: cancelling one drops its
/// action at once and leaves a 16-byte entry that is skipped when it comes due, and the one
/// timer is re-armed only when the earliest live deadline changes.
///
/// The timer runs on a serial queue, which has an (overcommit) thread of its own: the global
/// queues on Linux share the width-limited pool that Swift's executor uses, so a busy pool
/// made a 300 ms timeout fire seconds late (measured 4.4–4.7 s under `make test`).
public final class DeadlineTimer: @unchecked Sendable {
    /// A scheduled deadline, for cancelling it.
    public struct Token: Sendable { fileprivate let id: UInt64 }

    private struct Entry {
        let due: UInt64
        let id: UInt64
    }

    private struct State {
        /// A binary min-heap on `due` (then `id`); cancelled entries stay until they surface.
        var heap: [Entry] = []
        var actions: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
        /// When the timer is set to fire (uptime nanoseconds); nil while it is idle.
        var armedFor: UInt64?
    }

    public static let shared = DeadlineTimer()

    private let queue = DispatchQueue(label: "warden.deadlines")
    /// `@unchecked` for this source alone: Dispatch's schedule calls are thread-safe.
    private let source: any DispatchSourceTimer
    private let state = Mutex(State())

    public init() {
        source = DispatchSource.makeTimerSource(flags: [.strict], queue: queue)
        source.setEventHandler { [weak self] in self?.fireDue() }
        source.activate()
    }

    /// Runs `action` on the deadline queue once `limit` has passed (capped at a year),
    /// unless cancelled first.
    public func schedule(after limit: Duration, _ action: @escaping @Sendable () -> Void) -> Token {
        let (seconds, attoseconds) = limit.components
        let nanoseconds = UInt64(max(0, min(seconds, 86_400 * 365))) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
        let due = DispatchTime.now().uptimeNanoseconds + nanoseconds
        // The timer is set under the lock: set outside it, two callers could set it in the
        // opposite order from the one `armedFor` records, and an earlier deadline fire late.
        return state.withLock { state in
            state.nextID += 1
            let entry = Entry(due: due, id: state.nextID)
            state.actions[entry.id] = action
            Self.push(entry, into: &state.heap)
            if state.armedFor.map({ due < $0 }) ?? true {
                state.armedFor = due
                source.schedule(deadline: DispatchTime(uptimeNanoseconds: due), leeway: .milliseconds(1))
            }
            return Token(id: entry.id)
        }
    }

    /// The action will not run (if it has not already). Returns false when it was too late:
    /// the action had fired, or was already cancelled.
    @discardableResult
    public func cancel(_ token: Token) -> Bool {
        state.withLock { $0.actions.removeValue(forKey: token.id) } != nil
    }

    /// Deadlines not yet cancelled or fired (tests).
    public var pending: Int { state.withLock { $0.actions.count } }

    private func fireDue() {
        let now = DispatchTime.now().uptimeNanoseconds
        let due: [@Sendable () -> Void] = state.withLock { state in
            var due: [@Sendable () -> Void] = []
            // Pop what is due and every cancelled entry on top, so the timer wakes only for a
            // live deadline.
            while let top = state.heap.first, top.due <= now || state.actions[top.id] == nil {
                Self.popFirst(from: &state.heap)
                if let action = state.actions.removeValue(forKey: top.id) { due.append(action) }
            }
            state.armedFor = state.heap.first?.due
            if let next = state.armedFor {
                source.schedule(deadline: DispatchTime(uptimeNanoseconds: next), leeway: .milliseconds(1))
            }
            return due
        }
        // Outside the lock: an action may schedule or cancel deadlines itself.
        due.forEach { $0() }
    }

    private static func precedes(_ a: Entry, _ b: Entry) -> Bool { (a.due, a.id) < (b.due, b.id) }

    private static func push(_ entry: Entry, into heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func popFirst(from heap: inout [Entry]) {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && precedes(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && precedes(heap[right], heap[smallest]) { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
