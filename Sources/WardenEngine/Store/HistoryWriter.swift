import Foundation
import Logging
import Synchronization
import WardenPluginKit

/// The daemon's one writer. Runs are handed over without touching SQLite on the caller's
/// path (`record` never waits), and a background task commits whatever has accumulated in
/// one transaction (group commit), on a Dispatch thread.
///
/// When the database refuses writes (read-only, full, locked), the runs stay in a buffer
/// bounded by `Bound` and the commit is retried, with back-off, until it succeeds. Meanwhile
/// each run is handed to `onObserve` without an id, so failures are still logged and rules
/// still evaluate. Only past the bound are runs dropped, oldest first: each drop is counted,
/// logged at error level, kept in `health` (for `STATUS=`), and the stretch is written to
/// `history_gaps` by the first commit that succeeds.
public final class HistoryWriter: Sendable {
    /// What the buffer holds at most (docs/operations.md).
    public struct Bound: Sendable {
        public var runs: Int
        public var bytes: Int

        public init(runs: Int, bytes: Int) {
            self.runs = max(1, runs)
            self.bytes = max(1, bytes)
        }

        /// About 30 minutes of 200 jobs at 5 s, within 64 MiB.
        public static let standard = Bound(runs: 16_384, bytes: 64 << 20)
    }

    /// For `STATUS=` and tests.
    public struct Health: Sendable, Equatable {
        /// Since when commits fail; nil while they succeed.
        public var failingSince: Date?
        public var lastError: String?
        /// Runs waiting to be committed.
        public var buffered: Int
        /// Runs dropped since the daemon started.
        public var dropped: Int
    }

    static let maximumBatch = 2_048
    /// A commit stops waiting for company once it holds this many runs: at 10,000 checks a
    /// second, commits of 2,048 cost 5 % more CPU and 11 MB more than commits of ~1,000, and
    /// the pages a commit writes once (`job_state`, the tables' tails) are already shared by
    /// a thousand runs (BENCHMARKS.md, "The commit-window run").
    static let fullBatch = 1_024
    static let firstRetry = Duration.milliseconds(250)
    static let longestRetry = Duration.seconds(5)

    private struct Pending: Sendable {
        var sequence: Int64
        var run: RunRecord
        var bytes: Int
        /// Already handed to `onObserve` (without an id) while writes failed.
        var observed: Bool
    }

    private struct State: ~Copyable {
        var pending: [Pending] = []
        /// The first `inFlight` pending runs are being committed: they are never dropped.
        var inFlight = 0
        var bytes = 0
        var nextSequence: Int64 = 1
        var flushWaiters: [(sequence: Int64, giveUpAt: ContinuousClock.Instant?, done: OneShot<Void>)] = []
        /// The loop, waiting for runs to commit.
        var consumer: OneShot<Void>?
        var closed = false
        var closeDeadline: ContinuousClock.Instant?
        /// `run()` has begun: a second call, or `close()`, must not start another loop.
        var running = false
        var finished = false
        /// `close()` callers waiting for the loop to end.
        var closeWaiters: [OneShot<Void>] = []
        /// `commit(_:)` callers waiting for their run's id (nil if it is dropped).
        var idWaiters: [Int64: OneShot<Int64?>] = [:]
        var failingSince: Date?
        var lastError: String?
        var lastFailureLog: ContinuousClock.Instant?
        var dropped = 0
        /// Drops not yet written to `history_gaps`.
        var gap: HistoryGap?

        /// When the oldest uncommitted run arrived, while the writer lingers for more.
        var firstPendingAt: ContinuousClock.Instant?
        /// The writer waits out its group-commit window: a new run alone does not wake it,
        /// unless it fills the batch (`fullBatch`).
        var lingering = false
        /// How long a commit waits for more runs after the first (the daemon's: `commitWindow`).
        var linger: Duration
        /// Every run up to this sequence is committed or dropped.
        var settledThrough: Int64 { (pending.first?.sequence ?? nextSequence) - 1 }
    }

    private let store: HistoryStore
    private let logger: Logger
    private let bound: Bound
    private let closeTimeout: Duration
    private let state: Mutex<State>
    /// Each run once, in order: at its commit (with its id), or earlier without one while
    /// commits fail. Called under the writer's lock to keep that order: it must not block.
    private let onObserve: (@Sendable ([ObservedRun]) -> Void)?
    /// Where a `storage_fault` notification goes once writes succeed again (`daemon.notify`).
    private let troubleRoute: @Sendable () -> NotificationRoute?
    private let commits = BlockingQueue(label: "warden.history-writer")

    /// At 100 checks a second, a commit per run woke the writer, its queue and the run observer
    /// for each check: most of what a check cost at low rates (BENCHMARKS.md).
    static let shortestCommitWindow = Duration.milliseconds(100)
    static let longestCommitWindow = Duration.seconds(1)

    /// How long the daemon's commits wait for more runs: a millisecond a job, from 100 ms to a
    /// second. Every commit writes each page of `job_state` its runs touch, and the tails of
    /// `runs` and its time index, to the log: at 1,000 jobs (16 pages of state) a 100 ms commit
    /// of ~100 runs wrote 1.53 log frames a run, a one-second commit 1.22 (BENCHMARKS.md). The
    /// price is when runs reach the database, the journal and the rules: within a second,
    /// not 100 ms, for a config of 1,000 jobs or more. A remediation's re-check does not wait.
    static func commitWindow(forJobs jobs: Int) -> Duration {
        min(max(.milliseconds(jobs), shortestCommitWindow), longestCommitWindow)
    }

    public init(
        store: HistoryStore, logger: Logger, bound: Bound = .standard, closeTimeout: Duration = .seconds(10), linger: Duration = .zero,
        troubleRoute: @escaping @Sendable () -> NotificationRoute? = { nil },
        onObserve: (@Sendable ([ObservedRun]) -> Void)? = nil
    ) {
        self.store = store
        self.logger = logger
        self.bound = bound
        self.closeTimeout = closeTimeout
        state = Mutex(State(linger: linger))
        self.troubleRoute = troubleRoute
        self.onObserve = onObserve
    }

    /// A reload's new window, from the next batch on (one lingering now keeps its own).
    public func setLinger(_ linger: Duration) {
        state.withLock { $0.linger = linger }
    }

    public var health: Health {
        state.withLock { Health(failingSince: $0.failingSince, lastError: $0.lastError, buffered: $0.pending.count, dropped: $0.dropped) }
    }

    /// Queues a run for the next commit. Never waits: past the bound the oldest run goes.
    public func record(_ run: RunRecord) {
        enqueue(run, waiter: nil)
    }

    /// Queues a run like `record` and waits for its commit: its id, or nil when it was dropped
    /// or the writer closed first. For runs whose id goes into another row (a remediation's
    /// verification run), so that every run still reaches the database through the writer.
    public func commit(_ run: RunRecord) async -> Int64? {
        let id = OneShot<Int64?>()
        enqueue(run, waiter: id)
        return await id.value()
    }

    private func enqueue(_ run: RunRecord, waiter: OneShot<Int64?>?) {
        let bytes = run.approximateBytes
        let (wake, dropped, finished, unanswered): (OneShot<Void>?, [Pending], Bool, [OneShot<Int64?>]) = state.withLock { state in
            if state.finished { return (nil, [], true, waiter.map { [$0] } ?? []) }
            let failing = state.failingSince != nil
            if failing { onObserve?([ObservedRun(id: nil, record: run)]) }
            // The first run beyond the batch being committed opens the next window (runs that
            // arrive during a commit wait for company too, rather than going out alone after it).
            if state.pending.count == state.inFlight { state.firstPendingAt = .now }
            state.pending.append(Pending(sequence: state.nextSequence, run: run, bytes: bytes, observed: failing))
            if let waiter { state.idWaiters[state.nextSequence] = waiter }
            state.nextSequence += 1
            state.bytes += bytes
            let dropped = dropOverflow(&state)
            let unanswered = dropped.compactMap { state.idWaiters.removeValue(forKey: $0.sequence) }
            // A lingering writer wakes for a run whose id someone awaits, or a full batch.
            guard !state.lingering || waiter != nil || state.pending.count >= Self.fullBatch else { return (nil, dropped, false, unanswered) }
            defer { state.consumer = nil }
            return (state.consumer, dropped, false, unanswered)
        }
        unanswered.forEach { $0.deliver(nil) }
        if finished {
            // After close (nothing should record then): said, not silently lost.
            logger.error("a run was recorded after the history writer closed and is not stored", metadata: [
                "job": .string(run.job), "message_id": .string(MessageID.historyRunsDropped),
            ])
            return
        }
        logDrops(dropped)
        wake?.deliver(())
    }

    /// Returns once every run recorded before the call is committed (or dropped); with a
    /// limit, also once writes have failed for that long (shutdown cannot wait for a disk).
    public func flush(giveUpAfter limit: Duration? = nil) async {
        let done = OneShot<Void>()
        let (settled, wake): (Bool, OneShot<Void>?) = state.withLock { state in
            let target = state.nextSequence - 1
            if state.finished || state.settledThrough >= target { return (true, nil) }
            state.flushWaiters.append((target, limit.map { .now + $0 }, done))
            defer { state.consumer = nil }
            return (false, state.consumer)
        }
        if settled { return }
        wake?.deliver(())
        await done.value()
    }

    /// Commits everything queued and stops. While the database refuses writes it keeps
    /// trying for `closeTimeout`; what is still unwritten then is counted and logged.
    public func close() async {
        let closed = OneShot<Void>()
        let (wake, running, waiting): (OneShot<Void>?, Bool, Bool) = state.withLock { state in
            state.closed = true
            state.closeDeadline = .now + closeTimeout
            let waiting = state.running && !state.finished
            if waiting { state.closeWaiters.append(closed) }
            defer { state.consumer = nil }
            return (state.consumer, state.running, waiting)
        }
        wake?.deliver(())
        // Nobody runs the loop (a caller that only records and closes): close runs it here.
        guard running else { return await run() }
        if waiting { await closed.value() }
    }

    // MARK: the loop

    /// Commits until `close()`: the owner runs this as a child task (the daemon's middle
    /// ring), so the loop never outlives it. A second call returns at once.
    public func run() async {
        let first: Bool = state.withLock { state in
            defer { state.running = true }
            return !state.running
        }
        guard first else { return }
        var delay = Self.firstRetry
        while let batch = await nextBatch() {
            let gap = state.withLock { $0.gap }
            let runs = batch.map(\.run)
            let store = self.store
            do {
                let (reopened, ids) = try await commits.run { (try store.reopenIfWALReplaced(), try store.insert(runs, gap: gap)) }
                if reopened {
                    logger.error("the database's write-ahead log (\(store.path)-wal) was deleted or replaced; its frames were checkpointed into the database and the connection reopened", metadata: [
                        "message_id": .string(MessageID.historyWALReopened),
                    ])
                }
                if let recovered = committed(batch, ids: ids, gap: gap), let since = recovered.failingSince {
                    // People hear of it now that it can be written down.
                    let event = NotificationEvent(
                        kind: .storageFault,
                        message: "history writes failed for \(Int(Date().timeIntervalSince(since)))s (\(recovered.lastError ?? "unknown error")); \(recovered.dropped) runs dropped since start",
                        at: Date()
                    )
                    let route = troubleRoute()
                    do {
                        try await commits.run { try store.enqueue(event, route: route) }
                    } catch {
                        logger.error("cannot queue the storage-fault notification: \(HistoryStore.describe(error))")
                    }
                }
                delay = Self.firstRetry
            } catch {
                if failed(error) { break }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, Self.longestRetry)
            }
        }
        let (waiters, closers, unanswered) = state.withLock { state in
            state.finished = true
            defer { state.flushWaiters = []; state.closeWaiters = []; state.idWaiters = [:] }
            return (state.flushWaiters.map(\.done), state.closeWaiters, Array(state.idWaiters.values))
        }
        waiters.forEach { $0.deliver(()) }
        closers.forEach { $0.deliver(()) }
        unanswered.forEach { $0.deliver(nil) }
    }

    /// The next runs to commit, marked in flight; waits while there are none; nil once closed
    /// and empty.
    private func nextBatch() async -> [Pending]? {
        while true {
            enum Next { case batch([Pending]?), linger(Duration), wait }
            let lingering = OneShot<Void>()
            let next: Next = state.withLock { state in
                if state.pending.isEmpty { return state.closed ? .batch(nil) : .wait }
                // Group commit: a batch waits up to `linger` after its first run for more, unless
                // someone waits for it (flush, close, a run's id) or it is full already. New runs
                // do not cut the wait short; a flush, a close, a run's id waiter or a full batch does.
                let now = ContinuousClock.now
                if let since = state.firstPendingAt, !state.closed, state.flushWaiters.isEmpty, state.idWaiters.isEmpty,
                   state.failingSince == nil, state.pending.count < Self.fullBatch, now < since + state.linger {
                    state.consumer = lingering
                    state.lingering = true
                    return .linger(since + state.linger - now)
                }
                state.inFlight = min(state.pending.count, Self.maximumBatch)
                return .batch(Array(state.pending.prefix(state.inFlight)))
            }
            switch next {
            case .batch(let batch): return batch
            case .linger(let remaining):
                let timer = DeadlineTimer.shared.schedule(after: remaining) { lingering.deliver(()) }
                await lingering.value()
                DeadlineTimer.shared.cancel(timer)
                state.withLock { state in
                    state.firstPendingAt = nil
                    state.lingering = false
                    if state.consumer === lingering { state.consumer = nil }
                }
                continue
            case .wait: break
            }
            let wake = OneShot<Void>()
            let ready: Bool = state.withLock { state in
                if !state.pending.isEmpty || state.closed { return true }
                state.consumer = wake
                return false
            }
            if !ready { await wake.value() }
        }
    }

    /// Returns the health while it failed, when this commit ended a failure.
    @discardableResult
    private func committed(_ batch: [Pending], ids: [Int64], gap: HistoryGap?) -> Health? {
        var answered: [(OneShot<Int64?>, Int64)] = []
        let (recovered, waiters): (Health?, [OneShot<Void>]) = state.withLock { state in
            state.pending.removeFirst(batch.count)
            state.inFlight = 0
            state.bytes -= batch.reduce(0) { $0 + $1.bytes }
            if let gap { state.gap = state.gap?.subtracting(gap) }
            answered = zip(ids, batch).compactMap { id, pending in state.idWaiters.removeValue(forKey: pending.sequence).map { ($0, id) } }
            let unseen = zip(ids, batch).filter { !$0.1.observed }.map { ObservedRun(id: $0.0, record: $0.1.run) }
            if !unseen.isEmpty { onObserve?(unseen) }
            var recovered: Health?
            if let since = state.failingSince {
                recovered = Health(failingSince: since, lastError: state.lastError, buffered: state.pending.count, dropped: state.dropped)
                state.failingSince = nil
                state.lastFailureLog = nil
            }
            return (recovered, settledWaiters(&state))
        }
        waiters.forEach { $0.deliver(()) }
        for (waiter, id) in answered { waiter.deliver(id) }
        if let gap {
            logger.error("history gap recorded: \(gap.dropped) runs were dropped while the database refused writes", metadata: [
                "dropped": "\(gap.dropped)", "reason": .string(gap.reason), "message_id": .string(MessageID.historyRunsDropped),
            ])
        }
        if let recovered, let since = recovered.failingSince {
            logger.notice("history writes succeed again after \(Int(Date().timeIntervalSince(since)))s; \(recovered.buffered) buffered runs left to write", metadata: [
                "message_id": .string(MessageID.historyWriteRecovered), "dropped_total": "\(recovered.dropped)",
            ])
        }
        return recovered
    }

    /// Handles a failed commit; returns true when the writer gives up (closing, past its
    /// deadline), having counted and logged what it could not write.
    private func failed(_ error: any Error) -> Bool {
        let description = HistoryStore.describe(error)
        let now = ContinuousClock.now
        let (log, first, buffered, givenUp, waiters): (Bool, Bool, Int, [Pending], [OneShot<Void>]) = state.withLock { state in
            state.inFlight = 0
            let expired = state.flushWaiters.filter { $0.giveUpAt.map { now >= $0 } ?? false }.map(\.done)
            state.flushWaiters.removeAll { $0.giveUpAt.map { now >= $0 } ?? false }
            defer { expired.forEach { $0.deliver(()) } }
            state.lastError = description
            let first = state.failingSince == nil
            if first { state.failingSince = Date() }
            // From now on the rules see runs as they come, not when they commit.
            var unseen: [ObservedRun] = []
            for index in state.pending.indices where !state.pending[index].observed {
                state.pending[index].observed = true
                unseen.append(ObservedRun(id: nil, record: state.pending[index].run))
            }
            if !unseen.isEmpty { onObserve?(unseen) }
            let log = state.lastFailureLog.map { now - $0 >= .seconds(30) } ?? true
            if log { state.lastFailureLog = now }
            var givenUp: [Pending] = []
            if let deadline = state.closeDeadline, now >= deadline {
                givenUp = state.pending
                state.pending = []
                state.bytes = 0
                state.dropped += givenUp.count
            }
            return (log, first, state.pending.count, givenUp, givenUp.isEmpty ? [] : settledWaiters(&state))
        }
        if !givenUp.isEmpty {
            waiters.forEach { $0.deliver(()) }
            logger.critical("\(givenUp.count) runs could not be stored before shutdown: \(description)", metadata: [
                "dropped": "\(givenUp.count)", "message_id": .string(MessageID.historyRunsDropped),
            ])
            return true
        }
        if log {
            logger.error("\(first ? "history write failed" : "history writes still failing"): \(description); \(buffered) runs buffered in memory (bound: \(bound.runs) runs, \(bound.bytes >> 20) MiB), retrying", metadata: [
                "message_id": .string(MessageID.historyWriteFailing), "buffered": "\(buffered)",
            ])
        }
        return false
    }

    /// Past the bound: drops the oldest runs not being committed, and counts them.
    private func dropOverflow(_ state: inout State) -> [Pending] {
        var dropped: [Pending] = []
        while (state.pending.count > bound.runs || state.bytes > bound.bytes) && state.pending.count > state.inFlight {
            let run = state.pending.remove(at: state.inFlight)
            state.bytes -= run.bytes
            dropped.append(run)
        }
        guard !dropped.isEmpty else { return [] }
        state.dropped += dropped.count
        let reason = state.lastError.map { "the database refused writes: \($0)" } ?? "the write buffer was full"
        for run in dropped {
            state.gap = (state.gap ?? HistoryGap(firstAt: run.run.scheduledAt, lastAt: run.run.scheduledAt, dropped: 0, reason: reason)).adding(run.run.scheduledAt)
        }
        // A dropped run the rules have not seen yet is still shown to them.
        let unseen = dropped.filter { !$0.observed }.map { ObservedRun(id: nil, record: $0.run) }
        if !unseen.isEmpty { onObserve?(unseen) }
        settledWaiters(&state).forEach { $0.deliver(()) }
        return dropped
    }

    private func logDrops(_ dropped: [Pending]) {
        guard !dropped.isEmpty else { return }
        let (total, stretch) = state.withLock { ($0.dropped, $0.gap?.dropped ?? dropped.count) }
        // The first drop of a stretch, then one line per 1,000: the count is in STATUS= anyway.
        guard stretch == dropped.count || stretch / 1_000 != (stretch - dropped.count) / 1_000 else { return }
        logger.error("history buffer full (\(bound.runs) runs or \(bound.bytes >> 20) MiB): dropping the oldest runs; \(stretch) dropped in this stretch, \(total) since start", metadata: [
            "job": .string(dropped[0].run.job), "dropped_total": "\(total)", "message_id": .string(MessageID.historyRunsDropped),
        ])
    }

    private func settledWaiters(_ state: inout State) -> [OneShot<Void>] {
        let settled = state.settledThrough
        let ready = state.flushWaiters.filter { $0.sequence <= settled }.map(\.done)
        state.flushWaiters.removeAll { $0.sequence <= settled }
        return ready
    }
}

/// A stretch of dropped runs, written to `history_gaps`.
public struct HistoryGap: Sendable, Equatable {
    public var firstAt: Date
    public var lastAt: Date
    public var dropped: Int
    public var reason: String

    func adding(_ scheduledAt: Date) -> HistoryGap {
        HistoryGap(firstAt: min(firstAt, scheduledAt), lastAt: max(lastAt, scheduledAt), dropped: dropped + 1, reason: reason)
    }

    /// What is left to record after `written` was: drops that happened during its commit.
    func subtracting(_ written: HistoryGap) -> HistoryGap? {
        dropped > written.dropped ? HistoryGap(firstAt: written.lastAt, lastAt: lastAt, dropped: dropped - written.dropped, reason: reason) : nil
    }
}

extension RunRecord {
    /// What a buffered run costs in memory, roughly: the bound counts it.
    var approximateBytes: Int {
        256 + job.utf8.count + plugin.utf8.count + message.utf8.count + (error?.utf8.count ?? 0) + data.approximateBytes
            + attempts.reduce(0) { $0 + 96 + $1.message.utf8.count + ($1.error?.utf8.count ?? 0) }
    }
}

extension JSONValue {
    var approximateBytes: Int {
        switch self {
        case .null, .bool, .int, .double: return 16
        case .string(let text): return 16 + text.utf8.count
        case .array(let items): return items.reduce(32) { $0 + $1.approximateBytes }
        case .object(let members): return members.reduce(48) { $0 + 16 + $1.key.utf8.count + $1.value.approximateBytes }
        }
    }
}
