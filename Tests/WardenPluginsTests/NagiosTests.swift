import Foundation
import Testing
import WardenPluginKit
@testable import WardenPlugins
import WardenTestSupport

private let pluginsDirectory = "/usr/lib/nagios/plugins"

@Suite("Nagios perfdata and output parsing")
struct NagiosOutputTests {
    @Test func firstLineTextAndPerfdata() {
        let output = NagiosOutput(parsing: "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n")
        #expect(output.output == "DISK OK - free space: / 3326 MB (56%);")
        #expect(output.longOutput == "")
        #expect(output.perfdata.count == 1)
        let item = output.perfdata[0]
        #expect(item.label == "/")
        #expect(item.value == 2643 && item.unit == "MB")
        #expect(item.warning?.end == 5948 && item.critical?.end == 5958)
        #expect(item.minimum == 0 && item.maximum == 5968)
    }

    @Test func longOutputAndPerfdataOnLaterLines() {
        let text = """
            DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968
            / 15272 MB (77%);
            /boot 68 MB (69%);
            /home 69357 MB (27%);
            /var/log 819 MB (84%); | /boot=68MB;88;93;0;98
            /home=69357MB;253404;253409;0;253414
            /var/log=818MB;970;975;0;980
            """
        let output = NagiosOutput(parsing: text)
        #expect(output.longOutput == "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%); ")
        #expect(output.perfdata.map(\.label) == ["/", "/boot", "/home", "/var/log"])
    }

    @Test func quotedLabelsMissingFieldsAndUndeterminedValues() {
        let items = PerfdataItem.parseAll("'in use'=5;;;0 'it''s'=1c time=0.25s;;2 rta=U;100;200 bad novalue=")
        #expect(items.map(\.label) == ["in use", "it's", "time", "rta"])
        #expect(items[0].value == 5 && items[0].warning == nil && items[0].minimum == 0 && items[0].maximum == nil)
        #expect(items[1].unit == "c")
        #expect(items[2].unit == "s" && items[2].critical?.end == 2)
        #expect(items[3].value == nil && items[3].warning?.end == 100)
    }

    @Test func thresholdRanges() throws {
        let plain = try #require(ThresholdRange("10"))
        #expect(!plain.alerts(5) && plain.alerts(11) && plain.alerts(-1))
        let above = try #require(ThresholdRange("10:"))
        #expect(above.alerts(9) && !above.alerts(1000))
        let below = try #require(ThresholdRange("~:10"))
        #expect(!below.alerts(-1000) && below.alerts(11))
        let inside = try #require(ThresholdRange("@10:20"))
        #expect(inside.alerts(15) && !inside.alerts(25))
        #expect(ThresholdRange("abc") == nil)
    }
}

@Suite("nagios plugin against Debian's monitoring-plugins")
struct NagiosCheckTests {
    func check(_ name: String, _ args: [String]) async throws -> PluginResult {
        try await run(NagiosCheckPlugin(), [
            "command": .string("\(pluginsDirectory)/\(name)"), "args": .array(args.map(JSONValue.string)),
        ])
    }

    @Test func dummyStatesMapToResults() async throws {
        for (code, state) in ["ok", "warning", "critical", "unknown"].enumerated() {
            let result = try await check("check_dummy", ["\(code)", "state \(state)"])
            #expect(result.success == (code == 0))
            #expect(result.data["state"] == .string(state))
            #expect(result.data["exit_code"] == .int(code))
            #expect(result.message.contains("state \(state)"))
        }
    }

    @Test func dummyWithPerfdata() async throws {
        let result = try await check("check_dummy", ["1", "disk almost full|used=91%;80;90;0;100"])
        #expect(result.data["state"] == "warning")
        let item = try #require(result.data["perfdata"]?.arrayValue?.first)
        #expect(item["label"] == "used" && item["value"] == 91.0 && item["uom"] == "%")
        #expect(item["warn"]?["end"] == 80.0 && item["crit"]?["end"] == 90.0 && item["max"] == 100.0)
    }

    @Test func tcpAgainstLiveAndRefusedPorts() async throws {
        let server = try await TestHTTPServer.start()
        defer { Task { await server.stop() } }
        let up = try await check("check_tcp", ["-H", "127.0.0.1", "-p", "\(server.port)"])
        #expect(up.success && up.data["state"] == "ok")
        #expect(up.data["perfdata"]?.arrayValue?.first?["label"] == "time")
        let down = try await check("check_tcp", ["-H", "127.0.0.1", "-p", "\(try TestHTTPServer.refusedPort())"])
        #expect(!down.success && down.data["state"] == "critical")
    }

    @Test func diskAndLoadReportPerfdata() async throws {
        let disk = try await check("check_disk", ["-w", "0%", "-c", "0%", "-p", "/"])
        #expect(disk.data["state"] == "ok")
        #expect(disk.data["perfdata"]?.arrayValue?.contains { $0["label"] == "/" } == true)
        let load = try await check("check_load", ["-w", "1000,1000,1000", "-c", "2000,2000,2000"])
        #expect(load.success)
        #expect(load.data["perfdata"]?.arrayValue?.compactMap { $0["label"]?.stringValue } == ["load1", "load5", "load15"])
    }

    @Test func missingCommandAndArgumentsAreNotShellExpanded() async throws {
        let missing = try await run(NagiosCheckPlugin(), ["command": "/nonexistent/check_x"])
        #expect(!missing.success && missing.message.contains("does not exist"))
        // `$(...)` would run under a shell; passed as a plain argument it is just text.
        let literal = try await check("check_dummy", ["0", "$(touch /tmp/warden-shell-injection)"])
        #expect(literal.message == "OK: $(touch /tmp/warden-shell-injection)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/warden-shell-injection"))
    }

    @Test func hungCheckIsKilledAtItsTimeout() async throws {
        let fixtures = try PluginFixtureDirectory()
        let pidFile = fixtures.path + "/pid"
        let script = try fixtures.addScript("check_hang", spec: "{}", body: "sleep 300 & echo $! > \(pidFile); sleep 300")
        let started = ContinuousClock.now
        let result = try await run(NagiosCheckPlugin(), ["command": .string(script), "timeout": 1])
        #expect(!result.success && result.retry && result.data["state"] == "unknown")
        #expect(ContinuousClock.now - started < .seconds(15), "the check alone sleeps 300 s")
        let grandchild = try #require(await readPid(pidFile))
        #expect(await processExits(grandchild))
    }
}
