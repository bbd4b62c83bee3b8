import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real Prometheus from Debian on loopback, scraping itself (a loopback target) every
/// second, with its data in a temporary directory; stopped and removed on `stop()`.
public final class TestPrometheus: @unchecked Sendable {
    public static var binary: String { RealParts.program("prometheus") }
    public static var available: Bool { RealParts.executable("prometheus") != nil }

    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    private let process = Process()
    private let directory: String

    /// `targets`: more loopback `host:port`s to scrape every second, as job `warden`.
    public init(targets: [String] = [], bearerToken: String? = nil) throws {
        port = try TestHTTPServer.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("warden-prometheus-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: self
                static_configs: [{targets: ["127.0.0.1:\(port)"]}]
            \(targets.isEmpty ? "" : "  - job_name: warden\n    static_configs: [{targets: [\(targets.map { "\"\($0)\"" }.joined(separator: ", "))]}]" + (bearerToken.map { "\n    authorization: {credentials: \"\($0)\"}" } ?? ""))
            """.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=error",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The value of an instant query's first sample, nil while there is none.
    public func value(of query: String) async -> Double? {
        var components = URLComponents(string: "\(baseURL)/api/v1/query")!
        components.queryItems = [URLQueryItem(name: "query", value: query)]
        guard let (data, _) = try? await URLSession.shared.data(from: components.url!),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let result = (object["data"] as? [String: Any])?["result"] as? [[String: Any]],
              let value = result.first?["value"] as? [Any], let text = value.last as? String else { return nil }
        return Double(text)
    }

    /// Waits until `up{job="self"}` has a sample (the first scrape happened).
    public func waitUntilScraped(within limit: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + limit
        let url = URL(string: "\(baseURL)/api/v1/query?query=up%7Bjob%3D%22self%22%7D")!
        while ContinuousClock.now < deadline {
            if let (data, _) = try? await URLSession.shared.data(from: url),
               let text = String(data: data, encoding: .utf8), text.contains("\"value\"") {
                return true
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            for _ in 0..<100 where process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}
