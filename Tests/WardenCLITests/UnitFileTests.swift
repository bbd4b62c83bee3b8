import Foundation
import Testing
import WardenTestSupport

/// The shipped `systemd/warden.service`, checked with systemd's own tools.
@Suite("unit file", .enabled(if: RealParts.available(FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"))))
struct UnitFileTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The unit with its paths pointing at the binary under test.
    func adjustedUnit() throws -> String {
        let directory = try temporaryDirectory()
        let text = try String(contentsOfFile: Self.repository.path + "/systemd/warden.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/warden", with: CLI.binary)
        let path = directory + "/warden.service"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func analyze(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await CLI.command("/usr/bin/systemd-analyze", arguments)
        return (result.status, result.stdout + result.stderr)
    }

    @Test func verifyIsClean() async throws {
        let unit = try adjustedUnit()
        let result = try await analyze(["verify", unit])
        #expect(result.status == 0 && result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(result.output)")
    }

    @Test func securityExposureStaysLow() async throws {
        let unit = try adjustedUnit()
        let result = try await analyze(["security", "--offline=true", "--no-pager", unit])
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(result.output)")
        let score = Double(line.split(separator: ":").last?.split(separator: " ").first ?? "") ?? 10
        #expect(score <= 4.0, "\(line)")
    }

    @Test func theUnitSaysWhatTheIssueAsks() throws {
        let text = try String(contentsOfFile: Self.repository.path + "/systemd/warden.service", encoding: .utf8)
        for line in [
            "Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "Environment=SWIFT_BACKTRACE=enable=no",
            "StateDirectory=warden", "ConfigurationDirectory=warden", "ExecStart=/usr/bin/warden run --config /etc/warden/warden.yaml",
        ] {
            #expect(text.contains(line), "missing \(line)")
        }
        #expect(text.contains("WatchdogSec="))
    }
}
