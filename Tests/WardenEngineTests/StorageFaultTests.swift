import Foundation
import GRDB
import Synchronization
import Testing
import WardenPluginKit
import WardenTestSupport
@testable import WardenEngine

/// The writer under real storage faults: a database file that refuses writes through open
/// descriptors, a full filesystem, a deleted write-ahead log. Nothing is lost silently.
@Suite("storage faults", .enabled(if: RealParts.available(LoopFilesystem.available), "needs root, loop devices and e2fsprogs"))
struct StorageFaultTests {
    final class Observed: Sendable {
        private let runs = Mutex<[ObservedRun]>([])
        func add(_ new: [ObservedRun]) { runs.withLock { $0 += new } }
        var all: [ObservedRun] { runs.withLock { $0 } }
    }

    static func run(_ index: Int, job: String = "probe") -> RunRecord {
        HistoryStoreTests.run(job, index.isMultiple(of: 3) ? .critical : .ok, at: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)))
    }

    static func count(_ store: HistoryStore, _ sql: String = "SELECT count(*) FROM runs") throws -> Int {
        try store.reader.read { db in try Int.fetchOne(db, sql: sql) ?? -1 }
    }

    static func waitUntilFailing(_ writer: HistoryWriter) async -> Bool {
        for _ in 0..<200 {
            if writer.health.failingSince != nil { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test func aReadOnlyDatabaseKeepsEveryRunAndRulesStillSeeThem() async throws {
        let filesystem = try LoopFilesystem(megabytes: 32)
        defer { filesystem.unmount() }
        let path = filesystem.mountPoint + "/history.db"
        let store = try HistoryStore.openForWriting(path: path, busyTimeout: 1)
        let observed = Observed()
        let writer = HistoryWriter(store: store, logger: testLogger, onObserve: observed.add)
        Task { await writer.run() }
        for index in 0..<5 { writer.record(Self.run(index)) }
        await writer.flush()

        try filesystem.freeze([path, path + "-wal"])
        for index in 5..<205 { writer.record(Self.run(index)) }
        #expect(await Self.waitUntilFailing(writer))
        // Before a single commit succeeds, the rules have seen every run (without an id).
        try await Task.sleep(for: .milliseconds(300))
        #expect(observed.all.count == 205)
        #expect(observed.all.suffix(200).allSatisfy { $0.id == nil })
        #expect(writer.health.buffered == 200)

        try filesystem.thaw([path, path + "-wal"])
        await writer.flush()
        #expect(try Self.count(store) == 205)
        #expect(writer.health.failingSince == nil && writer.health.dropped == 0)
        // Each run was observed exactly once, in order.
        #expect(observed.all.map(\.record.scheduledAt) == (0..<205).map { Self.run($0).scheduledAt })
        #expect(try Self.count(store, "SELECT count(*) FROM history_gaps") == 0)
        await writer.close()
        try store.close()
    }

    @Test func pastItsBoundTheWriterDropsTheOldestCountsEveryOneAndRecordsTheGap() async throws {
        let filesystem = try LoopFilesystem(megabytes: 32)
        defer { filesystem.unmount() }
        let path = filesystem.mountPoint + "/history.db"
        let store = try HistoryStore.openForWriting(path: path, busyTimeout: 1)
        let writer = HistoryWriter(store: store, logger: testLogger, bound: .init(runs: 50, bytes: 1 << 30))
        Task { await writer.run() }
        try filesystem.freeze([path, path + "-wal"])
        writer.record(Self.run(0))
        #expect(await Self.waitUntilFailing(writer))
        for index in 1..<300 { writer.record(Self.run(index)) }
        let health = writer.health
        #expect(health.buffered == 50)
        #expect(health.dropped == 250)

        try filesystem.thaw([path, path + "-wal"])
        await writer.flush()
        let stored = try Self.count(store)
        #expect(stored + writer.health.dropped == 300)
        #expect(stored == 50)
        // The newest runs are kept.
        let newest = try await store.reader.read { db in try Int64.fetchOne(db, sql: "SELECT max(scheduled_at) FROM runs") }
        #expect(newest == Self.run(299).scheduledAt.epochMilliseconds)
        let gap = try store.reader.read { db in try Row.fetchOne(db, sql: "SELECT sum(dropped) AS dropped, min(first_at) AS first, max(last_at) AS last, min(reason) AS reason FROM history_gaps") }
        #expect(gap?["dropped"] == 250)
        #expect((gap?["reason"] as String?)?.contains("refused writes") == true)
        let first: Int64? = gap?["first"]
        // Run 0 waited for a retry, not in flight: as the oldest, it went first.
        #expect(first == Self.run(0).scheduledAt.epochMilliseconds)
        await writer.close()
        try store.close()
    }

    @Test func aFullFilesystemKeepsEveryRunUntilThereIsRoomAgain() async throws {
        let filesystem = try LoopFilesystem(megabytes: 16)
        defer { filesystem.unmount() }
        let path = filesystem.mountPoint + "/history.db"
        let store = try HistoryStore.openForWriting(path: path, busyTimeout: 1)
        let writer = HistoryWriter(store: store, logger: testLogger)
        Task { await writer.run() }
        writer.record(Self.run(0))
        await writer.flush()
        let filler = try filesystem.fill()
        // Runs with large messages, so that the write-ahead log must grow.
        for index in 1..<400 {
            var run = Self.run(index)
            run.message = String(repeating: "x", count: 8_192)
            writer.record(run)
        }
        #expect(await Self.waitUntilFailing(writer))
        #expect(writer.health.lastError?.contains("full") == true, "\(writer.health)")
        try FileManager.default.removeItem(atPath: filler)
        await writer.flush()
        #expect(try Self.count(store) == 400)
        #expect(writer.health.dropped == 0 && writer.health.failingSince == nil)
        await writer.close()
        try store.close()
    }

    @Test func aDeletedWriteAheadLogIsCheckpointedAndReopenedAndReadersRecover() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("history.db")
        let store = try HistoryStore.openForWriting(path: path)
        let writer = HistoryWriter(store: store, logger: testLogger)
        Task { await writer.run() }
        for index in 0..<20 { writer.record(Self.run(index)) }
        await writer.flush()
        try FileManager.default.removeItem(atPath: path + "-wal")
        for index in 20..<40 { writer.record(Self.run(index)) }
        await writer.flush()
        // A new reader (the CLI) sees every run: those from the vanished log too.
        let reader = try HistoryStore.openForReading(path: path)
        #expect(try Self.count(reader) == 40)
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        await writer.close()
        try store.close()
    }
}
