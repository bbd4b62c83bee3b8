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

private struct NonBlockingStub: NonBlockingPlugin {
    let spec = PluginSpec(name: "http_stub", description: "stub", category: .diagnostic, parameters: ["type": "object"])
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult { .ok(.null, message: "ok") }
}

@Suite("Plugin registry")
struct RegistryTests {
    /// A `NonBlockingPlugin` says so by its conformance (the engine runs it on the HTTP
    /// client's event loops); any other plugin does not, also seen as `any Plugin`.
    @Test func aNonBlockingPluginIsKnownAsOne() throws {
        let registry = PluginRegistry()
        let plugins: [any Plugin] = [NonBlockingStub(), StubPlugin("plain")]
        for plugin in plugins { try registry.register(plugin) }
        #expect(registry.lookup("http_stub")?.isNonBlocking == true)
        #expect(registry.lookup("plain")?.isNonBlocking == false)
    }

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
