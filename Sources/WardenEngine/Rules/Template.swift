import WardenPluginKit

/// `{{ job.params.service_url }}`, `{{ run.data.pod }}`, `{{ job.name }}` in rule parameters.
///
/// A string that is exactly one template takes the referenced value's type (a port stays an
/// integer); templates inside longer text are interpolated as text.
public struct TemplateContext: Sendable {
    public var jobName: String
    public var jobParams: JSONObject
    public var ruleName: String
    /// The triggering run; nil when rendering at load time, where only `job.*` is known.
    /// The id is nil for a run observed while the database refused writes.
    public var run: (id: Int64?, result: PluginResult)?

    public init(jobName: String, jobParams: JSONObject, ruleName: String, run: (id: Int64?, result: PluginResult)?) {
        self.jobName = jobName
        self.jobParams = jobParams
        self.ruleName = ruleName
        self.run = run
    }
}

public enum Template {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    static let roots = ["job.name", "job.params", "rule.name", "run.id", "run.data", "run.message", "run.error"]

    public static func containsTemplate(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let text): return text.utf8.contains(UInt8(ascii: "{")) && text.contains("{{")
        case .array(let items): return items.contains(where: containsTemplate)
        case .object(let members): return members.values.contains(where: containsTemplate)
        default: return false
        }
    }

    /// Whether any template in `value` refers to the run (unknown until a run triggers).
    public static func refersToRun(_ value: JSONValue) -> Bool {
        references(in: value).contains { $0.hasPrefix("run.") }
    }

    /// Every `{{ reference }}` in `value`, trimmed.
    static func references(in value: JSONValue) -> [String] {
        var found: [String] = []
        collectReferences(in: value, into: &found)
        return found
    }

    private static func collectReferences(in value: JSONValue, into found: inout [String]) {
        switch value {
        case .string(let text):
            // Most strings hold no brace: a byte scan, not Foundation's substring search.
            if text.utf8.contains(UInt8(ascii: "{")) { found += placeholders(text).map(\.reference) }
        case .array(let items): for item in items { collectReferences(in: item, into: &found) }
        case .object(let members): for member in members.values { collectReferences(in: member, into: &found) }
        default: break
        }
    }

    /// Checks the syntax and roots of every reference; the problem, or nil.
    public static func check(_ value: JSONValue) -> String? {
        for reference in references(in: value) where !roots.contains(where: { reference == $0 || reference.hasPrefix($0 + ".") || reference.hasPrefix($0 + "[") }) {
            return "unknown template reference `{{ \(reference) }}`: expected job.name, job.params.…, rule.name, run.id, run.data.…, run.message or run.error"
        }
        return nil
    }

    public static func render(_ value: JSONValue, _ context: TemplateContext) -> Result<JSONValue, Failure> {
        switch value {
        case .string(let text):
            return renderString(text, context)
        case .array(let items):
            var rendered: [JSONValue] = []
            for item in items {
                switch render(item, context) {
                case .success(let value): rendered.append(value)
                case .failure(let failure): return .failure(failure)
                }
            }
            return .success(.array(rendered))
        case .object(let members):
            var rendered: JSONObject = [:]
            for (key, item) in members {
                switch render(item, context) {
                case .success(let value): rendered[key] = value
                case .failure(let failure): return .failure(failure)
                }
            }
            return .success(.object(rendered))
        default:
            return .success(value)
        }
    }

    private static func renderString(_ text: String, _ context: TemplateContext) -> Result<JSONValue, Failure> {
        let found = placeholders(text)
        guard !found.isEmpty else { return .success(.string(text)) }
        var output = ""
        var cursor = text.startIndex
        for placeholder in found {
            guard let value = lookup(placeholder.reference, context) else {
                return .failure(Failure(description: "template `{{ \(placeholder.reference) }}` does not resolve"))
            }
            if found.count == 1 && placeholder.range == text.startIndex..<text.endIndex { return .success(value) }
            output += text[cursor..<placeholder.range.lowerBound]
            output += value.stringValue ?? value.jsonText()
            cursor = placeholder.range.upperBound
        }
        output += text[cursor...]
        return .success(.string(output))
    }

    private static func placeholders(_ text: String) -> [(range: Range<String.Index>, reference: String)] {
        var result: [(Range<String.Index>, String)] = []
        var searchFrom = text.startIndex
        while let open = text.range(of: "{{", range: searchFrom..<text.endIndex),
              let close = text.range(of: "}}", range: open.upperBound..<text.endIndex) {
            result.append((open.lowerBound..<close.upperBound, String(text[open.upperBound..<close.lowerBound]).trimmingWhitespace()))
            searchFrom = close.upperBound
        }
        return result
    }

    private static func lookup(_ reference: String, _ context: TemplateContext) -> JSONValue? {
        let parts = reference.split(separator: ".", maxSplits: 2).map(String.init)
        switch (parts.first, parts.count > 1 ? parts[1] : nil) {
        case ("job", "name"): return .string(context.jobName)
        case ("rule", "name"): return .string(context.ruleName)
        case ("job", let second?) where second.hasPrefix("params"):
            return walk(.object(context.jobParams), reference.dropFirst("job.params".count))
        case ("run", "id"): return context.run.map { $0.id.map { .int(Int($0)) } ?? .null }
        case ("run", "message"): return context.run.map { .string($0.result.message) }
        case ("run", "error"): return context.run.flatMap { $0.result.error.map(JSONValue.string) }
        case ("run", let second?) where second.hasPrefix("data"):
            guard let run = context.run else { return nil }
            return walk(run.result.data, reference.dropFirst("run.data".count))
        default: return nil
        }
    }

    /// `.a.b[0]` below a value, read as `expect:` reads it.
    private static func walk(_ root: JSONValue, _ path: Substring) -> JSONValue? {
        JSONPath(parsing: path)?.resolve(in: root)
    }
}
