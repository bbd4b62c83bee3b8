import Foundation
import Logging
import Synchronization

/// The daemon's one writer: runs are handed over without touching SQLite on the caller's
/// path, and a background task commits whatever has accumulated in one transaction (group
/// commit). The queue is bounded: when the disk falls behind, callers wait instead of the
/// daemon growing without limit or dropping results.
public final class HistoryWriter: Sendable {
    public static let defaultCapacity = 16_384
    static let maximumBatch = 2_048

    private enum Item: Sendable {
        case run(RunRecord)
        case flush(CheckedContinuation<Void, Never>)
    }

    private struct State: ~Copyable {
        var items: [Item] = []
        var pendingRuns = 0
        var consumer: CheckedContinuation<Void, Never>?
        var blockedProducers: [CheckedContinuation<Void, Never>] = []
        var closed = false
        /// The background task has ended: nothing queued will be written by it any more.
        var finished = false
    }

    private let store: HistoryStore
    private let logger: Logger
    private let capacity: Int
    private let state = Mutex(State())
    private let loop = Mutex<Task<Void, Never>?>(nil)
    /// Called after each committed batch with the runs and their ids (tests, issue 4's rules).
    private let onCommit: (@Sendable ([StoredRun]) -> Void)?

    public init(store: HistoryStore, logger: Logger, capacity: Int = HistoryWriter.defaultCapacity, onCommit: (@Sendable ([StoredRun]) -> Void)? = nil) {
        self.store = store
        self.logger = logger
        self.capacity = max(1, capacity)
        self.onCommit = onCommit
        let task = Task { [self] in await self.run() }
        loop.withLock { $0 = task }
    }

    /// Queues a run for the next commit; waits only while the queue is full.
    public func record(_ run: RunRecord) async {
        enum Outcome { case queued(CheckedContinuation<Void, Never>?), full, finished }
        while true {
            let outcome: Outcome = state.withLock { state in
                if state.finished { return .finished }
                guard state.pendingRuns < capacity || state.closed else { return .full }
                state.items.append(.run(run))
                state.pendingRuns += 1
                defer { state.consumer = nil }
                return .queued(state.consumer)
            }
            switch outcome {
            case .queued(let wake):
                wake?.resume()
                return
            case .finished:
                // Too late for the background task: write it here rather than lose it.
                await commit([run])
                return
            case .full:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready: Bool = state.withLock { state in
                        if state.pendingRuns < capacity || state.finished { return true }
                        state.blockedProducers.append(continuation)
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
    }

    /// Returns once every run recorded before the call is committed.
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (wake, finished): (CheckedContinuation<Void, Never>?, Bool) = state.withLock { state in
                if state.finished { return (nil, true) }
                state.items.append(.flush(continuation))
                defer { state.consumer = nil }
                return (state.consumer, false)
            }
            if finished { continuation.resume() }
            wake?.resume()
        }
    }

    /// Commits everything queued and stops the background task.
    public func close() async {
        let wake: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.closed = true
            defer { state.consumer = nil }
            return state.consumer
        }
        wake?.resume()
        await loop.withLock { $0 }?.value
    }

    private func run() async {
        while let batch = await nextBatch() {
            let runs = batch.compactMap { item -> RunRecord? in
                if case .run(let run) = item { return run }
                return nil
            }
            if !runs.isEmpty { await commit(runs) }
            for item in batch {
                if case .flush(let continuation) = item { continuation.resume() }
            }
        }
    }

    private func commit(_ runs: [RunRecord]) async {
        // A failed commit is retried a few times (a long-running reader holding a lock, a
        // full disk being cleared); the runs stay in memory meanwhile.
        for attempt in 1...5 {
            do {
                let ids = try store.insert(runs)
                if let onCommit { onCommit(zip(ids, runs).map { StoredRun(id: $0, record: $1) }) }
                return
            } catch {
                logger.error("history write failed", metadata: [
                    "attempt": "\(attempt)", "runs": "\(runs.count)", "error": "\(HistoryStore.describe(error))",
                ])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        logger.critical("history write failed 5 times; \(runs.count) runs were not stored")
    }

    /// Up to `maximumBatch` items, waiting while there are none; nil once closed and empty.
    private func nextBatch() async -> [Item]? {
        enum Take { case batch([Item], wake: [CheckedContinuation<Void, Never>]), done([CheckedContinuation<Void, Never>]), empty }
        while true {
            let take: Take = state.withLock { state in
                if state.items.isEmpty {
                    guard state.closed else { return .empty }
                    // Decided under the lock: from here on `record` writes for itself.
                    state.finished = true
                    defer { state.blockedProducers = [] }
                    return .done(state.blockedProducers)
                }
                let count = min(state.items.count, Self.maximumBatch)
                let batch = Array(state.items.prefix(count))
                state.items.removeFirst(count)
                state.pendingRuns -= batch.reduce(0) { if case .run = $1 { return $0 + 1 } else { return $0 } }
                defer { state.blockedProducers = [] }
                return .batch(batch, wake: state.blockedProducers)
            }
            switch take {
            case .batch(let batch, let producers):
                producers.forEach { $0.resume() }
                return batch
            case .done(let producers):
                producers.forEach { $0.resume() }
                return nil
            case .empty:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready: Bool = state.withLock { state in
                        if !state.items.isEmpty || state.closed { return true }
                        state.consumer = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
    }
}
