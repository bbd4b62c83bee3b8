import Testing
@testable import WardenPluginKit

private struct StubPlugin: Plugin {
    let spec: PluginSpec
    init(_ name: String, category: PluginCategory = .diagnostic, parameters: JSONValue = ["type": "object"]) {
        spec = PluginSpec(name: name, description: "stub \(name)", category: category, parameters: parameters)
    }
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        .ok(.object(parameters), message: spec.name)
    }
}

@Suite("Plugin registry")
struct RegistryTests {
    @Test func registersListsSortedAndFiltersByCategory() throws {
        let registry = PluginRegistry()
        try registry.register(StubPlugin("zeta"))
        try registry.register(StubPlugin("alpha", category: .remediation))
        try registry.register(StubPlugin("mid"))
        #expect(registry.names == ["alpha", "mid", "zeta"])
        #expect(registry.list(category: .diagnostic).map(\.spec.name) == ["mid", "zeta"])
        #expect(registry.lookup("alpha")?.spec.category == .remediation)
        #expect(registry.lookup("nope") == nil)
    }

    @Test func duplicateNamesBothOrigins() throws {
        let registry = PluginRegistry()
        try registry.register(StubPlugin("check"))
        #expect(throws: RegistrationError.duplicate("check", existing: .builtin, new: .executable(path: "/x/check"))) {
            try registry.register(StubPlugin("check"), origin: .executable(path: "/x/check"))
        }
        let message = RegistrationError.duplicate("check", existing: .builtin, new: .executable(path: "/x/check")).description
        #expect(message.contains("/x/check") && message.contains("built-in"))
    }

    @Test func rejectsBadNamesAndMalformedSchemas() {
        let registry = PluginRegistry()
        #expect(throws: RegistrationError.self) { try registry.register(StubPlugin("Bad Name")) }
        #expect(throws: RegistrationError.self) {
            try registry.register(StubPlugin("x", parameters: ["type": "object", "properties": ["a": ["type": "intger"]]]))
        }
        #expect(throws: RegistrationError.self) { try registry.register(StubPlugin("y", parameters: ["type": "string"])) }
        #expect(registry.names.isEmpty)
    }

    @Test func validatesAndRedactsThroughTheEntry() throws {
        let registry = PluginRegistry()
        let entry = try registry.register(StubPlugin("secretive", parameters: [
            "type": "object",
            "properties": ["token": ["type": "string", "writeOnly": true], "n": ["type": "integer", "default": 3]],
        ]))
        let validated = try entry.validate(["token": "abc"]).get()
        #expect(validated == ["token": "abc", "n": 3])
        #expect(entry.redacted(validated) == ["token": "***", "n": 3])
    }

    @Test func namesFollowThePattern() {
        #expect(PluginSpec.isValidName("custom.disk-check_2"))
        #expect(!PluginSpec.isValidName(""))
        #expect(!PluginSpec.isValidName("Upper"))
        #expect(!PluginSpec.isValidName("has space"))
    }

    @Test func suggestsNearestNames() {
        #expect(NameSuggester.nearest(to: "servce_status", among: ["service_status", "nagios"]) == "service_status")
        #expect(NameSuggester.nearest(to: "zzz", among: ["service_status"]) == nil)
    }
}
