import Foundation
import Synchronization
import Testing
@testable import WardenPluginKit

/// The per-run JSON paths (issue 18) replaced Foundation's encoder and decoder with direct
/// ones; these hold them to what Foundation did, over generated values as well as the cases
/// that differ most (escapes, number forms, key order, snake_case keys).
@Suite("JSON text and typed parameters")
struct JSONCodecTests {
    /// What `jsonText()` was before: JSONEncoder, sorted keys, slashes unescaped.
    static func foundationText(_ value: JSONValue, pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty
            ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    static let edgeCases: [JSONValue] = [
        .null, true, false, 0, -7, .int(.max), .int(.min), 0.5, -0.0, 1e20, 1e-7, 123456789.125, 5.0, .double(.greatestFiniteMagnitude),
        "", "plain", "quote \" backslash \\ slash / tab \t newline \n return \r", "\u{08}\u{0C}\u{01}\u{1F}\u{7F}",
        "é ü 日本 🚀 \u{2028}", ["b": 1, "a": 2, "B": 3, "a10": 4, "a9": 5, "_x": 6, "é": 7, "": 8],
        [[], [:], [nil], ["nested": ["deep": [1, 2.5, "x"]]]],
    ]

    @Test func compactTextIsByteForByteWhatJSONEncoderWrote() {
        for value in Self.edgeCases {
            #expect(value.jsonText() == Self.foundationText(value), "\(Self.foundationText(value))")
        }
    }

    /// `warden history --json` and the other CLI reports print through the pretty writer.
    @Test func prettyTextIsByteForByteWhatJSONEncoderWrote() {
        for value in Self.edgeCases + [["empty": [:], "list": [[], [[:]]]]] {
            #expect(value.jsonText(pretty: true) == Self.foundationText(value, pretty: true), "\(Self.foundationText(value, pretty: true))")
        }
        var random = SeededRandom(seed: 1818)
        for _ in 0..<2_000 {
            let value = random.jsonValue(depth: 4)
            #expect(value.jsonText(pretty: true) == Self.foundationText(value, pretty: true))
        }
    }

    @Test func compactTextAgreesOnGeneratedValues() {
        var random = SeededRandom(seed: 18)
        for _ in 0..<2_000 {
            let value = random.jsonValue(depth: 3)
            #expect(value.jsonText() == Self.foundationText(value))
        }
    }

    /// The direct reader answers as Foundation's decoder does, on what the writer writes and
    /// on hand-written text: numbers in every form, escapes, surrogate pairs, whitespace.
    @Test func theDirectReaderAgreesWithFoundation() throws {
        var random = SeededRandom(seed: 8118)
        var texts = (0..<2_000).map { index in
            let value = random.jsonValue(depth: 4)
            return index.isMultiple(of: 2) ? value.jsonText() : value.jsonText(pretty: true)
        }
        texts += [
            "5.0", "1e+17", "1E2", "1.5e1", "-0", "-0.0", "1e-07", "0.1e1", "100.00", "1e+20", "12.5",
            "9223372036854775807", "-9223372036854775808", "9223372036854775808", "123456789012345678901234",
            "5.171558657046909e+16", "-9.223372036854775808e18", "9.223372036854775808e18", "0e999", "0.001e3", "1e-400", "-1e-400", "-1.5e1",
            #""\u00e9\ud83d\ude80\n\/\u0000""#, #"{"a" : [ 1 , { } , [ ] ] , "b" :null}"#, " \t\r\n[true,false]\n",
        ]
        for text in texts {
            let direct = try #require(JSONTextReader.value(of: text.utf8), "\(text)")
            #expect(direct == (try JSONValue.parseWithFoundation(Data(text.utf8))), "\(text)")
        }
    }

    /// What strict JSON forbids the reader leaves to Foundation, so the answer or the error
    /// message is Foundation's.
    @Test func textTheReaderRejectsGetsFoundationsAnswer() {
        let rejected = [
            "", "01", "1.", ".5", "+1", "-", "1e", "1e+", "NaN", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{a:1}",
            "\"tab\tinside\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"unterminated", "tru", "nul", "[1]]", "{\"a\":1,\"a\":2}",
            String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        ]
        for text in rejected {
            // `== nil` would compare with JSONValue's nil literal, `.null`.
            #expect(JSONTextReader.value(of: text.utf8) == Optional<JSONValue>.none, "\(text.prefix(40))")
        }
        #expect(JSONTextReader.value(of: [0x22, 0xFF, 0x22]) == Optional<JSONValue>.none, "invalid UTF-8")
        // Foundation, asked, words the error (it is lenient where the reader is not: `[1,]` is `[1]` there).
        #expect(throws: JSONTextError.self) { try JSONValue.parse("nope") }
    }

    @Test func nonFiniteNumbersAreNull() {
        #expect(JSONValue.array([.double(.nan), .double(.infinity)]).jsonText() == "[null,null]")
    }

    struct Options: Decodable, Equatable {
        let serviceUrl: String
        let expectedStatus: [Int]
        let timeoutSeconds: Double
        let maxRetries: Int
        let label: String?
        let flags: [String: Bool]
        let nested: Nested?
        let _private: Int?

        struct Nested: Decodable, Equatable {
            let innerValue: UInt8
        }
    }

    @Test func typedParametersDecodeAsJSONDecoderDidWithSnakeCaseKeys() throws {
        let parameters: JSONObject = [
            "service_url": "http://x/", "expected_status": [200, 204], "timeout_seconds": 5, "max_retries": 3.0,
            "flags": ["a_b": true], "nested": ["inner_value": 7], "_private": 1,
        ]
        let direct = try parameters.decode(Options.self)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let viaText = try decoder.decode(Options.self, from: Data(JSONValue.object(parameters).jsonText().utf8))
        #expect(direct == viaText)
        #expect(direct.label == nil && direct.timeoutSeconds == 5 && direct.maxRetries == 3 && direct.nested?.innerValue == 7)
    }

    @Test(arguments: ["service_url", "trailing_", "__leading", "a__b", "already", "UPPER_CASE", "x_1_y"])
    func keysConvertAsFoundationConverts(_ key: String) throws {
        struct AnyKeys: Decodable {
            let keys: [String]
            init(from decoder: any Decoder) throws {
                keys = try decoder.container(keyedBy: Key.self).allKeys.map(\.stringValue)
            }
            struct Key: CodingKey {
                var stringValue: String
                var intValue: Int? { nil }
                init?(stringValue: String) { self.stringValue = stringValue }
                init?(intValue: Int) { nil }
            }
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let foundation = try decoder.decode(AnyKeys.self, from: Data("{\"\(key)\": 1}".utf8)).keys
        #expect(try ([key: 1] as JSONObject).decode(AnyKeys.self).keys == foundation)
    }

    @Test func aMismatchNamesTheParameter() {
        struct Wanted: Decodable { let port: UInt16; let names: [String] }
        #expect(throws: PluginError.self) { try (["port": 70_000, "names": []] as JSONObject).decode(Wanted.self) }
        do {
            _ = try (["port": 80, "names": ["a", 5]] as JSONObject).decode(Wanted.self)
            Issue.record("a number among names decoded")
        } catch {
            #expect("\(error)".contains("names.1"), "\(error)")
        }
        do {
            _ = try (["names": []] as JSONObject).decode(Wanted.self)
            Issue.record("a missing port decoded")
        } catch {
            #expect("\(error)".contains("`port` is missing"), "\(error)")
        }
    }
}

/// A job's parameters decode once: the same value of the same type comes from the cache, a
/// different value or type decodes afresh, a failure is never remembered, and a full cache
/// drops what was not used since it last filled instead of growing with parameters a
/// remediation renders every run.
@Suite("decoded parameters")
struct DecodedParametersTests {
    struct Counted: Decodable, Sendable, Equatable { let url: String }
    struct Other: Decodable, Sendable, Equatable { let url: String }

    @Test func theSameParametersDecodeOnce() throws {
        let cache = DecodedParameters(capacity: 3)
        let decodes = Mutex(0)
        func decode<T: Decodable & Sendable>(_ type: T.Type, _ parameters: JSONObject) throws -> T {
            try cache.value(type, of: parameters) {
                decodes.withLock { $0 += 1 }
                return try JSONValueDecoder(.object(parameters)).decode(type)
            }
        }
        let a: JSONObject = ["url": "http://a/"]
        #expect(try decode(Counted.self, a) == Counted(url: "http://a/"))
        #expect(try decode(Counted.self, a) == Counted(url: "http://a/"))
        #expect(decodes.withLock { $0 } == 1)
        #expect(try decode(Other.self, a) == Other(url: "http://a/"))
        #expect(try decode(Counted.self, ["url": "http://b/"]) == Counted(url: "http://b/"))
        #expect(decodes.withLock { $0 } == 3 && cache.count == 3)
        #expect(throws: DecodingError.self) { try decode(Counted.self, ["url": 5]) }
        #expect(throws: DecodingError.self) { try decode(Counted.self, ["url": 5]) }
        #expect(decodes.withLock { $0 } == 5 && cache.count == 3)
        // Full: what was looked up since (`a` as Counted) stays, the rest goes.
        _ = try decode(Counted.self, ["url": "http://c/"])
        #expect(cache.count == 2)
        _ = try decode(Counted.self, a)
        #expect(decodes.withLock { $0 } == 6)
    }

    /// Jobs' parameters, looked up every run, outlive parameters rendered once each, however
    /// many renderings pass through. A cache that started over when full decoded every job
    /// again each time it filled: with more jobs than it held, on every run.
    @Test func parametersUsedEveryRunSurviveOneOffRenderings() throws {
        let cache = DecodedParameters(capacity: 5)
        let decodes = Mutex(0)
        func decode(_ parameters: JSONObject) throws {
            _ = try cache.value(Counted.self, of: parameters) {
                decodes.withLock { $0 += 1 }
                return try JSONValueDecoder(.object(parameters)).decode(Counted.self)
            }
        }
        let jobs: [JSONObject] = (0..<3).map { ["url": .string("http://job-\($0)/")] }
        for round in 0..<20 {
            for job in jobs { try decode(job) }
            try decode(["url": .string("http://rendered-\(round)/")])
        }
        #expect(decodes.withLock { $0 } == 3 + 20, "each job decoded once, each rendering once")
        #expect(cache.count <= 5)
    }

    /// A run's slot answers its job's parameters without looking in the shared cache, and
    /// only for the same type and equal parameters: a reloaded job's new parameters, or
    /// another object the plugin decodes, read through (and the slot keeps the newest).
    @Test func aJobsSlotAnswersItsOwnParametersOnly() async throws {
        let shared = DecodedParameters(capacity: 4)
        let empty = DecodedParameters(capacity: 4)
        let decodes = Mutex(0)
        func decode<T: Decodable & Sendable>(_ type: T.Type, _ parameters: JSONObject, in cache: DecodedParameters) -> Result<T, any Error> {
            Result {
                try cache.value(type, of: parameters) {
                    decodes.withLock { $0 += 1 }
                    return try JSONValueDecoder(.object(parameters)).decode(type)
                }
            }
        }
        let job: JSONObject = ["url": "http://job/"]
        let reloaded: JSONObject = ["url": "http://reloaded/"]
        let slot = ParameterSlot()
        let inRun = await slot.withCurrent {
            [decode(Counted.self, job, in: shared), decode(Counted.self, job, in: empty), decode(Counted.self, reloaded, in: empty)]
        }
        #expect(try inRun.map { try $0.get().url } == ["http://job/", "http://job/", "http://reloaded/"])
        #expect(decodes.withLock { $0 } == 2 && empty.count == 1, "the second came from the slot, the third did not")
        let other = await slot.withCurrent { decode(Other.self, reloaded, in: empty) }
        #expect(try other.get() == Other(url: "http://reloaded/"))
        #expect(try decode(Counted.self, job, in: empty).get().url == "http://job/")
        #expect(decodes.withLock { $0 } == 4, "outside a run no slot answers")
    }

    @Test func pluginsDecodeThroughTheSharedCache() throws {
        let parameters: JSONObject = ["url": .string("http://shared-\(UInt64.random(in: 0...UInt64.max))/")]
        let before = DecodedParameters.shared.count
        let first = try parameters.decode(Counted.self)
        let second = try parameters.decode(Counted.self)
        #expect(first == second && DecodedParameters.shared.count == before + 1)
    }
}

/// A small deterministic generator (SplitMix64) for the generated cases.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func string() -> String {
        let alphabet = Array("abcXYZ09 _-/\\\"\n\t\u{01}\u{1F}é日🚀")
        return String((0..<Int.random(in: 0...8, using: &self)).map { _ in alphabet.randomElement(using: &self)! })
    }

    mutating func jsonValue(depth: Int) -> JSONValue {
        switch Int.random(in: 0...(depth > 0 ? 7 : 4), using: &self) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &self))
        case 2: return .int(Int.random(in: -1_000_000...1_000_000, using: &self))
        case 3:
            let magnitude = Double.random(in: -1...1, using: &self) * pow(10, Double(Int.random(in: -12...22, using: &self)))
            return .double(Bool.random(using: &self) ? magnitude : magnitude.rounded())
        case 4: return .string(string())
        case 5: return .array((0..<Int.random(in: 0...4, using: &self)).map { _ in jsonValue(depth: depth - 1) })
        default:
            var members: JSONObject = [:]
            for _ in 0..<Int.random(in: 0...4, using: &self) { members[string()] = jsonValue(depth: depth - 1) }
            return .object(members)
        }
    }
}
