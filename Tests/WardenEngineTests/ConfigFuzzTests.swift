import Foundation
import Testing
import WardenPluginKit
import WardenTestSupport
@testable import WardenEngine

/// A seeded mutation fuzzer over the shipped configs (`etc/`): every input either loads or
/// is refused with problems positioned inside the file; none crashes or hangs. `make fuzz`
/// runs many more (`WARDEN_FUZZ_INPUTS`); `WARDEN_FUZZ_SEED` replays one.
@Suite("config fuzzing")
struct ConfigFuzzTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let environment = ["API_TOKEN": "fuzz", "WARDEN_PG_PASSWORD": "fuzz"]

    static func seeds() throws -> [String] {
        let examples = repository + "/etc/warden/examples"
        let files = ["etc/warden/warden.yaml"] + (try FileManager.default.contentsOfDirectory(atPath: examples))
            .filter { $0.hasSuffix(".yaml") }.sorted().map { "etc/warden/examples/" + $0 }
        return try files.map { try String(contentsOfFile: repository + "/" + $0, encoding: .utf8) }
    }

    /// Loads `input` from a file, as the daemon and `check-config` do; records what is wrong.
    static func check(_ input: [UInt8], at path: String, loader: ConfigLoader, label: String) -> Bool {
        _ = FileManager.default.createFile(atPath: path, contents: Data(input))
        let lines = input.count { $0 == UInt8(ascii: "\n") } + 1
        do {
            _ = try loader.load(path: path)
            return true
        } catch {
            if error.problems.isEmpty { Issue.record("\(label): refused without a problem") }
            for problem in error.problems {
                let location = problem.location
                if location.file != path || location.line < 1 || location.line > lines + 1 || location.column < 1 {
                    Issue.record("\(label): problem outside the file: \(problem)")
                }
            }
            return false
        }
    }

    @Test func mutatedShippedConfigsNeverCrashHangOrGoUnpositioned() throws {
        let seeds = try Self.seeds()
        let loader = ConfigLoader(registry: try makeRegistry(), environment: Self.environment)
        let directory = try TemporaryDirectory()
        let path = directory.file("fuzz.yaml")
        let watchdog = FuzzWatchdog(limit: .seconds(30))
        defer { watchdog.stop() }
        let count = FuzzWatchdog.inputs(standard: 5_000)
        var loaded = 0
        var slowest: (Duration, UInt64) = (.zero, 0)
        for index in 0..<count {
            let seed = FuzzWatchdog.firstSeed &+ UInt64(index)
            var mutator = Mutator(seed: seed, kind: .yaml)
            let input = mutator.mutate(seeds[Int(seed % UInt64(seeds.count))])
            var ok = false
            let took = watchdog.run(input, label: "config-\(seed)") {
                ok = Self.check(input, at: path, loader: loader, label: "seed \(seed)")
            }
            if ok { loaded += 1 }
            if took > slowest.0 { slowest = (took, seed) }
            // A bound on each input, not a speed target: a refusal that takes seconds is a
            // reload that keeps systemd waiting.
            if took > .seconds(2) { Issue.record("seed \(seed) took \(took) (WARDEN_FUZZ_SEED=\(seed) WARDEN_FUZZ_INPUTS=1 replays it)") }
        }
        print("config fuzzing: \(count) inputs, \(loaded) loaded, \(count - loaded) refused with positions; slowest \(slowest.0) (seed \(slowest.1))")
        #expect(count - loaded > count / 2, "most mutations should be refused")
    }

    /// The inputs that once crashed or hung the loader, one per bug class (Tests/fuzz-corpus/config).
    @Test func pastCrashersAreRefusedWithAPosition() throws {
        let corpus = Self.repository + "/Tests/fuzz-corpus/config"
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count >= 10)
        let loader = ConfigLoader(registry: try makeRegistry(), environment: Self.environment)
        let directory = try TemporaryDirectory()
        let watchdog = FuzzWatchdog(limit: .seconds(30))
        defer { watchdog.stop() }
        for file in files {
            let input = Array(try Data(contentsOf: URL(fileURLWithPath: corpus + "/" + file)))
            let took = watchdog.run(input, label: file) {
                #expect(!Self.check(input, at: directory.file(file), loader: loader, label: file), "\(file) loaded")
            }
            #expect(took < .seconds(2), "\(file) took \(took)")
        }
    }
}
