import Foundation
import Logging
import Testing
import WardenBuiltins
import WardenEngine
import WardenPluginKit
import WardenPlugins

private struct ThrowingPlugin: Plugin {
    let spec = PluginSpec(name: "throws", description: "throws", category: .diagnostic, parameters: ["type": "object"])
    let error: any Error & Sendable
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult { throw error }
}

/// Blocks its thread and ignores cancellation: the worst a plugin can do in-process.
private struct StubbornPlugin: Plugin {
    let spec = PluginSpec(name: "stubborn", description: "ignores cancellation", category: .diagnostic, parameters: ["type": "object"])
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        // Deaf to cancellation for 30 s without holding a cooperative thread (a busy loop here
        // made the test depend on how loaded the machine's two pool threads were).
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + 30) { continuation.resume() }
        }
        return .ok(message: "finally")
    }
}

private struct EnvironmentPlugin: Plugin {
    let spec = PluginSpec(name: "env", description: "reads env", category: .diagnostic, parameters: ["type": "object"])
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        .ok(.string(context.environment["MY_SETTING"] ?? ""), message: "dry=\(context.dryRun)")
    }
}

/// Echoes its secret parameter back, as a careless API error message would.
private struct LeakyPlugin: Plugin {
    let spec = PluginSpec(name: "leaky", description: "echoes its token", category: .diagnostic, parameters: [
        "type": "object", "properties": ["token": ["type": "string", "writeOnly": true]],
    ])
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let token = parameters["token"]?.stringValue ?? ""
        throw PluginError("401: bad token \(token)", data: ["sent": .string(token)])
    }
}

struct SomeError: Error, CustomStringConvertible { var description: String { "disk exploded" } }

@Suite("plugin executor")
struct PluginExecutorTests {
    @Test func thrownErrorsBecomeFailedResults() async throws {
        let plain = try await run(ThrowingPlugin(error: SomeError()), [:])
        #expect(!plain.success && plain.error == "disk exploded" && !plain.retry)
        let transient = try await run(ThrowingPlugin(error: PluginError("refused", retry: true, data: ["port": 5432])), [:])
        #expect(!transient.success && transient.retry && transient.data["port"] == 5432)
    }

    @Test func secretParametersAreScrubbedFromEveryResult() async throws {
        let result = try await run(LeakyPlugin(), ["token": "s3cr3t-value"])
        #expect(result.error == "401: bad token ***")
        #expect(result.data["sent"] == "***")
        #expect(!result.json.jsonText().contains("s3cr3t-value"))
    }

    @Test func timeoutReturnsEvenIfThePluginIgnoresCancellation() async throws {
        let registry = PluginRegistry()
        let entry = try registry.register(StubbornPlugin())
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: Logger(label: "test"), environment: [:],
                                      cancellationGrace: .milliseconds(100))
        let started = ContinuousClock.now
        let execution = await executor.execute(entry, parameters: [:], timeout: .milliseconds(300))
        #expect(execution.timedOut)
        #expect(execution.result.error == "timed out after 300ms")
        #expect(execution.result.retry)
        // Well before the plugin's 30 s of ignoring cancellation ends. (It takes 0.4 s; the
        // margin is for the test process itself, whose two pool threads the parallel suite's
        // start-up has kept busy for more than 4 s.)
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func environmentAndDryRunAreInjected() async throws {
        let registry = PluginRegistry()
        let entry = try registry.register(EnvironmentPlugin())
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: Logger(label: "test"), environment: ["MY_SETTING": "42"])
        let execution = await executor.execute(entry, parameters: [:], timeout: .seconds(10), dryRun: true)
        #expect(execution.result.data == "42")
        #expect(execution.result.message == "dry=true")
    }

    @Test func everyBuiltinRegistersWithAValidSchema() throws {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        #expect(registry.names == BuiltinPlugins.all.map(\.spec.name).sorted())
        for entry in registry.list() {
            #expect(!entry.spec.description.isEmpty)
            for (name, property) in entry.schema.properties {
                #expect(property.description?.isEmpty == false, "\(entry.spec.name).\(name) has no description")
            }
        }
    }

    @Test func durationsParseAndFormat() throws {
        #expect(try DurationText.parse("250ms") == .milliseconds(250))
        #expect(try DurationText.parse("1h30m") == .seconds(5400))
        #expect(try DurationText.parse("1d") == .seconds(86400))
        #expect(try DurationText.parse("2") == .seconds(2))
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse("5 parsecs") }
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse("") }
        #expect(Duration.seconds(90).wardenFormatted == "1m30s")
        #expect(Duration.milliseconds(300).wardenFormatted == "300ms")
    }
}

private struct InstantPlugin: Plugin {
    let spec = PluginSpec(name: "instant", description: "returns at once", category: .diagnostic, parameters: ["type": "object"])
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult { .ok(message: "done") }
}

@Suite("executor deadline race")
struct ExecutorRaceTests {
    /// A plugin that finishes long before its deadline must never be reported as timed out
    /// (a finished task once woke its own timer, which then won the race).
    @Test func fastPluginsNeverTimeOut() async throws {
        let registry = PluginRegistry()
        let entry = try registry.register(InstantPlugin())
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: Logger(label: "test"), environment: [:])
        var timedOut = 0
        for _ in 0..<2000 {
            let execution = await executor.execute(entry, parameters: [:], timeout: .seconds(30))
            if execution.timedOut || !execution.result.success { timedOut += 1 }
        }
        #expect(timedOut == 0)
    }
}

/// Gives up as its own bound on `context.remaining` runs out (a custom executable's kill),
/// here at once, so that it always wins the race against the executor's deadline.
struct GivesUpAtTheDeadlinePlugin: Plugin {
    let spec = PluginSpec(name: "gives_up", description: "test", category: .diagnostic, parameters: ["type": "object"])

    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        throw PluginTimedOut("gave up at the deadline")
    }
}

@Suite("plugin deadlines")
struct PluginDeadlineRaceTests {
    /// A plugin that gives up at its deadline and the executor's deadline fire at the same
    /// instant; whichever wins, the run timed out. (It was recorded `unknown` whenever the
    /// plugin won: the severity test saw a `slow` job's run come back `unknown` under load.)
    @Test func aPluginGivingUpAtItsDeadlineIsATimeout() async throws {
        let registry = PluginRegistry()
        let entry = try registry.register(GivesUpAtTheDeadlinePlugin())
        let executor = PluginExecutor(httpClient: sharedHTTPClient, logger: Logger(label: "test"), environment: [:])
        let execution = await executor.execute(entry, parameters: [:], timeout: .seconds(5))
        #expect(execution.outcome == .timeout)
        #expect(execution.result.error == "timed out after 5s" && execution.result.retry)
    }
}
