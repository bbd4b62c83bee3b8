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
}
