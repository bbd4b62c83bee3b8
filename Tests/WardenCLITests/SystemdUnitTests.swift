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

    static func shell(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await CLI.command(script, arguments)
        return (result.status, result.stdout + result.stderr)
    }

    @Test func theUnitStartsReloadsIsRestartedByTheWatchdogAndStopsCleanly() async throws {
        // Outside /tmp (the namespace mounts its own: a checkout under /tmp is invisible
        // there) and /var/tmp (the unit's PrivateTmp); the binary is copied in for that reason.
        let work = "/var/lib/warden-systemd-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let binary = work + "/warden"
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: binary)
        try """
            daemon: {database: \(work)/history.db, shutdown_grace: 2s}
            jobs:
              - {name: tick, plugin: nagios, every: 1s, params: {command: /usr/lib/nagios/plugins/check_dummy, args: ["0", "fine"]}}
            """.write(toFile: work + "/warden.yaml", atomically: true, encoding: .utf8)
        let unit = try String(contentsOfFile: Self.repository.path + "/systemd/warden.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/warden", with: binary)
            .replacingOccurrences(of: "/etc/warden/warden.yaml", with: work + "/warden.yaml")
            .replacingOccurrences(of: "WatchdogSec=30s", with: "WatchdogSec=3s")
        try unit.write(toFile: work + "/warden.service", atomically: true, encoding: .utf8)
        let stateExisted = FileManager.default.fileExists(atPath: "/var/lib/warden")

        let started = try await Self.shell(["start", work, work + "/warden.service"])
        let pid = try #require(Int32(started.output.split(separator: "\n").last ?? ""), "systemd did not come up: \(started.output)")
        defer {
            // Synchronous on purpose: a defer cannot await, and this must run whatever happened.
            let stop = Process()
            stop.executableURL = URL(fileURLWithPath: Self.script)
            stop.arguments = ["stop", "\(pid)"]
            try? stop.run()
            stop.waitUntilExit()
            if !stateExisted { try? FileManager.default.removeItem(atPath: "/var/lib/warden") }
        }
        func inside(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await Self.shell(["exec", "\(pid)"] + arguments)
        }
        func property(_ name: String) async throws -> String {
            try await inside(["systemctl", "show", "warden", "-p", name, "--value"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        // Start: active (running), with Warden's STATUS= line.
        let start = try await inside(["systemctl", "start", "warden"])
        let startLog = try await inside(["journalctl", "-u", "warden", "--no-pager"]).output
        #expect(start.status == 0, "\(start.output)\n\(startLog)")
        #expect(try await property("ActiveState") == "active")
        #expect(try await property("SubState") == "running")
        let status = try await poll(within: .seconds(10)) { () -> String? in
            let text = try await property("StatusText")
            return text.contains("last run") ? text : nil
        }
        #expect(status?.hasPrefix("1 jobs · 0 failing · 0 remediating · last run") == true, "\(status ?? "")")
        let firstPID = try await property("MainPID")

        // Reload: the same process, the configuration applied again.
        #expect(try await inside(["systemctl", "reload", "warden"]).status == 0)
        #expect(try await property("MainPID") == firstPID)
        #expect(try await property("ActiveState") == "active")
        let journal = try await poll(within: .seconds(5)) { () -> String? in
            let text = try await inside(["journalctl", "-u", "warden", "--no-pager"]).output
            return text.contains("reload done") ? text : nil
        }
        #expect(journal != nil)

        // A stalled scheduler stops the pings; the watchdog kills and systemd restarts it.
        _ = try await inside(["systemctl", "set-environment", "WARDEN_TEST_STALL_SCHEDULER_AFTER=1"])
        #expect(try await inside(["systemctl", "restart", "warden"]).status == 0)
        let stalledPID = try await property("MainPID")
        let restarted = try await poll(within: .seconds(15)) { () -> String? in
            let restarts = Int(try await property("NRestarts")) ?? 0
            let main = try await property("MainPID")
            return restarts >= 1 && main != stalledPID && main != "0" ? main : nil
        }
        let restartLog = try await inside(["journalctl", "-u", "warden", "--no-pager"]).output
        #expect(restarted != nil, "no watchdog restart: \(restartLog)")
        let watchdogLog = try await inside(["journalctl", "--no-pager"]).output
        #expect(watchdogLog.contains("Watchdog timeout") || watchdogLog.contains("watchdog"), "\(watchdogLog)")

        // Stop: clean.
        _ = try await inside(["systemctl", "unset-environment", "WARDEN_TEST_STALL_SCHEDULER_AFTER"])
        #expect(try await inside(["systemctl", "restart", "warden"]).status == 0)
        #expect(try await inside(["systemctl", "stop", "warden"]).status == 0)
        #expect(try await property("ActiveState") == "inactive")
        #expect(try await property("Result") == "success")
    }

    @Test func systemdPluginsActOnUnitsOverDBus() async throws {
        let work = "/var/lib/warden-systemd-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let binary = work + "/warden"
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: binary)
        try "[Unit]\nDescription=test service\n[Service]\nExecStart=/bin/sleep 1000\n".write(toFile: work + "/hello.service", atomically: true, encoding: .utf8)
        try "daemon: {allowed_units: [\"other-*.service\"]}\njobs: []\n".write(toFile: work + "/limited.yaml", atomically: true, encoding: .utf8)

        let started = try await Self.shell(["start", work, work + "/hello.service"])
        let pid = try #require(Int32(started.output.split(separator: "\n").last ?? ""), "systemd did not come up: \(started.output)")
        defer {
            let stop = Process()
            stop.executableURL = URL(fileURLWithPath: Self.script)
            stop.arguments = ["stop", "\(pid)"]
            try? stop.run()
            stop.waitUntilExit()
        }
        func warden(_ arguments: [String]) async throws -> [String: Any] {
            let output = try await Self.shell(["exec", "\(pid)", binary] + arguments + ["--json", "--plugin-dir", "/nonexistent", "--config", "/nonexistent"])
            let json = output.output.split(separator: "\n", omittingEmptySubsequences: false).drop { !$0.hasPrefix("{") }.joined(separator: "\n")
            return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(output.output)")
        }

        let start = try await warden(["exec", "systemd_start_unit", "--allow-write", "--param", "unit=hello.service"])
        #expect(start["success"] as? Bool == true, "\(start)")
        let before = try #require((start["data"] as? [String: Any])?["main_pid"] as? Int)
        #expect(before > 0)

        let status = try await warden(["exec", "systemd_unit_status", "--param", "unit=hello.service"])
        let statusData = try #require(status["data"] as? [String: Any])
        #expect(statusData["active_state"] as? String == "active" && statusData["sub_state"] as? String == "running")
        #expect(statusData["main_pid"] as? Int == before)

        // The issue's check: a restart changes the unit's MainPID.
        let restart = try await warden(["exec", "systemd_restart_unit", "--allow-write", "--param", "unit=hello.service"])
        let restarted = try #require(restart["data"] as? [String: Any])
        #expect(restart["success"] as? Bool == true && restarted["active_state"] as? String == "active")
        #expect(restarted["previous_main_pid"] as? Int == before)
        let after = try #require(restarted["main_pid"] as? Int)
        #expect(after > 0 && after != before)

        let dry = try await warden(["exec", "systemd_stop_unit", "--dry-run", "--param", "unit=hello.service"])
        #expect(dry["success"] as? Bool == true && (dry["message"] as? String)?.hasPrefix("dry run: would stop hello.service") == true)
        let stop = try await warden(["exec", "systemd_stop_unit", "--allow-write", "--param", "unit=hello.service"])
        #expect(stop["success"] as? Bool == true && (stop["data"] as? [String: Any])?["active_state"] as? String == "inactive")

        // daemon.allowed_units bounds what may be touched.
        let output = try await Self.shell(["exec", "\(pid)", binary, "exec", "systemd_restart_unit", "--allow-write", "--param", "unit=hello.service",
                                           "--json", "--plugin-dir", "/nonexistent", "--config", work + "/limited.yaml"])
        #expect(output.output.contains("hello.service is not in daemon.allowed_units"), "\(output.output)")

        let missing = try await warden(["exec", "systemd_unit_status", "--param", "unit=no-such.service"])
        #expect(missing["success"] as? Bool == false)
    }
}
