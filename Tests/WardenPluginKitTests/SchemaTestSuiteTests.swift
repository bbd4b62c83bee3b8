import Foundation
import Testing
import WardenPluginKit

/// The official JSON-Schema-Test-Suite (draft 2020-12), vendored under Tests/reference, for
/// every keyword Warden's parameter schemas support. Groups whose schema uses a keyword
/// Warden does not support are counted, not run; a case where Warden deliberately differs
/// is listed below with the reason; any other disagreement fails.
@Suite("JSON-Schema-Test-Suite")
struct SchemaTestSuiteTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../reference/JSON-Schema-Test-Suite/draft2020-12").standardized.path

    /// Keywords Warden reads. Any other keyword in a group's schema (`$ref`, `allOf`,
    /// `prefixItems`, …) makes the group out of scope.
    static let supported: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
        "pattern", "minItems", "maxItems", "default", "description", "writeOnly", "$schema", "$comment",
    ]

    /// Where Warden differs on purpose: "file: group / case" → why.
    static let deliberate: [String: String] = [
        "default: invalid type for default / valid when property is specified":
            "a default that fails its own schema refuses the plugin at load (it would fail every run that omits the parameter)",
        "default: invalid type for default / still valid when the invalid default is used":
            "a default that fails its own schema refuses the plugin at load (it would fail every run that omits the parameter)",
        "default: invalid string value for default / valid when property is specified":
            "a default that fails its own schema refuses the plugin at load (it would fail every run that omits the parameter)",
        "default: invalid string value for default / still valid when the invalid default is used":
            "a default that fails its own schema refuses the plugin at load (it would fail every run that omits the parameter)",
        "default: the default keyword does not do anything if the property is missing / an explicit property value is checked against maximum (passing)":
            "its default (5) fails its own maximum (3): refused at load, as above",
        "default: the default keyword does not do anything if the property is missing / missing properties are not filled in with the default":
            "its default (5) fails its own maximum (3): refused at load, as above (Warden does fill in defaults: plugins receive them)",
    ]

    struct Outcome {
        var run = 0
        var outOfScope = 0
        var disagreements: [String] = []
    }

    static func keywords(of schema: JSONValue) -> Set<String> {
        guard let object = schema.objectValue else { return [] }
        var found = Set(object.keys)
        for (name, member) in object.sorted(by: { $0.key < $1.key }) {
            switch name {
            case "properties", "$defs", "patternProperties", "dependentSchemas":
                for child in (member.objectValue ?? [:]).values { found.formUnion(keywords(of: child)) }
            case "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else":
                found.formUnion(keywords(of: member))
            case "allOf", "anyOf", "oneOf", "prefixItems":
                for child in member.arrayValue ?? [] { found.formUnion(keywords(of: child)) }
            default:
                break
            }
        }
        return found
    }

    static func runAll() throws -> Outcome {
        var outcome = Outcome()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.count == 18, "the vendored suite is incomplete: \(files)")
        for file in files {
            let name = String(file.dropLast(5))
            let groups = try JSONValue.parse(String(contentsOfFile: directory + "/" + file, encoding: .utf8)).arrayValue ?? []
            for group in groups {
                let title = group["description"]?.stringValue ?? "?"
                let schemaValue = group["schema"] ?? .null
                let cases = group["tests"]?.arrayValue ?? []
                if !keywords(of: schemaValue).isSubset(of: supported) {
                    outcome.outOfScope += cases.count
                    continue
                }
                let schema = try? JSONSchema(schemaValue)
                for test in cases {
                    outcome.run += 1
                    let label = "\(name): \(title) / \(test["description"]?.stringValue ?? "?")"
                    let expected = test["valid"]?.boolValue ?? false
                    let actual: Bool
                    if let schema {
                        if case .success = schema.validate(test["data"] ?? .null) { actual = true } else { actual = false }
                    } else {
                        actual = false
                    }
                    if actual != expected { outcome.disagreements.append(label + (schema == nil ? " (schema refused at load)" : "")) }
                }
            }
        }
        return outcome
    }

    @Test func everySupportedCaseAgreesOrIsExplained() throws {
        let outcome = try Self.runAll()
        let unexplained = outcome.disagreements.filter { label in Self.deliberate[label.replacingOccurrences(of: " (schema refused at load)", with: "")] == nil }
        #expect(unexplained.isEmpty, "\(unexplained.count) of \(outcome.run) cases disagree:\n\(unexplained.joined(separator: "\n"))")
        // The list of deliberate differences cannot outlive them.
        let stale = Set(Self.deliberate.keys).subtracting(outcome.disagreements.map { $0.replacingOccurrences(of: " (schema refused at load)", with: "") })
        #expect(stale.isEmpty, "listed as deliberate but agreeing now: \(stale.sorted())")
        #expect(outcome.run > 250, "only \(outcome.run) cases ran (\(outcome.outOfScope) out of scope)")
    }
}
