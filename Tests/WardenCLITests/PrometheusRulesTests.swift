import Foundation
import Testing
import WardenTestSupport

/// The shipped alerting and recording rules: valid for Prometheus, their unit tests pass,
/// and every Warden metric they name is one the daemon exports (docs/api.md lists them).
@Suite("shipped Prometheus rules")
struct PrometheusRulesTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/etc/prometheus"
    static var promtool: String { RealParts.program("promtool") }

    @Test(.enabled(if: RealParts.available(RealParts.executable("promtool") != nil), "needs promtool (Debian's prometheus)"))
    func rulesCheckAndTheirTestsPass() async throws {
        let check = try await TestCommand.run(Self.promtool, ["check", "rules", Self.directory + "/warden-alerts.yml", Self.directory + "/warden-recording.yml"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let test = try await TestCommand.run(Self.promtool, ["test", "rules", Self.directory + "/warden-alerts.test.yml"])
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")

        let api = try String(contentsOfFile: Self.directory + "/../../docs/api.md", encoding: .utf8)
        for file in ["warden-alerts.yml", "warden-recording.yml"] {
            let rules = try String(contentsOfFile: Self.directory + "/" + file, encoding: .utf8)
            for match in rules.matches(of: /warden_[a-z_]+/) {
                // `instance:warden_failing_jobs:count` names a recording rule, not a metric.
                if match.range.lowerBound > rules.startIndex && rules[rules.index(before: match.range.lowerBound)] == ":" { continue }
                let name = String(match.0).replacingOccurrences(of: "_bucket", with: "")
                #expect(api.contains("`\(name)`"), "\(file) names \(name), which docs/api.md does not list")
            }
        }
    }

    /// Every query of the shipped Grafana dashboard names metrics the daemon exports.
    @Test func theDashboardQueriesOnlyExportedMetrics() throws {
        let repository = Self.directory + "/../.."
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repository + "/etc/grafana/warden-dashboard.json"))) as? [String: Any])
        let api = try String(contentsOfFile: repository + "/docs/api.md", encoding: .utf8)
        let panels = (dashboard["panels"] as? [[String: Any]]) ?? []
        #expect(panels.count >= 8)
        var names = Set<String>()
        for panel in panels {
            for target in (panel["targets"] as? [[String: Any]]) ?? [] {
                let expression = target["expr"] as? String ?? ""
                for match in expression.matches(of: /(warden|process)_[a-z_]+/) { names.insert(String(match.0).replacingOccurrences(of: "_bucket", with: "")) }
            }
        }
        #expect(names.contains("warden_job_state") && names.contains("warden_remediations_total"))
        for name in names { #expect(api.contains("`\(name)`") || api.contains("\(name)`,") || api.contains("`\(name)"), "the dashboard queries \(name), which the daemon does not export") }
    }
}
