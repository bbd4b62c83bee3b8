import Foundation
import Synchronization

/// SplitMix64: a seeded generator, so that every fuzz input can be made again from its seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Structure-aware mutations of a text input (a YAML config, a JSON document, a plugin's
/// output): the classes of input that crashed or hung Warden's parsers, applied at random.
public struct Mutator {
    public enum Kind: Sendable { case yaml, json, text }

    /// Values that once broke a reader: numbers that do not fit, non-finite values, empty and
    /// wrong-typed values, dangling aliases, secrets that block.
    static let hostileValues = [
        "1e17", "99999999999999999999d", "1e400", "-1e400", ".inf", "-.inf", ".nan", "1e308s", "9e15", "-1",
        "0", "-0.0", "9223372036854775808", "-9223372036854775809", "[]", "{}", "null", "~", "true", "\"\"", "''",
        "*nowhere", "&a", "!!binary x", "${env:WARDEN_FUZZ_UNSET}", "${file:/proc/kmsg}", "${file:/dev/zero}",
        "${file:/nonexistent}", "${", "{{ run.data.x }}", "{{", "\"\\u0000\"", "\"\\ud800\"", "NaN", "Infinity",
        "1h1h1h", "5 m", "0.0000001ms", "P1D", "* * * * * *", "@every", "|\n  x", ">-",
    ]

    public var generator: SeededGenerator
    public let kind: Kind

    public init(seed: UInt64, kind: Kind) {
        generator = SeededGenerator(seed: seed)
        self.kind = kind
    }

    /// One to four mutations of `seed`; bytes, since a mutation may break UTF-8.
    public mutating func mutate(_ seed: String) -> [UInt8] {
        var lines = seed.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8) }
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            guard !lines.isEmpty else { lines = [[]]; continue }
            let index = Int.random(in: 0..<lines.count, using: &generator)
            switch Int.random(in: 0..<11, using: &generator) {
            case 0:  // a byte flipped: bad UTF-8, control characters, stray quotes
                if !lines[index].isEmpty {
                    lines[index][Int.random(in: 0..<lines[index].count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            case 1: lines.remove(at: index)
            case 2: lines.insert(lines[index], at: index)
            case 3:  // indentation shifted
                if Bool.random(using: &generator) { lines[index].insert(contentsOf: Array("  ".utf8), at: 0) } else { lines[index].removeFirst(min(2, lines[index].count)) }
            case 4, 5:  // a value swapped for a hostile one
                lines[index] = replacingValue(lines[index], with: Array(Self.hostileValues.randomElement(using: &generator)!.utf8))
            case 6:  // a long value
                let length = [1_000, 70_000, 300_000].randomElement(using: &generator)!
                lines[index] = replacingValue(lines[index], with: Array(String(repeating: "x", count: length).utf8))
            case 7:  // deep nesting
                let depth = [70, 1_100, 5_000].randomElement(using: &generator)!
                let (open, close) = kind == .text ? ("(", ")") : Bool.random(using: &generator) ? ("[", "]") : ("{a: ", "}")
                let nested = String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
                lines[index] = replacingValue(lines[index], with: Array(nested.utf8))
            case 8:  // aliases that multiply
                if kind == .yaml {
                    let indent = lines[index].prefix { $0 == UInt8(ascii: " ") }
                    var bomb = [String(decoding: indent, as: UTF8.self) + "b0: &b0 [x, x]"]
                    for level in 1..<Int.random(in: 5...40, using: &generator) {
                        bomb.append(String(decoding: indent, as: UTF8.self) + "b\(level): &b\(level) [*b\(level - 1), *b\(level - 1)]")
                    }
                    lines.insert(contentsOf: bomb.map { Array($0.utf8) }, at: index)
                } else {
                    lines[index] += Array(#"{"a":[1,2,{"b":null}]}"#.utf8)
                }
            case 9:  // two lines swapped
                let other = Int.random(in: 0..<lines.count, using: &generator)
                lines.swapAt(index, other)
            default:  // cut short
                lines[index] = Array(lines[index].prefix(Int.random(in: 0...lines[index].count, using: &generator)))
            }
        }
        return Array(lines.joined(separator: [UInt8(ascii: "\n")]))
    }

    /// The line with the text after its first `: ` (or `":`, or the whole line) replaced.
    private func replacingValue(_ line: [UInt8], with value: [UInt8]) -> [UInt8] {
        if let colon = line.firstIndex(of: UInt8(ascii: ":")), colon + 1 < line.count {
            return Array(line[...colon]) + [UInt8(ascii: " ")] + value
        }
        return value
    }
}

/// Fails the process loudly, with the input saved, when one fuzz input runs too long: an
/// in-process hang cannot be interrupted, so it becomes a crash with its reproducer.
public final class FuzzWatchdog: Sendable {
    private struct Current {
        var input: [UInt8] = []
        var label = ""
        var started: ContinuousClock.Instant?
    }

    private let current = Mutex(Current())
    private let stopped = Atomic<Bool>(false)
    private let limit: Duration

    public init(limit: Duration) {
        self.limit = limit
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 0.25)
                let (late, input, label): (Bool, [UInt8], String) = current.withLock { current in
                    guard let started = current.started else { return (false, [], "") }
                    return (ContinuousClock.now - started > limit, current.input, current.label)
                }
                if late {
                    let path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-fuzz-hang-\(label)").path
                    _ = FileManager.default.createFile(atPath: path, contents: Data(input))
                    fatalError("fuzz input \(label) ran longer than \(limit): saved to \(path)")
                }
            }
        }
        thread.start()
    }

    /// Runs `body` on `input`; returns the CPU time it took on this thread. Callers bound the
    /// work an input costs, which a loaded CI machine does not stretch as it stretches wall
    /// time (the watchdog, for hangs, still counts wall time).
    public func run(_ input: [UInt8], label: String, _ body: () throws -> Void) rethrows -> Duration {
        current.withLock { $0 = Current(input: input, label: label, started: .now) }
        defer { current.withLock { $0.started = nil } }
        return try measuringThreadCPUTime(body).1
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    /// How many inputs a fuzz test runs: `WARDEN_FUZZ_INPUTS` (`make fuzz`) or `standard`.
    public static func inputs(standard: Int) -> Int {
        ProcessInfo.processInfo.environment["WARDEN_FUZZ_INPUTS"].flatMap(Int.init) ?? standard
    }

    /// The first seed: `WARDEN_FUZZ_SEED` to replay, otherwise fixed (reproducible runs).
    public static var firstSeed: UInt64 {
        ProcessInfo.processInfo.environment["WARDEN_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_201
    }
}
