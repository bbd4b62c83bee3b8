import Foundation

/// Gives the kernel back the executable's pages that only start-up touched.
///
/// Start-up runs code and reads data the daemon never needs again (43 plugins' schemas
/// compiled, the config read, the store migrated, Foundation's locale data): measured at 100
/// checks, 26 of the process's 40 MB resident were the binary's own text and read-only data,
/// most of it start-up's. Those pages are clean and file-backed, so reclaiming them costs
/// nothing but a fault for the few the steady state uses again (BENCHMARKS.md has the
/// figures). Writable and anonymous memory is not touched.
enum StartupPages {
    /// `madvise(MADV_PAGEOUT)` (Linux 5.4) over the executable's read-only mappings; returns
    /// the bytes advised. Failure is harmless (an older kernel keeps the pages), so it is ignored.
    @discardableResult
    static func release() -> Int {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
              let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return 0 }
        var advised = 0
        for line in maps.split(separator: "\n") {
            // 55d0c1a00000-55d0c2e00000 r-xp 00000000 08:01 1234 /usr/bin/warden
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5] == executable, !fields[1].contains("w"),
                  let dash = fields[0].firstIndex(of: "-"),
                  let start = UInt(fields[0][..<dash], radix: 16), let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16),
                  let address = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            if madvise(address, Int(end - start), 21 /* MADV_PAGEOUT */) == 0 { advised += Int(end - start) }
        }
        return advised
    }
}
