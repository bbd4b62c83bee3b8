import Foundation
import Testing
import WardenPluginKit

/// The contract's shared grammar and typed access: one duration notation, parameters decoded
/// into the plugin's own type with the schema's defaults, and the daemon's limits typed.
@Suite("plugin contract")
struct ContractTests {
    @Test(arguments: [("250ms", 250), ("30s", 30_000), ("1h30m", 5_400_000), ("2d", 172_800_000), ("1w", 604_800_000), ("1.5", 1_500), ("90", 90_000)])
    func oneDurationGrammar(_ text: String, _ milliseconds: Int64) throws {
        #expect(try DurationText.parse(text) == .milliseconds(milliseconds))
    }

    @Test func durationTextRefusesWhatItCannotRead() {
        for text in ["", "5 parsecs", "1y", "-3s", "m5", "1e400"] {
            #expect(throws: DurationText.ParseError.self) { try DurationText.parse(text) }
        }
    }

    static let schema = try! JSONSchema([
        "type": "object",
        "properties": [
            "timeout": JSONSchema.duration("How long.", default: "30s", maximum: 300),
            "since": JSONSchema.duration("How far back."),
            "count": ["type": "integer", "default": 3],
            "codes": ["type": ["integer", "array"], "items": ["type": "integer"], "default": 200],
        ],
        "additionalProperties": false,
    ])

    @Test func aDurationParameterTakesTextOrSecondsAndReachesThePluginAsSeconds() throws {
        let defaulted = try Self.schema.validate([:]).get()
        #expect(defaulted["timeout"] == 30, "the default `30s` arrives as 30 seconds")
        #expect(try Self.schema.validate(["timeout": "1m30s"]).get()["timeout"] == 90)
        #expect(try Self.schema.validate(["timeout": "250ms"]).get()["timeout"] == 0.25)
        #expect(try Self.schema.validate(["timeout": 12]).get()["timeout"] == 12)
        #expect(try Self.schema.validate(["since": "2w"]).get()["since"] == 1_209_600)
    }

    @Test func aBadDurationNamesItsParameter() {
        func problems(_ value: JSONValue) -> String {
            guard case .failure(let error) = Self.schema.validate(value) else { return "" }
            return error.description
        }
        #expect(problems(["timeout": "soon"]).hasPrefix("/timeout: invalid duration `soon`"))
        #expect(problems(["timeout": "10m"]) == "/timeout: expected ≤ 300, got 600")
        #expect(problems(["timeout": 0]) == "/timeout: expected > 0, got 0")
        #expect(problems(["timeout": true]).hasPrefix("/timeout: expected a duration"))
        #expect(problems(["timeout": -1]).hasPrefix("/timeout: expected a duration"))
    }

    @Test func aCommandLineArgumentForADurationStaysText() {
        #expect(Self.schema.properties["timeout"]?.coerce(argument: "2s") == "2s")
        #expect(Self.schema.properties["timeout"]?.isDuration == true)
        #expect(Self.schema.properties["count"]?.isDuration == false)
    }

    struct Options: Decodable {
        let timeout: DurationParameter
        let since: DurationParameter?
        let count: Int
        let codes: OneOrMany<Int>
    }

    @Test func validatedParametersDecodeIntoThePluginsType() throws {
        let options = try Self.schema.validate(["since": "1h", "codes": [200, 204]]).get().objectValue!.decode(Options.self)
        #expect(options.timeout.duration == .seconds(30))
        #expect(options.since?.duration == .seconds(3600))
        #expect(options.count == 3)
        #expect(options.codes.values == [200, 204])
        let single = try Self.schema.validate([:]).get().objectValue!.decode(Options.self)
        #expect(single.codes.values == [200] && single.since == nil)
    }

    @Test func aTypeThatDisagreesWithItsSchemaThrowsNamingTheField() {
        struct Wrong: Decodable { let count: String }
        #expect {
            try (["count": 3] as JSONObject).decode(Wrong.self)
        } throws: { error in
            (error as? PluginError)?.error.contains("`count`: expected String") == true
        }
    }

    @Test func hostLimitsMatchUnitsByNameAndProgramsByPath() throws {
        let limits = HostLimits(allowedUnits: ["nginx.service", "app-*.service"], shellAllow: ["/usr/bin/*"])
        #expect(limits.allows("app-web.service", by: .allowedUnits))
        #expect(!limits.allows("postgresql.service", by: .allowedUnits))
        #expect(limits.allows("/usr/bin/uptime", by: .shellAllow))
        #expect(!limits.allows("/usr/bin/sub/tool", by: .shellAllow), "`*` stops at `/` in a program list")
        #expect(!limits.allows("/bin/true", by: .shellWriteAllow), "an empty list allows nothing")
        #expect(HostLimits().allows("any.service", by: .allowedUnits), "no config: no unit bound (a manual exec)")
        #expect(throws: PluginError.self) { try limits.check("postgresql.service", by: .allowedUnits, what: "unit") }
    }

    @Test func anUnknownAllowListIsASchemaError() {
        #expect(throws: SchemaDefinitionError.self) {
            try JSONSchema(["type": "object", "properties": ["unit": ["type": "string", "x-allowed-by": "allowed_unitz"]]])
        }
    }
}

/// The contract stays light: a plugin family may bring client libraries, the contract may not.
@Suite("plugin contract dependencies")
struct ContractDependencyTests {
    @Test func thePluginKitDependsOnSwiftLogAlone() throws {
        let manifest = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Package.swift").path, encoding: .utf8)
        // The target's own declaration (the product line has `targets:` after the name).
        let start = try #require(manifest.range(of: "name: \"WardenPluginKit\",\n"))
        let target = manifest[start.upperBound...]
        let block = String(target[..<(target.range(of: "swiftSettings")?.lowerBound ?? target.endIndex)])
        let products = block.components(separatedBy: ".product(name: \"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(products == ["Logging"], "WardenPluginKit depends on \(products)")
        #expect(!block.contains("\"Warden"), "the contract depends on no other Warden module")
    }
}
