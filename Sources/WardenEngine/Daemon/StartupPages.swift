import Foundation

/// Gives the kernel back the executable's pages that only start-up touched.
///
/// Start-up runs code and reads data the daemon never needs again (43 plugins' schemas
/// compiled, the config read, the store migrated, Foundation's locale data): measured at 100
/// checks, 26 of the process's 40 MB resident were the binary's own text and read-only data,
/// most of it start-up's. Those pages are clean and file-backed, so reclaiming them costs
/// nothing but a fault for the few the steady state uses again (BENCHMARKS.md has the
/// figures).
///
/// Writable mappings of the file count too: the static Swift runtime merges its read-only
/// data, ICU's 34 MB among it, into a `.rodata` the linker marks writable. Only pages still
/// backed by the file are advised, read from `/proc/self/pagemap`; a page the process has
/// written is its own anonymous copy, and MADV_PAGEOUT would push that to swap.
enum StartupPages {
    /// Advises MADV_PAGEOUT (Linux 5.4) over every clean, file-backed page of the
    /// executable's mappings; returns the bytes advised. Failure is harmless (an older
    /// kernel keeps the pages), so it is ignored.
    @discardableResult
    static func release() -> Int {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
              let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return 0 }
        let pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        defer { if pagemap >= 0 { close(pagemap) } }
        var advised = 0
        for line in maps.split(separator: "\n") {
            // 55d0c1a00000-55d0c2e00000 r-xp 00000000 08:01 1234 /usr/bin/warden
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5] == executable, fields[1].hasSuffix("p"),
                  let dash = fields[0].firstIndex(of: "-"),
                  let start = UInt(fields[0][..<dash], radix: 16),
                  let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16) else { continue }
            let ranges = fields[1].contains("w")
                ? FileBackedPages.runs(in: start..<end, pagemap: pagemap)
                : [start..<end]
            for range in ranges {
                guard let address = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
                if madvise(address, Int(range.count), 21 /* MADV_PAGEOUT */) == 0 { advised += Int(range.count) }
            }
        }
        return advised
    }
}

/// Runs of pages in a private mapping that are resident and still the file's (never written).
enum FileBackedPages {
    static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

    /// `/proc/self/pagemap` holds 8 bytes per page: bit 63 present, bit 61 file-backed or
    /// shared. Without the file, nothing is advised.
    static func runs(in range: Range<UInt>, pagemap: Int32) -> [Range<UInt>] {
        guard pagemap >= 0, range.count > 0 else { return [] }
        let pages = Int(UInt(range.count) / pageSize)
        var entries = [UInt64](repeating: 0, count: pages)
        let wanted = pages * MemoryLayout<UInt64>.size
        let read = entries.withUnsafeMutableBytes { pread(pagemap, $0.baseAddress, wanted, off_t(range.lowerBound / pageSize * 8)) }
        guard read == wanted else { return [] }
        var runs: [Range<UInt>] = []
        var runStart: UInt?
        for (index, entry) in entries.enumerated() {
            let address = range.lowerBound + UInt(index) * pageSize
            let clean = entry & (1 << 63) != 0 && entry & (1 << 61) != 0
            if clean, runStart == nil { runStart = address }
            if !clean, let start = runStart {
                runs.append(start..<address)
                runStart = nil
            }
        }
        if let start = runStart { runs.append(start..<range.upperBound) }
        return runs
    }
}
