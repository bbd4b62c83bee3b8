import Foundation
import Testing
import WardenTestSupport

/// The shipped unit under a real systemd: PID 1 of a private pid+mount+uts namespace with a
/// minimal unit set (Tests/scripts/systemd-namespace.sh), torn down whatever the outcome.
@Suite("systemd", .serialized, .enabled(if: RealParts.available(getuid() == 0
    && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/dbus-daemon"))))
struct SystemdUnitTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = repository.path + "/Tests/scripts/systemd-namespace.sh"

    static func shell(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await CLI.command(script, arguments)
        return (result.status, result.stdout + result.stderr)
    }

    @Test func theUnitStartsReloadsIsRestartedByTheWatchdogAndStopsCleanly() async throws {
        let sandbox = try SystemdSandbox()
        let stateExisted = FileManager.default.fileExists(atPath: "/var/lib/warden")
        defer {
            sandbox.tearDown()
            if !stateExisted { try? FileManager.default.removeItem(atPath: "/var/lib/warden") }
        }
        let (work, binary) = (sandbox.work, sandbox.binary)
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
        try await sandbox.start(units: [work + "/warden.service"])
        func inside(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await sandbox.inside(arguments)
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
        let sandbox = try SystemdSandbox()
        defer { sandbox.tearDown() }
        let (work, binary) = (sandbox.work, sandbox.binary)
        try "[Unit]\nDescription=test service\n[Service]\nExecStart=/bin/sleep 1000\n".write(toFile: work + "/hello.service", atomically: true, encoding: .utf8)
        try "daemon: {allowed_units: [\"other-*.service\"]}\njobs: []\n".write(toFile: work + "/limited.yaml", atomically: true, encoding: .utf8)

        try await sandbox.start(units: [work + "/hello.service"])
        func warden(_ arguments: [String]) async throws -> [String: Any] {
            let output = try await sandbox.inside([binary] + arguments + ["--json", "--plugin-dir", "/nonexistent", "--config", "/nonexistent"])
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
        let output = try await sandbox.inside([binary, "exec", "systemd_restart_unit", "--allow-write", "--param", "unit=hello.service",
                                           "--json", "--plugin-dir", "/nonexistent", "--config", work + "/limited.yaml"])
        #expect(output.output.contains("hello.service is not in daemon.allowed_units"), "\(output.output)")

        let missing = try await warden(["exec", "systemd_unit_status", "--param", "unit=no-such.service"])
        #expect(missing["success"] as? Bool == false)
    }
}

/// A work directory outside /tmp (the namespace mounts its own, so a checkout under /tmp is
/// invisible there) and /var/tmp (the unit's PrivateTmp), holding a copy of the binary; and
/// the namespaced systemd started on it. `tearDown` stops the namespace and removes it all.
final class SystemdSandbox {
    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    let work = "/var/lib/warden-systemd-test-\(UUID().uuidString.prefix(8))"
    var binary: String { work + "/warden" }
    private var pid: Int32?

    init() throws {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: binary)
    }

    func start(units: [String]) async throws {
        let started = try await SystemdUnitTests.shell(["start", work] + units)
        guard let pid = Int32(started.output.split(separator: "\n").last ?? "") else {
            throw StartFailure(description: "systemd did not come up: \(started.output)")
        }
        self.pid = pid
    }

    /// Runs a command inside the namespace.
    func inside(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        guard let pid else { throw StartFailure(description: "the namespace was not started") }
        return try await SystemdUnitTests.shell(["exec", "\(pid)"] + arguments)
    }

    /// Synchronous on purpose: it runs from a `defer`, which cannot await, whatever happened.
    func tearDown() {
        if let pid {
            let stop = Process()
            stop.executableURL = URL(fileURLWithPath: SystemdUnitTests.script)
            stop.arguments = ["stop", "\(pid)"]
            try? stop.run()
            stop.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: work)
    }
}
