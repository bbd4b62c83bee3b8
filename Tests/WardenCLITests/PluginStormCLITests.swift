import Foundation
import Testing
import WardenTestSupport

/// A storm of misbehaving plugins (hung, crashing, printing garbage, flooding stdout and
/// stderr, leaving children behind) for a bounded time: every run is recorded, and the
/// daemon's memory, descriptors, threads and children stay flat. `make soak` runs it longer
/// (`WARDEN_STORM_SECONDS`).
@Suite("plugin fault storm")
struct PluginStormCLITests {
    static var seconds: Int { ProcessInfo.processInfo.environment["WARDEN_STORM_SECONDS"].flatMap(Int.init) ?? 45 }
    /// A marker in the children's command lines, to find any left behind.
    static let marker = "1000.\(getpid())"

    struct Sample: CustomStringConvertible {
        var rssKiB: Int
        var descriptors: Int
        var threads: Int
        var zombies: Int
        var strays: Int
        var description: String { "RSS \(rssKiB) KiB, \(descriptors) fds, \(threads) threads, \(zombies) zombies, \(strays) stray children" }
    }

    static func sample(_ pid: Int32) throws -> Sample {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> Int {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { Int($0.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") } ?? -1
        }
        var zombies = 0, strays = 0
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") where Int32(entry) != nil {
            if let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
                let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
                if fields.count > 1, fields[1] == "\(pid)", fields[0] == "Z" { zombies += 1 }
            }
            if let command = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8), command.contains(marker) { strays += 1 }
        }
        return Sample(
            rssKiB: field("VmRSS"), descriptors: try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count,
            threads: field("Threads"), zombies: zombies, strays: strays
        )
    }

    /// The lowest of a few samples a quarter second apart: runs in flight hold pipes and
    /// children for a moment, a leak holds them for good; the minimum sees only the leak.
    static func settled(_ pid: Int32) async throws -> Sample {
        var samples: [Sample] = []
        for _ in 0..<8 {
            samples.append(try sample(pid))
            try await Task.sleep(for: .milliseconds(250))
        }
        return Sample(
            rssKiB: samples.map(\.rssKiB).min()!, descriptors: samples.map(\.descriptors).min()!, threads: samples.map(\.threads).min()!,
            zombies: samples.map(\.zombies).min()!, strays: samples.map(\.strays).min()!
        )
    }

    @Test func misbehavingPluginsLeaveTheDaemonFlat() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixtures = try PluginFixtureDirectory()
        let plugins = [
            "hung": "cat >/dev/null; sleep \(Self.marker)",
            "crash": "cat >/dev/null; kill -SEGV $$",
            "garbage": "cat >/dev/null; head -c 4096 /dev/urandom",
            "flood": "cat >/dev/null; head -c 3000000 /dev/zero | tr '\\0' x",
            "noisy": "cat >/dev/null; head -c 2000000 /dev/zero >&2; echo '{\"success\": true}'",
            "forker": "cat >/dev/null; (sleep \(Self.marker) &); sleep \(Self.marker) & echo '{\"success\": true, \"message\": \"left children\"}'",
            "exits": "cat >/dev/null; exit 3",
        ]
        for (name, body) in plugins { try fixtures.addScript(name, spec: PluginFixtureDirectory.spec(name), body: body) }
        var lines = ["daemon: {database: history.db, shutdown_grace: 2s, max_concurrency: 64}", "jobs:"]
        for (name, _) in plugins.sorted(by: { $0.key < $1.key }) {
            for index in 1...4 {
                lines.append("  - {name: \(name)\(index), plugin: \(name), every: 1s, timeout: 1s, retry: {attempts: 2, wait: fixed, delay: 100ms, retry_on: [failure]}}")
            }
        }
        let config = directory + "/warden.yaml"
        try lines.joined(separator: "\n").write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(["--config", config, "--plugin-dir", fixtures.path], logFile: directory + "/daemon.log")
        #expect(await poll { daemon.log.contains("warden started") ? true : nil } == true, "\(daemon.log)")

        try await Task.sleep(for: .seconds(15))
        let warm = try await Self.settled(daemon.pid)
        try await Task.sleep(for: .seconds(Self.seconds - 15))
        let end = try await Self.settled(daemon.pid)
        print("plugin storm: after 15 s \(warm); after \(Self.seconds) s \(end)")
        #expect(end.descriptors <= warm.descriptors + 4, "descriptors grew: \(warm) → \(end)")
        #expect(end.threads <= warm.threads + 4, "threads grew: \(warm) → \(end)")
        #expect(end.rssKiB <= warm.rssKiB + warm.rssKiB / 4 + 8_192, "memory grew: \(warm) → \(end)")
        #expect(end.zombies <= 2, "\(end)")
        // At most the children of runs still in flight (4 hung and 4 forking jobs, 2 each).
        #expect(end.strays <= 16, "\(end)")

        #expect(await daemon.stop() == 0)
        #expect(try Self.sample(getpid()).strays == 0, "children outlived the daemon")
        let output = try await CLI.run(["stats", "--config", config, "--json"])
        let stats = ((output.json as? [String: Any])?["jobs"] as? [[String: Any]]) ?? []
        #expect(stats.count == plugins.count * 4, "\(output.stdout.prefix(500))")
        for job in stats {
            // Every job ran about once a second, however its plugin misbehaved (hung ones time out at 1 s, twice).
            let runs = (job["runs"] as? Int) ?? 0
            #expect(runs >= Self.seconds / 4, "\(job)")
        }
    }
}
