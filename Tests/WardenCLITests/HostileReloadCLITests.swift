import Foundation
import Testing
import WardenTestSupport

/// `kill -HUP` with a config that crashed or hung the loader: the daemon keeps running the
/// old config and says why in `STATUS=`; a valid reload afterwards still applies.
@Suite("hostile reloads")
struct HostileReloadCLITests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/fuzz-corpus/config"

    @Test func everyPastCrasherLeavesTheDaemonOnItsOldConfig() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        let good = "daemon: {database: \(directory)/history.db, shutdown_grace: 1s}\njobs:\n  - {name: tick, plugin: load_average, every: 1s}\n"
        try good.write(toFile: config, atomically: true, encoding: .utf8)
        let socket = try NotifySocket()
        let daemon = try DaemonProcess(["--config", config], logFile: directory + "/daemon.log", environment: ["NOTIFY_SOCKET": socket.path])
        #expect(await socket.wait(for: "READY", equal: "1") != nil, "\(daemon.log)")

        let fifo = directory + "/secret.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        var crashers = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).filter { $0.hasSuffix(".yaml") }.sorted()
            .map { ($0, try Data(contentsOf: URL(fileURLWithPath: Self.corpus + "/" + $0))) }
        // A secret that is a FIFO blocked startup, check-config and reload forever.
        crashers.append(("secret-from-a-fifo", Data(good.replacingOccurrences(of: "every: 1s}", with: "every: 1s, params: {x: '${file:\(fifo)}'}}").utf8)))
        for (name, contents) in crashers {
            // The corpus files point at another database: a reload may not change it, and that
            // refusal must not hide the crasher's own problem, so they get this one.
            let text = String(decoding: contents, as: UTF8.self).replacingOccurrences(of: "/tmp/warden-fuzz/history.db", with: "\(directory)/history.db")
            try (name == "invalid-utf8.yaml" || name == "control-character.yaml" ? contents : Data(text.utf8)).write(to: URL(fileURLWithPath: config))
            let before = socket.messages.count
            kill(daemon.pid, SIGHUP)
            let answered = await socket.wait(for: "READY", equal: "1", after: before, within: .seconds(10))
            let status = answered?.message.fields["STATUS"] ?? ""
            #expect(status.contains("reload failed") && status.contains("running the previous configuration"), "\(name): STATUS=\(status)")
            #expect(daemon.isRunning, "\(name) took the daemon down:\n\(daemon.log.suffix(2000))")
            guard daemon.isRunning else { return }
        }
        // The old job still runs, and a valid file reloads.
        try (good + "  - {name: tock, plugin: load_average, every: 1s}\n").write(toFile: config, atomically: true, encoding: .utf8)
        let before = socket.messages.count
        kill(daemon.pid, SIGHUP)
        let done = await socket.wait(for: "READY", equal: "1", after: before)
        #expect(done?.message.fields["STATUS"]?.contains("reload failed") == false, "\(done?.message.text ?? "")")
        #expect(daemon.log.contains("reload done"))
        #expect(await daemon.stop() == 0)
    }
}
