import Foundation
import Subprocess
import Testing
import WardenPluginKit
import WardenPlugins
import WardenTestSupport

@Suite("journal_errors", .serialized, .enabled(if: RealParts.available(getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald"))))
struct JournalErrorsTests {
    @Test func countsErrorsOfAnIdentifierThroughSdJournal() async throws {
        let journald = try await TestJournald()
        defer { journald.stop() }
        let identifier = "warden-test-\(UUID().uuidString.prefix(8).lowercased())"
        for (priority, text) in [("err", "disk on fire"), ("info", "all fine"), ("crit", "worse still")] {
            let result = try await Subprocess.run(.path("/usr/bin/systemd-cat"), arguments: ["-t", identifier, "-p", priority, "echo", text], output: .discarded)
            #expect(result.terminationStatus.isSuccess)
        }
        var found: PluginResult?
        for _ in 0..<50 {
            let result = try await run(JournalErrorsPlugin(), ["identifier": .string(identifier), "since": "5m"])
            if result.data["count"] == 2 { found = result; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let result = try #require(found, "journal entries never showed up")
        #expect(!result.success && result.error?.hasPrefix("2 entries, at most 0 expected; latest: worse still") == true)
        #expect(result.data["messages"]?.arrayValue?.map { $0["message"] } == ["worse still", "disk on fire"])
        let tolerated = try await run(JournalErrorsPlugin(), ["identifier": .string(identifier), "since": "5m", "max_count": 5])
        #expect(tolerated.success)
        let withInfo = try await run(JournalErrorsPlugin(), ["identifier": .string(identifier), "since": "5m", "priority": 6, "max_count": 10])
        #expect(withInfo.data["count"] == 3)
        let otherUnit = try await run(JournalErrorsPlugin(), ["identifier": .string(identifier), "unit": "nothing.service", "since": "5m"])
        #expect(otherUnit.success && otherUnit.data["count"] == 0)
    }
}
