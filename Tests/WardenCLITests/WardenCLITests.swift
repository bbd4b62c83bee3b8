import Foundation
import Subprocess
import SystemPackage
import Testing
import WardenTestSupport

/// Runs the built `warden` binary, as an operator would.
struct CLI {
    typealias Output = TestCommand.Output

    static let binary: String = {
        if let explicit = ProcessInfo.processInfo.environment["WARDEN_BIN"] { return explicit }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("warden").path
    }()

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Output {
        try await command(binary, arguments, environment: environment)
    }

    static func command(_ path: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Output {
        try await TestCommand.run(path, arguments, environment: environment)
    }
}

@Suite("warden CLI")
struct WardenCLITests {
    @Test func versionPrints() async throws {
        let output = try await CLI.run(["--version"])
        #expect(output.status == 0)
        #expect(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
    }

    /// The reports are parsed as roots of their own (issue 18): what a person sees must read
    /// exactly as under the whole command tree, which `help <report>` still goes through.
    @Test(arguments: ["history", "stats", "status", "explain"])
    func reportsParsedDirectlyReadAsUnderTheTree(_ report: String) async throws {
        let help = try await CLI.run([report, "--help"])
        let treeHelp = try await CLI.run(["help", report])
        #expect(help.status == 0 && help.stdout == treeHelp.stdout, "\(help.stdout)")
        #expect(help.stdout.contains("USAGE: warden \(report) ") && help.stdout.contains("--version"), "\(help.stdout)")

        let bogus = try await CLI.run(report == "explain" ? [report, "1", "--bogus"] : [report, "--bogus"])
        #expect(bogus.status == 2 && bogus.stderr.contains("Unknown option '--bogus'"), "\(bogus.stderr)")
        #expect(bogus.stderr.contains("Usage: warden \(report) ") && bogus.stderr.contains("See 'warden \(report) --help'"), "\(bogus.stderr)")

        let version = try await CLI.run([report, "--version"])
        #expect(version.status == 0 && version.stdout.split(separator: ".").count == 3, "\(version.stdout)")
    }

    /// libsystemd and the six libraries it needs are loaded when something first uses them
    /// (sd_notify, journald, sd-bus), not by every command: linked, they were a millisecond of
    /// each command's start (issue 18). The dynamic loader names what it loads under LD_DEBUG.
    @Test func commandsThatDoNotTalkToSystemdNeverLoadLibsystemd() async throws {
        for arguments in [["--version"], ["plugins", "--plugin-dir", "/nonexistent"], ["history", "--database", "/nonexistent/history.db"]] {
            let output = try await CLI.run(arguments, environment: ["LD_DEBUG": "libs"])
            #expect(output.status == (arguments[0] == "history" ? 1 : 0), "\(arguments): \(output.stderr.suffix(500))")
            #expect(output.stderr.contains("libsqlite3"), "LD_DEBUG said nothing: \(output.stderr.prefix(300))")
            #expect(!output.stderr.contains("libsystemd"), "\(arguments) loaded libsystemd")
        }
    }

    /// Nor does the daemon when no service manager started it: `sd_notify` would only have
    /// found `NOTIFY_SOCKET` unset, after the loader had mapped libsystemd and its six
    /// libraries (1.1 MB resident in `make run`).
    @Test func aDaemonOutsideSystemdNeverLoadsLibsystemd() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/warden.yaml"
        try """
            daemon:
              database: \(directory)/history.db
            jobs:
              - name: dummy
                plugin: nagios
                every: 1s
                params: {command: /usr/lib/nagios/plugins/check_dummy, args: ["0"]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(
            ["--config", config, "--log-target", "stderr", "--plugin-dir", "/nonexistent"], logFile: directory + "/daemon.log",
            environment: ["NOTIFY_SOCKET": "", "WATCHDOG_USEC": ""])
        // Two runs stored: past start-up, its status updates and a tick's STATUS= line.
        let stored = await poll {
            let history = try? await CLI.run(["history", "--database", directory + "/history.db", "--json"])
            return (history?.json as? [Any]).flatMap { $0.count >= 2 ? $0 : nil }
        }
        #expect(stored != nil, "no runs stored: \(daemon.log.suffix(500))")
        let maps = try String(contentsOfFile: "/proc/\(daemon.pid)/maps", encoding: .utf8)
        #expect(maps.contains("libc.so"), "the maps list no libraries: \(maps.prefix(300))")
        let loadedLibsystemd = maps.contains("libsystemd")
        #expect(!loadedLibsystemd, "the daemon loaded libsystemd without a service manager")
        #expect(await daemon.stop() == 0)
    }

    /// A report given no arguments answers with its error, not its help (a root given none would).
    @Test func explainWithoutAnIDNamesWhatIsMissing() async throws {
        let missing = try await CLI.run(["explain"])
        #expect(missing.status == 2 && missing.stderr.hasPrefix("Error: Missing expected argument '<id>'"), "\(missing.stderr)")
    }

    @Test func pluginsJSONListsBuiltinsWithSchemas() async throws {
        let output = try await CLI.run(["plugins", "--json", "--plugin-dir", "/nonexistent"])
        #expect(output.status == 0)
        let plugins = try #require(output.json as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: plugins.map { ($0["name"] as? String ?? "", $0) })
        let remediations: Set = ["systemd_restart_unit", "systemd_start_unit", "systemd_stop_unit", "shell.exec_write", "http_request"]
        let expected = [
            "service_status", "external_api", "nagios", "tcp_connect", "tls_cert", "dns_resolve", "disk_usage", "load_average",
            "memory", "process_running", "file_age", "systemd_unit_status", "journal_errors", "prom.query", "prom.query_range",
            "loki.query", "sentry.get_issue", "shell.exec", "runbook.search",
        ] + remediations.sorted()
        for name in expected {
            let plugin = try #require(byName[name], "\(name) missing")
            #expect(plugin["category"] as? String == (remediations.contains(name) ? "remediation" : "diagnostic"), "\(name)")
            let schema = try #require(plugin["parameters"] as? [String: Any])
            #expect(schema["type"] as? String == "object")
            #expect(schema["properties"] is [String: Any])
        }
        let table = try await CLI.run(["plugins", "--plugin-dir", "/nonexistent"])
        #expect(table.stdout.hasPrefix("NAME"))
        #expect(table.stdout.split(separator: "\n").contains { $0.hasPrefix("service_status ") && $0.contains(" diagnostic ") })
    }

    @Test func pluginsShowOneSpec() async throws {
        let json = try await CLI.run(["plugins", "show", "nagios", "--json"])
        #expect(json.status == 0)
        #expect((json.json as? [String: Any])?["name"] as? String == "nagios")
        let human = try await CLI.run(["plugins", "show", "nagios"])
        #expect(human.stdout.contains("| `command` | string | yes |"))
        let unknown = try await CLI.run(["plugins", "show", "nagois"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("did you mean `nagios`?"))
    }

    @Test func markdownMatchesTheCommittedReference() async throws {
        let output = try await CLI.run(["plugins", "--markdown", "--plugin-dir", "/nonexistent"])
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/plugins.md")
        let committed = try String(contentsOf: docs, encoding: .utf8)
        #expect(output.stdout == committed, "docs/plugins.md is stale: run `make docs`")
    }

    @Test func execServiceStatusAgainstALiveServer() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let output = try await CLI.run(["exec", "service_status", "--param", "service_url=\(server.baseURL)/health", "--json"])
        #expect(output.status == 0)
        let result = try #require(output.json as? [String: Any])
        #expect(result["success"] as? Bool == true)
        #expect((result["data"] as? [String: Any])?["status_code"] as? Int == 200)
        #expect(Set(result.keys) == ["success", "data", "message", "error", "retry", "severity", "status"])
        #expect(result["status"] as? String == "ok" && result["severity"] is NSNull)

        let failing = try await CLI.run(["exec", "service_status", "--param", "service_url=\(server.baseURL)/status/503"])
        #expect(failing.status == 1)
        #expect(failing.stdout.hasPrefix("CRITICAL service_status"), "\(failing.stdout)")
    }

    /// One duration notation for every duration parameter: text or seconds, bounded in seconds.
    @Test func durationParametersTakeWardensNotation() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let quick = try await CLI.run(["exec", "service_status", "--param", "service_url=\(server.baseURL)/health", "--param", "timeout=2s", "--json"])
        #expect(quick.status == 0, "\(quick.stderr)")
        // 300 ms is shorter than the server's 2 s delay: the plugin times out on the duration text.
        let late = try await CLI.run(["exec", "service_status", "--param", "service_url=\(server.baseURL)/slow?ms=2000", "--param", "timeout=300ms", "--json"])
        #expect(late.status == 1 && ((late.json as? [String: Any])?["error"] as? String ?? "").contains("0.3"), "\(late.stdout)\(late.stderr)")
        let seconds = try await CLI.run(["exec", "service_status", "--param", "service_url=\(server.baseURL)/health", "--param", "timeout=2"])
        #expect(seconds.status == 0, "a bare number still means seconds: \(seconds.stderr)")
        let tooLong = try await CLI.run(["exec", "service_status", "--param", "service_url=\(server.baseURL)/health", "--param", "timeout=1w"])
        #expect(tooLong.status == 2 && tooLong.stderr.contains("/timeout: expected ≤ 300, got 604800"), "\(tooLong.stderr)")
        let shown = try await CLI.run(["plugins", "show", "service_status"])
        #expect(shown.stdout.contains("| `timeout` | duration | no | `5` |"), "\(shown.stdout)")
    }

    @Test func badParameterExitsTwoNamingIt() async throws {
        let output = try await CLI.run([
            "exec", "service_status", "--param", "service_url=http://127.0.0.1:1/", "--param", "timeout=abc",
        ])
        #expect(output.status == 2)
        #expect(output.stderr.contains("parameter `timeout`"))
        #expect(output.stderr.contains("/timeout: invalid duration `abc`: expected a number with a unit, e.g. 250ms, 30s"), "\(output.stderr)")

        let missing = try await CLI.run(["exec", "service_status"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("parameter `service_url`"))

        let badJSON = try await CLI.run(["exec", "service_status", "--params", "{nope"])
        #expect(badJSON.status == 2 && badJSON.stderr.contains("--params"))

        let badTimeout = try await CLI.run(["exec", "service_status", "--timeout", "soon"])
        #expect(badTimeout.status == 2 && badTimeout.stderr.contains("--timeout"))

        let badFlag = try await CLI.run(["exec", "service_status", "--frobnicate"])
        #expect(badFlag.status == 2)
    }

    @Test func paramOverridesParamsJSON() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let output = try await CLI.run([
            "exec", "service_status", "--params", #"{"service_url":"http://127.0.0.1:1/","expected_status":[500]}"#,
            "--param", "service_url=\(server.baseURL)/status/204", "--param", "expected_status=204", "--json",
        ])
        #expect(output.status == 0)
        #expect(server.requests.last?.uri == "/status/204")
    }

    @Test func nagiosCheckDummyWarningWithPerfdata() async throws {
        let output = try await CLI.run([
            "exec", "nagios", "--param", "command=/usr/lib/nagios/plugins/check_dummy",
            "--params", #"{"args":["1","disk almost full|used=91%;80;90;0;100"]}"#, "--json",
        ])
        #expect(output.status == 1)
        let data = try #require((output.json as? [String: Any])?["data"] as? [String: Any])
        #expect(data["state"] as? String == "warning")
        let item = try #require((data["perfdata"] as? [[String: Any]])?.first)
        #expect(item["label"] as? String == "used")
        #expect(item["value"] as? Double == 91)
        #expect(item["uom"] as? String == "%")
    }

    @Test func customPluginIsListedAndRuns() async throws {
        let fixtures = try PluginFixtureDirectory()
        try fixtures.addScript(
            "greet",
            spec: PluginFixtureDirectory.spec("custom.greet", parameters: #"{"type":"object","properties":{"who":{"type":"string"}},"required":["who"]}"#),
            body: #"input=$(cat); printf '{"success":true,"data":%s,"message":"hi"}' "$input""#
        )
        let listing = try await CLI.run(["plugins", "--plugin-dir", fixtures.path])
        #expect(listing.stdout.contains("custom.greet"))
        let output = try await CLI.run(["exec", "custom.greet", "--plugin-dir", fixtures.path, "--param", "who=ops", "--json"])
        #expect(output.status == 0)
        #expect(((output.json as? [String: Any])?["data"] as? [String: Any])?["who"] as? String == "ops")
    }

    @Test func hungCustomPluginIsKilledAtTimeoutWithNothingLeft() async throws {
        let fixtures = try PluginFixtureDirectory()
        let pidFile = fixtures.path + "/pids"
        try fixtures.addScript(
            "stuck", spec: PluginFixtureDirectory.spec("custom.stuck"),
            body: "sleep 301 & echo $! > \(pidFile).grandchild; echo $$ > \(pidFile).child; sleep 301"
        )
        let started = ContinuousClock.now
        let output = try await CLI.run(["exec", "custom.stuck", "--plugin-dir", fixtures.path, "--timeout", "2s", "--json"])
        let elapsed = ContinuousClock.now - started
        #expect(output.status == 1)
        #expect((output.json as? [String: Any])?["error"] as? String == "timed out after 2s")
        #expect(elapsed < .seconds(20), "the plugin alone sleeps 301 s")
        let child = try #require(await readPid(pidFile + ".child"))
        let grandchild = try #require(await readPid(pidFile + ".grandchild"))
        #expect(!processIsAlive(child))
        #expect(!processIsAlive(grandchild))
    }

    @Test func remediationNeedsAllowWrite() async throws {
        let fixtures = try PluginFixtureDirectory()
        let marker = fixtures.path + "/ran"
        try fixtures.addScript(
            "fixer", spec: PluginFixtureDirectory.spec("custom.fixer", category: "remediation"),
            body: #"[ "$WARDEN_DRY_RUN" = 1 ] || touch \#(marker); echo '{"success":true,"message":"fixed"}'"#
        )
        let refused = try await CLI.run(["exec", "custom.fixer", "--plugin-dir", fixtures.path])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("remediation plugin"))
        #expect(refused.stderr.contains("--allow-write"))
        #expect(!FileManager.default.fileExists(atPath: marker))

        let dry = try await CLI.run(["exec", "custom.fixer", "--plugin-dir", fixtures.path, "--dry-run"])
        #expect(dry.status == 0)
        #expect(!FileManager.default.fileExists(atPath: marker))

        let allowed = try await CLI.run(["exec", "custom.fixer", "--plugin-dir", fixtures.path, "--allow-write"])
        #expect(allowed.status == 0)
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    @Test func externalAPIKeyNeverPrinted() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let key = "very-secret-key-42"
        let output = try await CLI.run(
            ["exec", "external_api", "--param", "endpoint=echo", "--json", "--log-level", "trace"],
            environment: ["EXTERNAL_API_KEY": key, "EXTERNAL_API_URL": server.baseURL]
        )
        #expect(output.status == 0)
        #expect(!output.stdout.contains(key))
        #expect(!output.stderr.contains(key))
        #expect(server.requests.last?.headers["authorization"] == "Bearer \(key)")
    }
}

@Suite("shipped example custom plugin")
struct ExamplePluginTests {
    @Test func fileContainsExampleRunsThroughWarden() async throws {
        let fixtures = try PluginFixtureDirectory()
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../etc/warden/examples/plugins.d/file_contains").standardized.path
        let installed = fixtures.path + "/file_contains"
        try FileManager.default.copyItem(atPath: source, toPath: installed)
        #expect(chmod(installed, 0o755) == 0)
        let target = fixtures.path + "/target.txt"
        try "alpha\nERROR disk full\nbeta\n".write(toFile: target, atomically: true, encoding: .utf8)

        let found = try await CLI.run([
            "exec", "custom.file_contains", "--plugin-dir", fixtures.path,
            "--param", "path=\(target)", "--param", "pattern=^ERROR", "--json",
        ])
        #expect(found.status == 0)
        #expect(((found.json as? [String: Any])?["data"] as? [String: Any])?["first"] as? String == "ERROR disk full")

        let absent = try await CLI.run([
            "exec", "custom.file_contains", "--plugin-dir", fixtures.path,
            "--param", "path=\(target)", "--param", "pattern=^FATAL",
        ])
        #expect(absent.status == 1)

        let invalid = try await CLI.run([
            "exec", "custom.file_contains", "--plugin-dir", fixtures.path, "--param", "path=relative",
        ])
        #expect(invalid.status == 2)
        #expect(invalid.stderr.contains("parameter `path`"))
        #expect(invalid.stderr.contains("parameter `pattern`"))
    }
}

@Suite("host checks through the CLI")
struct HostChecksCLITests {
    @Test func diskUsageOfRootMatchesStatvfs() async throws {
        let output = try await CLI.run(["exec", "disk_usage", "--param", "path=/", "--json", "--plugin-dir", "/nonexistent"])
        let result = try #require(output.json as? [String: Any], "\(output.stderr)")
        let data = try #require(result["data"] as? [String: Any])
        var stats = statvfs()
        #expect(statvfs("/", &stats) == 0)
        #expect(data["total_bytes"] as? Int == Int(UInt64(stats.f_blocks) * UInt64(stats.f_frsize)))
        // Other tests write meanwhile: the same figure within 1% of the filesystem.
        let total = Int(UInt64(stats.f_blocks) * UInt64(stats.f_frsize))
        #expect(abs((data["free_bytes"] as? Int ?? 0) - Int(UInt64(stats.f_bavail) * UInt64(stats.f_frsize))) < total / 100)
    }

    @Test func loadAverageMatchesProc() async throws {
        func fifteenMinutes() throws -> Double {
            try Double(String(contentsOfFile: "/proc/loadavg", encoding: .utf8).split(separator: " ")[2]) ?? -1
        }
        // The average moves while the check runs (a loaded machine took 11 s): it must lie
        // between the readings taken around it.
        let before = try fifteenMinutes()
        let output = try await CLI.run(["exec", "load_average", "--json", "--plugin-dir", "/nonexistent"])
        let after = try fifteenMinutes()
        let result = try #require(output.json as? [String: Any], "\(output.stderr)")
        let data = try #require(result["data"] as? [String: Any])
        let reported = data["load_15m"] as? Double ?? -1
        #expect(reported >= min(before, after) - 0.02 && reported <= max(before, after) + 0.02, "\(before) \(reported) \(after)")
        #expect(data["cores"] as? Int == sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }
}

@Suite("prom.query through the CLI", .enabled(if: RealParts.available(TestPrometheus.available)))
struct PromQueryCLITests {
    @Test func upOfTheScrapedTarget() async throws {
        let prometheus = try TestPrometheus()
        defer { prometheus.stop() }
        #expect(await prometheus.waitUntilScraped())
        let output = try await CLI.run(["exec", "prom.query", "--param", "url=\(prometheus.baseURL)", "--param", #"query=up{job="self"}"#,
                                        "--json", "--plugin-dir", "/nonexistent"])
        #expect(output.status == 0, "\(output.stderr)")
        let data = try #require((output.json as? [String: Any])?["data"] as? [String: Any])
        #expect(data["value"] as? Double == 1)
    }
}
