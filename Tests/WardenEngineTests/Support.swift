import AsyncHTTPClient
import Foundation
import Logging
import Synchronization
import WardenBuiltins
import WardenEngine
import WardenPluginKit
import WardenPlugins

let testLogger: Logger = {
    var logger = Logger(label: "warden-test")
    logger.logLevel = .critical
    return logger
}()

let sharedHTTPClient = SharedHTTPClient.make()

/// A registry with the built-ins and the given in-process plugins.
func makeRegistry(_ extra: [any Plugin] = []) throws -> PluginRegistry {
    let registry = PluginRegistry()
    try BuiltinPlugins.register(into: registry)
    for plugin in extra { try registry.register(plugin) }
    return registry
}

/// A fresh temporary directory, removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let target = file(name)
        try text.write(toFile: target, atomically: true, encoding: .utf8)
        return target
    }
}

/// A diagnostic that sleeps, counts how many of its runs overlap (overall and per job), and
/// fails the first `failures` calls with `retry: true`.
final class ProbePlugin: Plugin, Sendable {
    struct Counters {
        var running = 0
        var peak = 0
        var calls = 0
        var perJobRunning: [String: Int] = [:]
        var perJobPeak = 0
    }

    let spec: PluginSpec
    let delay: Duration
    let failures: Int
    let counters = Mutex(Counters())

    init(name: String = "probe", delay: Duration = .zero, failures: Int = 0, category: PluginCategory = .diagnostic) {
        spec = PluginSpec(name: name, description: "test probe", category: category, parameters: [
            "type": "object",
            "properties": ["tag": ["type": "string", "default": ""], "token": ["type": "string", "writeOnly": true]],
        ])
        self.delay = delay
        self.failures = failures
    }

    func execute(_ params: JSONObject, context: PluginContext) async throws -> PluginResult {
        let tag = params["tag"]?.stringValue ?? ""
        let call = counters.withLock { counters in
            counters.calls += 1
            counters.running += 1
            counters.peak = max(counters.peak, counters.running)
            counters.perJobRunning[tag, default: 0] += 1
            counters.perJobPeak = max(counters.perJobPeak, counters.perJobRunning[tag]!)
            return counters.calls
        }
        defer {
            counters.withLock { counters in
                counters.running -= 1
                counters.perJobRunning[tag]! -= 1
            }
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        if call <= failures { return .failure("probe failure \(call)", retry: true) }
        let token = params["token"]?.stringValue ?? ""
        return .ok(["call": .int(call), "echo": .string("token=\(token)"), "tag": .string(tag)], message: "probe ok \(call)" + (tag.isEmpty ? "" : " \(tag)"))
    }

    var calls: Int { counters.withLock { $0.calls } }
    var peak: Int { counters.withLock { $0.peak } }
    var perJobPeak: Int { counters.withLock { $0.perJobPeak } }
}

/// A clock for retry tests: sleeps return at once and advance the time; every wait is kept.
final class ManualClock: RunClock {
    private let state: Mutex<(now: Date, sleeps: [Duration])>

    init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex((start, []))
    }

    func now() -> Date { state.withLock { $0.now } }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        state.withLock { state in
            state.sleeps.append(duration)
            state.now = state.now.addingTimeInterval(duration.seconds)
        }
    }

    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func advance(by duration: Duration) {
        state.withLock { $0.now = $0.now.addingTimeInterval(duration.seconds) }
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
func eventually(within limit: Duration = .seconds(10), _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}
