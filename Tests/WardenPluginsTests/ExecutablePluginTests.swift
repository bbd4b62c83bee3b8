import Foundation
import Logging
import Testing
import WardenBuiltins
import WardenEngine
import WardenPluginKit
import WardenPluginSupport
@testable import WardenPlugins
import WardenTestSupport

/// Custom plugins are real child processes: each way one can misbehave is contained.
@Suite("custom executable plugins")
struct ExecutablePluginTests {
    let fixtures = try! PluginFixtureDirectory()

    func load(_ file: String) async throws -> ExecutablePlugin {
        try await PluginDirectory(paths: [fixtures.path]).loadSpec(at: file).get()
    }

    func execute(_ file: String, _ parameters: JSONObject = [:], timeout: Duration = .seconds(10)) async throws -> PluginResult {
        try await run(load(file), parameters, timeout: timeout)
    }

    @Test func goodPluginReceivesValidatedParametersOnStdin() async throws {
        let file = try fixtures.addScript(
            "echo",
            spec: PluginFixtureDirectory.spec("custom.echo", parameters: #"{"type":"object","properties":{"n":{"type":"integer","default":7}}}"#),
            body: #"input=$(cat); printf '{"success":true,"data":{"got":%s,"plugin":"%s"},"message":"fine"}' "$input" "$WARDEN_PLUGIN""#
        )
        let result = try await execute(file, ["extra": "x"])
        #expect(result.success)
        #expect(result.message == "fine")
        #expect(result.data["got"] == ["n": 7, "extra": "x"])
        #expect(result.data["plugin"] == "custom.echo")
    }

    @Test func minimalExplicitEnvironment() async throws {
        setenv("WARDEN_TEST_LEAK", "should-not-pass", 1)
        let file = try fixtures.addScript(
            "env", spec: PluginFixtureDirectory.spec("custom.env"),
            body: #"printf '{"success":true,"data":{"leak":"%s","path":"%s"}}' "$WARDEN_TEST_LEAK" "$PATH""#
        )
        let result = try await execute(file)
        #expect(result.data["leak"] == "")
        #expect(result.data["path"]?.stringValue?.contains("/usr/bin") == true)
    }

    @Test func garbageOutputIsAFailureNamingTheProblem() async throws {
        let file = try fixtures.addScript("garbage", spec: PluginFixtureDirectory.spec("custom.garbage"), body: "echo 'hello, not json'")
        let result = try await execute(file)
        #expect(!result.success)
        #expect(result.error == "output is not JSON")
        #expect(result.message.contains("hello, not json"))
    }

    @Test func jsonThatIsNotAResult() async throws {
        let file = try fixtures.addScript("notresult", spec: PluginFixtureDirectory.spec("custom.notresult"), body: #"echo '{"ok":1}'"#)
        let result = try await execute(file)
        #expect(result.error == "invalid result: `success` must be true or false")
    }

    @Test func noOutputAndNonZeroExit() async throws {
        let silent = try fixtures.addScript("silent", spec: PluginFixtureDirectory.spec("custom.silent"), body: "exit 0")
        #expect(try await execute(silent).error == "no output")
        let failing = try fixtures.addScript("failing", spec: PluginFixtureDirectory.spec("custom.failing"), body: "exit 3")
        #expect(try await execute(failing).error == "exited with status 3 without a result")
    }

    @Test func resultWithNonZeroExitIsKept() async throws {
        let file = try fixtures.addScript(
            "reported", spec: PluginFixtureDirectory.spec("custom.reported"),
            body: #"echo '{"success":false,"error":"db down","retry":true}'; exit 1"#
        )
        let result = try await execute(file)
        #expect(!result.success && result.error == "db down" && result.retry)
    }

    @Test func crashBySignal() async throws {
        let file = try fixtures.addScript("crash", spec: PluginFixtureDirectory.spec("custom.crash"), body: "kill -SEGV $$")
        let result = try await execute(file)
        #expect(!result.success)
        #expect(result.error == "crashed: killed by SIGSEGV")
    }

    @Test func oversizedOutputIsCutAndKilled() async throws {
        let file = try fixtures.addScript(
            "flood", spec: PluginFixtureDirectory.spec("custom.flood"),
            body: "head -c 3000000 /dev/zero | tr '\\0' 'x'; sleep 30"
        )
        let started = ContinuousClock.now
        let result = try await execute(file)
        #expect(result.error == "output exceeded 1048576 bytes")
        #expect(ContinuousClock.now - started < .seconds(15), "the script's sleep 30 was cut short")
    }

    @Test func stderrFloodDoesNotBlockTheChild() async throws {
        let file = try fixtures.addScript(
            "noisy", spec: PluginFixtureDirectory.spec("custom.noisy"),
            body: #"head -c 2000000 /dev/zero >&2; echo '{"success":true}'"#
        )
        #expect(try await execute(file).success)
    }

    @Test func hungPluginAndItsGrandchildAreKilledAndReaped() async throws {
        let pidFile = fixtures.path + "/grandchild.pid"
        let file = try fixtures.addScript(
            "hang", spec: PluginFixtureDirectory.spec("custom.hang"),
            // The grandchild inherits stdout, so the pipe stays open after the child dies.
            body: "sleep 300 & echo $! > \(pidFile); trap '' TERM; sleep 300"
        )
        let started = ContinuousClock.now
        let result = try await execute(file, timeout: .seconds(1))
        let elapsed = ContinuousClock.now - started
        #expect(!result.success && result.retry)
        #expect(result.error?.contains("timed out") == true)
        // 1 s timeout + 2 s grace before SIGKILL (the child ignores SIGTERM), with a margin
        // for a loaded machine; the script alone would take 300 s.
        #expect(elapsed < .seconds(15))
        let grandchild = try #require(await readPid(pidFile))
        #expect(await processExits(grandchild))
    }

    /// Its own kill at the run's deadline is the run's timeout, not a result of its own
    /// (which came out `unknown` whenever it beat the executor's deadline).
    @Test func aKillAtTheDeadlineIsReportedAsTheRunsTimeout() async throws {
        let file = try fixtures.addScript("sleepy", spec: PluginFixtureDirectory.spec("custom.sleepy"), body: "cat >/dev/null; sleep 30")
        let plugin = try await load(file)
        await #expect(throws: PluginTimedOut.self) {
            _ = try await plugin.execute([:], context: makeContext(timeout: .milliseconds(300)))
        }
    }

    @Test func backgroundLeftoverIsKilledAfterANormalRun() async throws {
        let pidFile = fixtures.path + "/leftover.pid"
        let file = try fixtures.addScript(
            "leftover", spec: PluginFixtureDirectory.spec("custom.leftover"),
            body: #"sleep 300 >/dev/null 2>&1 & echo $! > \#(pidFile); echo '{"success":true}'"#
        )
        #expect(try await execute(file).success)
        let leftover = try #require(await readPid(pidFile))
        #expect(await processExits(leftover))
    }

    @Test func secretParametersAreScrubbedFromWhatThePluginEchoes() async throws {
        let file = try fixtures.addScript(
            "echo_secret",
            spec: PluginFixtureDirectory.spec("custom.secret", parameters: #"{"type":"object","properties":{"password":{"type":"string","writeOnly":true}}}"#),
            body: #"input=$(cat); pw=$(echo "$input" | sed 's/.*"password":"\([^"]*\)".*/\1/'); echo "$input" >&2; printf '{"success":false,"error":"bad password %s","data":%s}' "$pw" "$input""#
        )
        let result = try await execute(file, ["password": "hunter2"])
        #expect(!result.json.jsonText().contains("hunter2"))
        #expect(result.data["password"] == "***")
        #expect(result.error == "bad password ***")
    }
}

@Suite("custom plugin discovery")
struct PluginDiscoveryTests {
    let fixtures = try! PluginFixtureDirectory()

    func discover(_ paths: [String]? = nil) async throws -> (PluginRegistry, PluginDirectory.Report) {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        let report = await PluginDirectory(paths: paths ?? [fixtures.path]).discover(into: registry, logger: Logger(label: "test"))
        return (registry, report)
    }

    @Test func registersGoodPluginsAndReportsBadOnes() async throws {
        try fixtures.addScript("good", spec: PluginFixtureDirectory.spec("custom.good"), body: "exit 0")
        try fixtures.addScript("clash", spec: PluginFixtureDirectory.spec("service_status"), body: "exit 0")
        try fixtures.addScript("badspec", spec: "not json at all", body: "exit 0")
        try fixtures.addScript("badschema", spec: PluginFixtureDirectory.spec("custom.badschema", parameters: #"{"type":"object","properties":{"a":{"type":"nope"}}}"#), body: "exit 0")
        try fixtures.addScript("worldwritable", spec: PluginFixtureDirectory.spec("custom.ww"), body: "exit 0", mode: 0o777)
        let notExecutable = fixtures.path + "/README.md"
        try "docs".write(toFile: notExecutable, atomically: true, encoding: .utf8)

        let (registry, report) = try await discover()
        #expect(registry.lookup("custom.good")?.origin == .executable(path: fixtures.path + "/good"))
        #expect(registry.lookup("service_status")?.origin == .builtin)
        let reasons = Dictionary(report.problems.map { (($0.path as NSString).lastPathComponent, $0.reason) }, uniquingKeysWith: { a, _ in a })
        #expect(reasons["clash"]?.contains("conflicts with the built-in plugin") == true)
        #expect(reasons["badspec"]?.contains("did not print a valid spec") == true)
        #expect(reasons["badschema"]?.contains("malformed parameter schema") == true)
        #expect(reasons["worldwritable"]?.contains("writable by group or others") == true)
        #expect(reasons["README.md"] == nil)
        #expect(registry.lookup("custom.ww") == nil)
    }

    @Test(.enabled(if: RealParts.available(geteuid() == 0), "chown to another user needs root"))
    func refusesFilesOwnedByAnotherUserAndUnsafeDirectories() async throws {
        let file = try fixtures.addScript("foreign", spec: PluginFixtureDirectory.spec("custom.foreign"), body: "exit 0")
        #expect(chown(file, 65534, 65534) == 0)
        let (registry, report) = try await discover()
        #expect(registry.lookup("custom.foreign") == nil)
        #expect(report.problems.first?.reason.contains("owned by uid 65534") == true)

        #expect(chmod(fixtures.path, 0o777) == 0)
        let (_, unsafeDirectory) = try await discover()
        #expect(unsafeDirectory.problems.map(\.path) == [fixtures.path])
    }

    @Test func missingDirectoryIsNotAnError() async throws {
        let (registry, report) = try await discover(["/nonexistent/warden/plugins.d"])
        #expect(report.problems.isEmpty)
        #expect(registry.names == BuiltinPlugins.all.map(\.spec.name).sorted())
    }

    @Test func hangingSpecIsTimedOut() async throws {
        try fixtures.addScript("slowspec", spec: "{}", body: "exit 0")
        let slow = fixtures.path + "/slowspec"
        try PluginFixtureDirectory.writeClosingOnExec("#!/bin/sh\nsleep 300\n", to: slow)
        chmod(slow, 0o755)
        let registry = PluginRegistry()
        let started = ContinuousClock.now
        let report = await PluginDirectory(paths: [fixtures.path], specTimeout: .milliseconds(500))
            .discover(into: registry, logger: Logger(label: "test"))
        #expect(report.problems.first?.reason.contains("did not finish") == true)
        #expect(ContinuousClock.now - started < .seconds(15), "the spec script alone sleeps 300 s")
    }
}

@Suite("custom plugin removed after discovery")
struct VanishedPluginTests {
    @Test func missingExecutableIsARetryableFailure() async throws {
        let fixtures = try PluginFixtureDirectory()
        let file = try fixtures.addScript("gone", spec: PluginFixtureDirectory.spec("custom.gone"), body: "exit 0")
        let plugin = try await PluginDirectory(paths: [fixtures.path]).loadSpec(at: file).get()
        try FileManager.default.removeItem(atPath: file)
        let result = try await run(plugin, [:])
        #expect(!result.success && result.retry)
        #expect(result.error?.hasPrefix("cannot start \(file)") == true)
    }
}

@Suite("discovery at scale")
struct ManyPluginsDiscoveryTests {
    @Test func loadsEveryPluginOfALargeDirectory() async throws {
        let fixtures = try PluginFixtureDirectory()
        for index in 0..<40 {
            try fixtures.addScript("p\(index)", spec: PluginFixtureDirectory.spec("custom.p\(index)"), body: "exit 0")
        }
        let registry = PluginRegistry()
        let report = await PluginDirectory(paths: [fixtures.path]).discover(into: registry, logger: Logger(label: "test"))
        #expect(report.problems.isEmpty)
        #expect(registry.names.count == 40)
    }
}

@Suite("contained process limits")
struct ContainedProcessTests {
    /// A child that starts its own session escapes the process group, and can keep our pipe
    /// open after the group is killed. Warden must stop reading instead of hanging.
    @Test func escapedPipeHolderDoesNotHangTheRun() async throws {
        let fixtures = try PluginFixtureDirectory()
        let pidFile = fixtures.path + "/escaped.pid"
        let script = try fixtures.addScript("escape", spec: "{}", body: "setsid sleep 60 & echo $! > \(pidFile); sleep 300")
        let started = ContinuousClock.now
        let outcome = try await ContainedProcess.run(.init(
            executable: script, timeout: .milliseconds(500), killGrace: .milliseconds(300)
        ))
        let elapsed = ContinuousClock.now - started
        if let escaped = await readPid(pidFile) { kill(escaped, SIGKILL) }
        #expect(outcome.timedOut)
        #expect(elapsed < .seconds(15), "the escaped child holds the pipe for 60 s")
    }

    @Test func exitStatusAndOutputsAreReported() async throws {
        let outcome = try await ContainedProcess.run(.init(
            executable: "/bin/sh", arguments: ["-c", "cat; echo err >&2; exit 7"],
            standardInput: Array("in".utf8), timeout: .seconds(5)
        ))
        #expect(outcome.termination == .exited(7))
        #expect(String(decoding: outcome.standardOutput, as: UTF8.self) == "in")
        #expect(outcome.standardErrorText == "err\n")
        #expect(!outcome.timedOut && !outcome.outputOverflowed)
    }
}
