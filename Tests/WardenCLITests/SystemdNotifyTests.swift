import Foundation
import Testing
import WardenTestSupport

/// `warden run` under a stand-in for systemd: a real datagram socket as `NOTIFY_SOCKET`.
@Suite("sd_notify", .serialized)
struct SystemdNotifyTests {
    static func config(_ directory: String, jobs: String) -> String {
        """
        daemon: {database: history.db, shutdown_grace: 2s}
        jobs:
        \(jobs)
        """
    }

    static let probe = "  - {name: tick, plugin: nagios, every: 1s, params: {command: /usr/lib/nagios/plugins/check_dummy, args: ['0', 'fine']}}"

    @Test func readyWatchdogReloadAndStopping() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try Self.config(directory, jobs: Self.probe).write(toFile: config, atomically: true, encoding: .utf8)
        let socket = try NotifySocket()
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log",
                                       environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "2000000"])

        // READY=1 with a STATUS line, once everything is in place …
        let ready = await socket.wait(for: "READY", equal: "1")
        let readyIndex = try #require(ready?.index, "no READY=1; log:\n\(daemon.log)")
        #expect(ready?.message.fields["STATUS"]?.contains("1 jobs") == true)
        // … including the SIGHUP handler: a reload request right away must not kill it.
        kill(daemon.pid, SIGHUP)
        let reloading = await socket.wait(for: "RELOADING", equal: "1", after: readyIndex)
        let reloadIndex = try #require(reloading?.index, "no RELOADING=1; log:\n\(daemon.log)")
        #expect(Int(reloading?.message.fields["MONOTONIC_USEC"] ?? "") ?? 0 > 0)
        let readyAgain = await socket.wait(for: "READY", equal: "1", after: reloadIndex)
        #expect(readyAgain != nil)
        #expect(daemon.isRunning)

        // WATCHDOG=1 every half of WATCHDOG_USEC (1 s).
        try await Task.sleep(for: .milliseconds(3_500))
        let pings = socket.messages.filter { $0.fields["WATCHDOG"] == "1" }.map(\.at)
        #expect(pings.count >= 3)
        for (earlier, later) in zip(pings, pings.dropFirst()) {
            let gap = later - earlier
            // Half of WATCHDOG_USEC is 1 s; systemd acts only past 2 s, which a loaded machine must not reach.
            #expect(gap > .milliseconds(500) && gap < .milliseconds(2_000), "ping gap \(gap)")
        }

        // A broken config on SIGHUP: the old jobs keep running, STATUS= says why.
        try "jobs:\n  - name: tick\n    plugin: nagios\n    every: soon\n    params: {command: /bin/true}\n".write(toFile: config, atomically: true, encoding: .utf8)
        let before = socket.messages.count
        kill(daemon.pid, SIGHUP)
        let failed = await socket.wait(for: "READY", equal: "1", after: before)
        let status = failed?.message.fields["STATUS"] ?? ""
        #expect(status.contains("reload failed (1 problem: \(config):4:12"), "STATUS=\(status)")
        let countBefore = try await runCount(config: config, directory: directory)
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(try await runCount(config: config, directory: directory) > countBefore)
        #expect(daemon.log.contains("reload failed"))

        // SIGTERM: STOPPING=1, then a clean exit.
        let beforeStop = socket.messages.count
        let exit = await daemon.stop()
        #expect(exit == 0, "log:\n\(daemon.log)")
        let stopping = await socket.wait(for: "STOPPING", equal: "1", after: beforeStop, within: .seconds(2))
        #expect(stopping?.message.fields["EXTEND_TIMEOUT_USEC"] != nil)
    }

    func runCount(config: String, directory: String) async throws -> Int {
        let output = try await CLI.run(["history", "--database", directory + "/history.db", "--job", "tick", "--json", "--limit", "10000"])
        return (output.json as? [Any])?.count ?? 0
    }

    @Test func aReloadKeepsUnchangedJobsAndStartsNewOnes() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try Self.config(directory, jobs: Self.probe).write(toFile: config, atomically: true, encoding: .utf8)
        let socket = try NotifySocket()
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log", environment: ["NOTIFY_SOCKET": socket.path])
        #expect(await socket.wait(for: "READY", equal: "1") != nil)
        let added = Self.probe + "\n" + Self.probe.replacingOccurrences(of: "name: tick", with: "name: tock")
        try Self.config(directory, jobs: added).write(toFile: config, atomically: true, encoding: .utf8)
        let before = socket.messages.count
        kill(daemon.pid, SIGHUP)
        let ready = await socket.wait(for: "READY", equal: "1", after: before)
        #expect(ready?.message.fields["STATUS"]?.hasPrefix("2 jobs") == true)
        #expect(daemon.log.contains("reload done: 1 added, 0 removed, 0 changed, 1 unchanged"), "\(daemon.log)")
        let tock = try await poll(within: .seconds(5)) { () -> Int? in
            let output = try await CLI.run(["history", "--database", directory + "/history.db", "--job", "tock", "--json"])
            let count = (output.json as? [Any])?.count ?? 0
            return count > 0 ? count : nil
        }
        #expect(tock != nil)
        #expect(await daemon.stop() == 0)
    }

    @Test func aStalledSchedulerStopsTheWatchdogPings() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try Self.config(directory, jobs: Self.probe).write(toFile: config, atomically: true, encoding: .utf8)
        let socket = try NotifySocket()
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log", environment: [
            "NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000", "WARDEN_TEST_STALL_SCHEDULER_AFTER": "1.5",
        ])
        let ready = try #require(await socket.wait(for: "READY", equal: "1"))
        try await Task.sleep(for: .milliseconds(4_500))
        let pings = socket.messages.filter { $0.fields["WATCHDOG"] == "1" }.map(\.at)
        // Pings every 0.5 s until the stall at 1.5 s, then none: systemd would restart Warden.
        #expect(pings.count >= 2)
        let last = try #require(pings.last)
        #expect(last - ready.message.at < .milliseconds(2_300), "pings went on after the stall")
        #expect(daemon.log.contains("stalling the scheduler queue"))
        _ = await daemon.stop(with: SIGKILL)
    }
}
