import Foundation
import Testing
import WardenBuiltins
import WardenPluginKit
@testable import WardenPluginSupport
@testable import WardenPlugins
import WardenTestSupport

/// The other text Warden parses from outside: a custom plugin's `--spec` and result output,
/// Nagios plugin output, and HTTP bodies (every HTTP plugin reads them with
/// `JSONValue.parse`). Mutated, each is handled (a value or a readable refusal), never a
/// crash or a hang.
@Suite("plugin input fuzzing")
struct PluginInputFuzzTests {
    static var inputs: Int { FuzzWatchdog.inputs(standard: 2_000) }

    static func fuzz(_ seeds: [String], kind: Mutator.Kind, label: String, _ body: ([UInt8]) -> Void) {
        let watchdog = FuzzWatchdog(limit: .seconds(30))
        defer { watchdog.stop() }
        for index in 0..<inputs {
            let seed = FuzzWatchdog.firstSeed &+ UInt64(index)
            var mutator = Mutator(seed: seed, kind: kind)
            let input = mutator.mutate(seeds[Int(seed % UInt64(seeds.count))])
            let took = watchdog.run(input, label: "\(label)-\(seed)") { body(input) }
            if took > .seconds(2) { Issue.record("\(label) seed \(seed) took \(took)") }
        }
    }

    static func outcome(_ output: [UInt8], code: Int32 = 0) -> ContainedProcess.Outcome {
        ContainedProcess.Outcome(termination: .exited(code), standardOutput: output, outputOverflowed: false, standardError: [],
                                 errorTruncated: false, timedOut: false, pid: 1)
    }

    @Test func customPluginSpecs() throws {
        let registry = PluginRegistry()
        try BuiltinPlugins.register(into: registry)
        let seeds = try registry.list().prefix(20).map { String(decoding: try JSONEncoder().encode($0.spec), as: UTF8.self) }
        var accepted = 0
        Self.fuzz(seeds, kind: .json, label: "spec") { input in
            // What discovery does with `--spec` output: decode, then register (compiles the schema).
            guard let spec = try? JSONDecoder().decode(PluginSpec.self, from: Data(input)) else { return }
            let plugin = ExecutablePlugin(spec: spec, path: "/nonexistent/fuzz")
            if let entry = try? PluginRegistry().register(plugin, origin: .executable(path: "/nonexistent/fuzz")) {
                accepted += 1
                _ = entry.schema.validate(.object([:]))
                _ = entry.schema.validate(.object(["url": "http://x", "timeout": .double(.infinity), "n": .array([.null])]))
            }
        }
        #expect(accepted > 0)
    }

    @Test func customPluginResults() {
        let seeds = [
            #"{"success": true, "message": "ok", "data": {"value": 1.5, "items": [1, 2, {"a": null}]}}"#,
            #"{"success": false, "error": "db down", "retry": true, "message": "cannot connect"}"#,
            #"{"success": true}"#,
        ]
        Self.fuzz(seeds, kind: .json, label: "result") { input in
            let result = ExecutablePlugin.interpret(Self.outcome(input), path: "/plugins/fuzz", outputLimit: 1 << 20)
            // Anything that is not a valid result is a failure that says why.
            if !result.success { #expect(result.error?.isEmpty == false) }
        }
    }

    @Test func nagiosOutput() {
        let seeds = [
            "DISK OK - free space: / 3326 MB (56% inode=99%);| /=2643MB;5948;5958;0;5968\n/ 15272 MB (77% inode=100%);| /boot=68MB;88;93;0;98",
            "PROCS CRITICAL: 0 processes with command name 'nginx' | procs=0;1:;1:;0;",
            "HTTP OK: HTTP/1.1 200 OK - 612 bytes in 0.001 second response time |time=0.000519s;;;0.000000;10.000000 size=612B;;;0",
            "LOAD OK - total load average: 0.10, 0.20, 0.30|load1=0.100;15.000;30.000;0; load5=0.200;10.000;25.000;0; 'load 15'=0.3;5;20;0;",
        ]
        Self.fuzz(seeds, kind: .text, label: "nagios") { input in
            let output = NagiosOutput(parsing: String(decoding: input, as: UTF8.self))
            #expect(output.perfdata.count <= input.count)
        }
    }

    @Test func httpBodies() {
        let seeds = [
            #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"node"},"value":[1700000000.123,"1"]}]}}"#,
            #"[{"labels":{"alertname":"HighLoad","severity":"warning"},"annotations":{"summary":"x"},"startsAt":"2026-12-01T00:00:00Z","status":{"state":"active"}}]"#,
            #"{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"web-1","namespace":"default"},"status":{"phase":"Running","containerStatuses":[{"restartCount":3,"ready":true}]}}]}"#,
            #"{"status": "ok", "checks": {"db": "ok", "cache": {"latency_ms": 1.5e3}}}"#,
        ]
        Self.fuzz(seeds, kind: .json, label: "http") { input in
            // A value, or a refusal that says why: never anything else.
            do {
                _ = try JSONValue.parse(Data(input))
            } catch {
                #expect((error as? JSONTextError)?.reason.isEmpty == false, "\(error)")
            }
        }
    }
}
