import Foundation
import Testing
@testable import WardenEngine

/// The pages the daemon gives back after start-up: only ones the file still backs. (Not
/// `StartupPages.release()` itself here: paging out the test binary's own text stalled the
/// parallel suite's other tests for seconds; every daemon test runs it after READY=1.)
@Suite("Start-up pages")
struct StartupPagesTests {
    /// A private writable mapping of a real file, every page read, one written: the written
    /// page is the process's own copy and must not be advised (MADV_PAGEOUT would swap it).
    @Test func aWrittenPageOfAPrivateMappingIsLeftOut() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("startup-pages-\(getpid())").path
        let page = Int(FileBackedPages.pageSize)
        try Data(repeating: 7, count: 4 * page).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let descriptor = open(path, O_RDONLY)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let mapping = try #require(mmap(nil, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0))
        #expect(mapping != MAP_FAILED)
        defer { munmap(mapping, 4 * page) }
        var sum = 0
        for index in 0..<4 { sum += Int(mapping.load(fromByteOffset: index * page, as: UInt8.self)) }
        #expect(sum == 28)
        mapping.storeBytes(of: 1, toByteOffset: 2 * page, as: UInt8.self)

        let pagemap = open("/proc/self/pagemap", O_RDONLY)
        defer { close(pagemap) }
        let start = UInt(bitPattern: mapping)
        let runs = FileBackedPages.runs(in: start..<start + UInt(4 * page), pagemap: pagemap)
        #expect(runs == [start..<start + UInt(2 * page), start + UInt(3 * page)..<start + UInt(4 * page)])
    }
}
