import Foundation
import NIOCore
import NIOPosix
import Subprocess
import SystemPackage
import Testing
import WardenPluginKit
import WardenPlugins
import WardenTestSupport

@Suite("host and network checks")
struct HostPluginTests {
    func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-host-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func diskUsageReportsTheFilesystem() async throws {
        let result = try await run(DiskUsagePlugin(), ["path": .string(FileManager.default.temporaryDirectory.path)])
        #expect(result.success)
        let total = try #require(result.data["total_bytes"]?.intValue)
        let free = try #require(result.data["free_bytes"]?.intValue)
        #expect(total > 0 && free > 0 && free <= total)
        let percent = try #require(result.data["used_percent"]?.doubleValue)
        #expect(percent >= 0 && percent <= 100)
        let strict = try await run(DiskUsagePlugin(), ["path": "/", "min_free_bytes": .int(Int.max / 2)])
        #expect(!strict.success && strict.error?.contains("free (min") == true && strict.effectiveSeverity == .critical)
        // Past the warn threshold but under the max: a warning.
        let warned = try await run(DiskUsagePlugin(), ["path": "/", "warn_used_percent": 0, "warn_inodes_used_percent": 0, "max_used_percent": 100, "max_inodes_used_percent": 100])
        #expect(!warned.success && warned.effectiveSeverity == .warning && warned.error?.contains("(warn 0%)") == true, "\(warned)")
        let missing = try await run(DiskUsagePlugin(), ["path": "/nonexistent/path"])
        #expect(!missing.success && missing.error?.contains("No such file") == true)
    }

    @Test func loadAverageIsPerCore() async throws {
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let fixture = try temporaryFile("\(Double(cores) * 3) 1.00 0.50 2/345 6789\n")
        defer { try? FileManager.default.removeItem(atPath: fixture) }
        let result = try await run(LoadAveragePlugin(), ["proc_loadavg": .string(fixture), "max_per_core_1m": 2])
        #expect(!result.success)
        #expect(result.data["per_core_1m"] == 3.0 && result.data["cores"] == .int(cores))
        #expect(result.data["running"] == 2 && result.data["processes"] == 345)
        #expect(result.error?.hasPrefix("1m load per CPU 3.00 > 2.00") == true && result.effectiveSeverity == .critical)
        // Past the warn threshold only: a warning.
        let warned = try await run(LoadAveragePlugin(), ["proc_loadavg": .string(fixture), "max_per_core_5m": 100, "warn_per_core_5m": 0.1])
        #expect(!warned.success && warned.effectiveSeverity == .warning, "\(warned)")
        let real = try await run(LoadAveragePlugin(), ["max_per_core_5m": 1000])
        #expect(real.success && real.data["load_1m"]?.doubleValue != nil)
    }

    @Test func memoryThresholds() async throws {
        let fixture = try temporaryFile("MemTotal: 1000000 kB\nMemFree: 10000 kB\nMemAvailable: 50000 kB\nSwapTotal: 200000 kB\nSwapFree: 20000 kB\n")
        defer { try? FileManager.default.removeItem(atPath: fixture) }
        let result = try await run(MemoryPlugin(), ["proc_meminfo": .string(fixture)])
        #expect(!result.success)
        #expect(result.data["available_percent"] == 5.0 && result.data["swap_used_percent"] == 90.0)
        #expect(result.error == "5.0% available (min 10%); 90.0% of swap used (max 80%)")
        let real = try await run(MemoryPlugin(), ["min_available_percent": 0, "max_swap_used_percent": 100])
        #expect(real.success && (real.data["total_bytes"]?.intValue ?? 0) > 0)
    }

    @Test func processRunningByPatternNameAndPidFile() async throws {
        // A unique, valid duration makes the command line unique: `sleep 300.<random digits>`.
        let marker = "300.\(UInt32.random(in: 10_000_000...99_999_999))"
        let pidFile = try temporaryFile("")
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        // A real child, in the background of a shell that exits.
        let result = try await Subprocess.run(.path("/bin/sh"), arguments: ["-c", "sleep \(marker) >/dev/null 2>&1 & echo $! > \(pidFile)"], output: .discarded)
        #expect(result.terminationStatus.isSuccess)
        let pid = try #require(await readPid(pidFile))
        defer { kill(pid, SIGKILL) }
        let byPattern = try await run(ProcessRunningPlugin(), ["pattern": .string("sleep \(marker)")])
        #expect(byPattern.success && byPattern.data["pids"] == [.int(Int(pid))])
        #expect((byPattern.data["rss_bytes"]?.intValue ?? 0) > 0)
        let byFile = try await run(ProcessRunningPlugin(), ["pid_file": .string(pidFile)])
        #expect(byFile.success && byFile.data["count"] == 1)
        let tooMany = try await run(ProcessRunningPlugin(), ["name": "sleep", "max_count": 0])
        #expect(!tooMany.success && tooMany.error?.contains("expected at most 0") == true)
        let none = try await run(ProcessRunningPlugin(), ["pattern": .string("no-such-process-\(marker)x")])
        #expect(!none.success && none.error == "0 running, expected at least 1")
        let both = try await run(ProcessRunningPlugin(), ["name": "sleep", "pattern": "x"])
        #expect(!both.success && both.error?.contains("exactly one of") == true)
        kill(pid, SIGKILL)
        #expect(await processExits(pid))
        let gone = try await run(ProcessRunningPlugin(), ["pid_file": .string(pidFile)])
        #expect(!gone.success)
    }

    @Test func fileAgeAndSize() async throws {
        let file = try temporaryFile("hello")
        defer { try? FileManager.default.removeItem(atPath: file) }
        // Two hours old. The age is bounded by clock readings around the check, not by a guess
        // of how long the check takes: on a loaded machine it took over 5 s.
        let stamped = time(nil) - 7200
        var times = [timeval(tv_sec: stamped, tv_usec: 0), timeval(tv_sec: stamped, tv_usec: 0)]
        #expect(utimes(file, &times) == 0)
        let before = time(nil)
        let old = try await run(FileAgePlugin(), ["path": .string(file), "max_age": 3600])
        let after = time(nil)
        #expect(!old.success && old.error == "older than 60m")
        let age = old.data["age_seconds"]?.doubleValue ?? 0
        #expect(age >= Double(before - stamped) - 1 && age <= Double(after - stamped) + 1, "age \(age)")
        #expect(old.data["size_bytes"] == 5)
        let fine = try await run(FileAgePlugin(), ["path": .string(file), "max_age": 10800, "min_size": 5])
        #expect(fine.success)
        let small = try await run(FileAgePlugin(), ["path": .string(file), "min_size": 6])
        #expect(!small.success)
        let missing = try await run(FileAgePlugin(), ["path": "/nonexistent/heartbeat"])
        #expect(!missing.success && missing.data["exists"] == false)
    }

    @Test func tcpConnect() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let open = try await run(TCPConnectPlugin(), ["host": "127.0.0.1", "port": .int(server.port)])
        #expect(open.success && open.data["address"] == "127.0.0.1")
        // In seconds, within the 5 s timeout (a loaded machine stretched a loopback connect to 1.5 s).
        let connectTime = open.data["connect_time"]?.doubleValue ?? -1
        #expect(connectTime > 0 && connectTime < 5, "\(connectTime)")
        let refused = try await run(TCPConnectPlugin(), ["host": "127.0.0.1", "port": .int(try TestHTTPServer.refusedPort())])
        #expect(!refused.success && refused.retry && refused.error == "connection refused")
    }

    /// The refused port the tests connect to stays refused while they run: no other test's
    /// server can take it (the helper let it go once found free, and under the parallel suite a
    /// PostgreSQL check against it was answered and reset instead of refused).
    @Test func aRefusedPortCannotBeTakenByAnotherServer() async throws {
        let port = try TestHTTPServer.refusedPort()
        let taken = try? await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: port).get()
        #expect(taken == nil, "another server bound the refused port \(port)")
        try? await taken?.close()
        let refused = try await run(TCPConnectPlugin(), ["host": "127.0.0.1", "port": .int(port)])
        #expect(!refused.success && refused.error == "connection refused", "\(refused)")
    }

    @Test func dnsResolve() async throws {
        let local = try await run(DNSResolvePlugin(), ["name": "localhost", "family": "ipv4"])
        #expect(local.success && local.data["addresses"]?.arrayValue?.contains("127.0.0.1") == true)
        let expected = try await run(DNSResolvePlugin(), ["name": "localhost", "family": "ipv4", "expected": ["10.9.9.9"]])
        #expect(!expected.success && expected.error == "expected 10.9.9.9 among the answers")
        let unknown = try await run(DNSResolvePlugin(), ["name": "no-such-host.invalid"])
        #expect(!unknown.success)
    }
}

extension TerminationStatus {
    var isSuccess: Bool { if case .exited(0) = self { return true } else { return false } }
}
