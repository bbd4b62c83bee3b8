import Foundation
import Testing
import WardenTestSupport

@Suite("journald", .serialized, .enabled(if: RealParts.available(getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald"))))
struct JournalTests {
    @Test func entriesCarryWardensFields() async throws {
        let journald = try await TestJournald()
        defer { journald.stop() }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let job = "journal_" + UUID().uuidString.prefix(8).lowercased()
        let config = directory + "/warden.yaml"
        try """
            daemon: {database: history.db, shutdown_grace: 1s}
            jobs:
              - {name: \(job), plugin: nagios, every: 1s, params: {command: /usr/lib/nagios/plugins/check_dummy, args: ["2", "down"]}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config, "--log-target", "journal"], logFile: directory + "/daemon.log")
        // Waits for a failure and a repeat in the journal instead of a fixed window, which a
        // loaded machine overran.
        let entries = try await poll(within: .seconds(20)) { () -> [[String: Any]]? in
            let output = try await runJournalctl(["-o", "json", "--no-pager", "WARDEN_JOB=\(job)"])
            let lines = output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return lines.filter { $0["MESSAGE_ID"] as? String == "94a18cfe615d4c9a842879bb786a5cd1" }.count >= 2 ? lines : nil
        }
        #expect(await daemon.stop() == 0, "\(daemon.log)")
        // Nothing went to stderr: the journal got it all.
        #expect(!daemon.log.contains("job failing"))
        let all = try #require(entries, "journalctl found nothing for \(job)")
        let failed = try #require(all.first { ($0["MESSAGE"] as? String)?.hasPrefix("job failing") == true })
        #expect(failed["SYSLOG_IDENTIFIER"] as? String == "warden")
        #expect(failed["PRIORITY"] as? String == "4")
        #expect(failed["MESSAGE_ID"] as? String == "94a18cfe615d4c9a842879bb786a5cd1")
        #expect(failed["WARDEN_JOB"] as? String == job)
        #expect(failed["WARDEN_PLUGIN"] as? String == "nagios")
        #expect(failed["WARDEN_STATUS"] as? String == "critical")
        #expect(Int(failed["WARDEN_RUN_ID"] as? String ?? "") ?? 0 > 0)
        #expect(failed["WARDEN_ATTEMPT"] as? String == "1")
        #expect((failed["CODE_FILE"] as? String)?.hasSuffix(".swift") == true)
        #expect(Int(failed["CODE_LINE"] as? String ?? "") ?? 0 > 0)
        #expect(failed["CODE_FUNC"] != nil)
        // Later failures are logged too, as "still failing", with the same MESSAGE_ID.
        #expect(all.filter { $0["MESSAGE_ID"] as? String == "94a18cfe615d4c9a842879bb786a5cd1" }.count >= 2)
    }

    func runJournalctl(_ arguments: [String]) async throws -> String {
        try await CLI.command("/usr/bin/journalctl", arguments).stdout
    }
}
