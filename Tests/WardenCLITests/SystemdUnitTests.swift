import Foundation
import Testing
import WardenTestSupport

/// The shipped unit under a real systemd: PID 1 of a private pid+mount+uts namespace with a
/// minimal unit set (Tests/scripts/systemd-namespace.sh), torn down whatever the outcome.
@Suite("systemd", .serialized, .enabled(if: getuid() == 0
    && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-daemon")))
struct SystemdUnitTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = repository.path + "/Tests/scripts/systemd-namespace.sh"

    @discardableResult
    static func shell(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = arguments
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("systemd-test-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test func theUnitStartsReloadsIsRestartedByTheWatchdogAndStopsCleanly() async throws {
        // Outside /tmp (the namespace mounts its own) and /var/tmp (the unit's PrivateTmp).
        let work = URL(fileURLWithPath: CLI.binary).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("systemd-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try """
            daemon: {database: \(work)/history.db, shutdown_grace: 2s}
            jobs:
              - {name: tick, plugin: nagios, every: 1s, params: {command: /usr/lib/nagios/plugins/check_dummy, args: ["0", "fine"]}}
            """.write(toFile: work + "/warden.yaml", atomically: true, encoding: .utf8)
        let unit = try String(contentsOfFile: Self.repository.path + "/systemd/warden.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/warden", with: CLI.binary)
            .replacingOccurrences(of: "/etc/warden/warden.yaml", with: work + "/warden.yaml")
            .replacingOccurrences(of: "WatchdogSec=30s", with: "WatchdogSec=3s")
        try unit.write(toFile: work + "/warden.service", atomically: true, encoding: .utf8)
        let stateExisted = FileManager.default.fileExists(atPath: "/var/lib/warden")

        let started = try Self.shell(["start", work, work + "/warden.service"])
        let pid = try #require(Int32(started.output.split(separator: "\n").last ?? ""), "systemd did not come up: \(started.output)")
        defer {
            _ = try? Self.shell(["stop", "\(pid)"])
            if !stateExisted { try? FileManager.default.removeItem(atPath: "/var/lib/warden") }
        }
        func inside(_ arguments: [String]) throws -> (status: Int32, output: String) {
            try Self.shell(["exec", "\(pid)"] + arguments)
        }
        func property(_ name: String) throws -> String {
            try inside(["systemctl", "show", "warden", "-p", name, "--value"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        // Start: active (running), with Warden's STATUS= line.
        let start = try inside(["systemctl", "start", "warden"])
        let startLog = try inside(["journalctl", "-u", "warden", "--no-pager"]).output
        #expect(start.status == 0, "\(start.output)\n\(startLog)")
        #expect(try property("ActiveState") == "active")
        #expect(try property("SubState") == "running")
        let status = try await poll(within: .seconds(10)) { () -> String? in
            let text = try property("StatusText")
            return text.contains("last run") ? text : nil
        }
        #expect(status?.hasPrefix("1 jobs · 0 failing · 0 remediating · last run") == true, "\(status ?? "")")
        let firstPID = try property("MainPID")

        // Reload: the same process, the configuration applied again.
        #expect(try inside(["systemctl", "reload", "warden"]).status == 0)
        #expect(try property("MainPID") == firstPID)
        #expect(try property("ActiveState") == "active")
        let journal = try await poll(within: .seconds(5)) { () -> String? in
            let text = try inside(["journalctl", "-u", "warden", "--no-pager"]).output
            return text.contains("reload done") ? text : nil
        }
        #expect(journal != nil)

        // A stalled scheduler stops the pings; the watchdog kills and systemd restarts it.
        _ = try inside(["systemctl", "set-environment", "WARDEN_TEST_STALL_SCHEDULER_AFTER=1"])
        #expect(try inside(["systemctl", "restart", "warden"]).status == 0)
        let stalledPID = try property("MainPID")
        let restarted = try await poll(within: .seconds(15)) { () -> String? in
            let restarts = Int(try property("NRestarts")) ?? 0
            let main = try property("MainPID")
            return restarts >= 1 && main != stalledPID && main != "0" ? main : nil
        }
        let restartLog = try inside(["journalctl", "-u", "warden", "--no-pager"]).output
        #expect(restarted != nil, "no watchdog restart: \(restartLog)")
        let watchdogLog = try inside(["journalctl", "--no-pager"]).output
        #expect(watchdogLog.contains("Watchdog timeout") || watchdogLog.contains("watchdog"), "\(watchdogLog)")

        // Stop: clean.
        _ = try inside(["systemctl", "unset-environment", "WARDEN_TEST_STALL_SCHEDULER_AFTER"])
        #expect(try inside(["systemctl", "restart", "warden"]).status == 0)
        #expect(try inside(["systemctl", "stop", "warden"]).status == 0)
        #expect(try property("ActiveState") == "inactive")
        #expect(try property("Result") == "success")
    }
}
