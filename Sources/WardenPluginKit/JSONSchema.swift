import Foundation

/// A compiled JSON Schema (the subset plugin parameters need: types and unions,
/// properties, required, defaults, enum, const, numeric and length bounds, pattern,
/// items, item counts, additionalProperties). Compiling checks the schema itself,
/// so a plugin with a malformed schema is refused at registration, not at run time.
public final class JSONSchema: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case object, array, string, integer, number, boolean, null
    }

    enum Additional: Sendable {
        case allowed
        case forbidden
        case schema(JSONSchema)
    }

    public let types: [Kind]?
    public let description: String?
    public let defaultValue: JSONValue?
    /// `writeOnly: true`: the value is a secret, redacted wherever parameters are shown or stored.
    public let isSecret: Bool
    /// `x-secret-url-password: true`: a URL (a DSN) whose password part is a secret; the rest
    /// of it is shown.
    public let hidesURLPassword: Bool
    /// `x-allowed-by: <daemon setting>`: the value must match that allow-list of the daemon
    /// (`allowed_units`, `shell_allow`, `shell_write_allow`); the plugin enforces it when it
    /// runs, and `check-config` checks every value it can know at load time.
    public let allowedBy: HostLimits.List?
    /// `x-duration: true`: a duration in Warden's notation (`30s`, `1h30m`) or a number of
    /// seconds. Validation hands the plugin seconds (a number), so plugins read one form.
    public let isDuration: Bool
    public let properties: [String: JSONSchema]
    public let required: [String]
    let additional: Additional
    let enumValues: [JSONValue]?
    let constValue: JSONValue?
    /// Bounds as JSON numbers, so an integer bound is compared exactly (a Double holds
    /// integers exactly only up to 2^53).
    let minimum: JSONValue?
    let maximum: JSONValue?
    let exclusiveMinimum: JSONValue?
    let exclusiveMaximum: JSONValue?
    /// The boolean schema `false`: nothing is valid. (`true` is the empty schema.)
    let rejectsEverything: Bool
    let minLength: Int?
    let maxLength: Int?
    let pattern: CompiledPattern?
    public let items: JSONSchema?
    let minItems: Int?
    let maxItems: Int?
    /// Whether a value under this schema can be a secret (`writeOnly` or a URL password, at
    /// any depth `secretValues` looks): every run asks for its secrets, and most plugins
    /// have none to find.
    let holdsSecrets: Bool

    /// Compiles `value`; every problem is reported at once, each with its JSON pointer.
    public convenience init(_ value: JSONValue) throws(SchemaDefinitionError) {
        var problems: [String] = []
        self.init(value, pointer: "", problems: &problems)
        if !problems.isEmpty { throw SchemaDefinitionError(problems: problems) }
    }

    private init(_ value: JSONValue, pointer: String, problems: inout [String]) {
        let where_ = pointer.isEmpty ? "/" : pointer
        // `true` and `false` are schemas too: anything, and nothing.
        rejectsEverything = value == .bool(false)
        let object = value.objectValue ?? {
            if value.boolValue == nil { problems.append("\(where_): a schema must be an object or a boolean, got \(value.typeName)") }
            return [:]
        }()

        func number(_ key: String) -> JSONValue? {
            guard let raw = object[key] else { return nil }
            guard raw.doubleValue != nil else {
                problems.append("\(where_): `\(key)` must be a number, got \(raw.typeName)")
                return nil
            }
            return raw
        }
        func count(_ key: String) -> Int? {
            guard let raw = object[key] else { return nil }
            guard let count = raw.intValue, count >= 0 else {
                problems.append("\(where_): `\(key)` must be a non-negative integer")
                return nil
            }
            return count
        }

        switch object["type"] {
        case nil:
            types = nil
        case .string(let name)?:
            if let kind = Kind(rawValue: name) { types = [kind] } else {
                problems.append("\(where_): unknown type `\(name)` (expected one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
                types = nil
            }
        case .array(let names)?:
            var kinds: [Kind] = []
            for name in names {
                if let name = name.stringValue, let kind = Kind(rawValue: name) { kinds.append(kind) } else {
                    problems.append("\(where_): unknown type \(name) in `type`")
                }
            }
            if names.isEmpty { problems.append("\(where_): `type` must name at least one type") }
            if Set(kinds).count != kinds.count { problems.append("\(where_): `type` names a type twice") }
            types = kinds.isEmpty ? nil : kinds
        case let other?:
            problems.append("\(where_): `type` must be a string or an array of strings, got \(other.typeName)")
            types = nil
        }

        description = object["description"]?.stringValue
        isSecret = object["writeOnly"]?.boolValue ?? false
        hidesURLPassword = object["x-secret-url-password"]?.boolValue ?? false
        isDuration = object["x-duration"]?.boolValue ?? false
        allowedBy = {
            guard let raw = object["x-allowed-by"] else { return nil }
            guard let list = raw.stringValue.flatMap(HostLimits.List.init(rawValue:)) else {
                problems.append("\(where_): `x-allowed-by` must name one of \(HostLimits.List.allCases.map(\.rawValue).joined(separator: ", "))")
                return nil
            }
            return list
        }()
        enumValues = {
            guard let raw = object["enum"] else { return nil }
            // An empty enum is valid JSON Schema: it allows nothing.
            guard let values = raw.arrayValue else {
                problems.append("\(where_): `enum` must be an array")
                return nil
            }
            return values
        }()
        constValue = object["const"]
        minimum = number("minimum")
        maximum = number("maximum")
        exclusiveMinimum = number("exclusiveMinimum")
        exclusiveMaximum = number("exclusiveMaximum")
        minLength = count("minLength")
        maxLength = count("maxLength")
        minItems = count("minItems")
        maxItems = count("maxItems")

        if let raw = object["pattern"] {
            if let source = raw.stringValue, let compiled = CompiledPattern(source) {
                pattern = compiled
            } else {
                problems.append("\(where_): `pattern` must be a valid regular expression")
                pattern = nil
            }
        } else {
            pattern = nil
        }

        var properties: [String: JSONSchema] = [:]
        if let raw = object["properties"] {
            if let members = raw.objectValue {
                for (name, member) in members {
                    properties[name] = JSONSchema(member, pointer: "\(pointer)/properties/\(name)", problems: &problems)
                }
            } else {
                problems.append("\(where_): `properties` must be an object")
            }
        }
        self.properties = properties

        if let raw = object["required"] {
            if let names = raw.arrayValue?.compactMap(\.stringValue), names.count == raw.arrayValue?.count {
                if Set(names).count != names.count { problems.append("\(where_): `required` names a property twice") }
                required = names
            } else {
                problems.append("\(where_): `required` must be an array of strings")
                required = []
            }
        } else {
            required = []
        }

        switch object["additionalProperties"] {
        case nil, .bool(true)?: additional = .allowed
        case .bool(false)?: additional = .forbidden
        case .object(let member)?:
            additional = .schema(JSONSchema(.object(member), pointer: "\(pointer)/additionalProperties", problems: &problems))
        case let other?:
            problems.append("\(where_): `additionalProperties` must be a boolean or a schema, got \(other.typeName)")
            additional = .allowed
        }

        items = object["items"].map { JSONSchema($0, pointer: "\(pointer)/items", problems: &problems) }
        defaultValue = object["default"]
        var additionalHoldsSecrets = false
        if case .schema(let schema) = additional { additionalHoldsSecrets = schema.holdsSecrets }
        holdsSecrets = isSecret || hidesURLPassword || additionalHoldsSecrets || items?.holdsSecrets == true
            || properties.values.contains { $0.holdsSecrets }

        // A default that its own schema rejects would turn every run into a validation error.
        if let defaultValue {
            var violations: [SchemaViolation] = []
            _ = validate(defaultValue, pointer: pointer, into: &violations)
            for violation in violations {
                problems.append("\(where_): `default` is invalid: \(violation.message)")
            }
        }
    }

    // MARK: Validation

    /// Validates `value`, returning it with defaults applied, or every violation found.
    public func validate(_ value: JSONValue) -> Result<JSONValue, SchemaValidationError> {
        var violations: [SchemaViolation] = []
        let applied = validate(value, pointer: "", into: &violations)
        return violations.isEmpty ? .success(applied) : .failure(SchemaValidationError(violations: violations))
    }

    func validate(_ value: JSONValue, pointer: String, into violations: inout [SchemaViolation]) -> JSONValue {
        func fail(_ message: String) {
            violations.append(SchemaViolation(pointer: pointer, message: message))
        }

        if isDuration { return validateDuration(value, fail: fail) }
        if rejectsEverything {
            fail("no value is allowed here (the schema is `false`)")
            return value
        }
        if let types, !types.contains(where: { Self.matches(value, $0) }) {
            let expected = types.map(\.rawValue).joined(separator: " or ")
            fail("expected \(expected), got \(Self.show(value))")
            return value
        }
        if let enumValues, !enumValues.contains(where: { Self.equal($0, value) }) {
            fail("expected one of \(enumValues.map { $0.jsonText() }.joined(separator: ", ")), got \(Self.show(value))")
        }
        if let constValue, !Self.equal(constValue, value) {
            fail("expected \(constValue.jsonText()), got \(Self.show(value))")
        }

        switch value {
        case .int, .double:
            checkBounds(value, fail: fail)
            return value
        case .string(let text):
            // JSON Schema counts code points, not what a reader sees as one character:
            // "e\u{301}" is two, "\r\n" is two.
            let length = text.unicodeScalars.count
            if let minLength, length < minLength {
                fail("expected at least \(minLength) characters, got \(length)")
            }
            if let maxLength, length > maxLength {
                fail("expected at most \(maxLength) characters, got \(length)")
            }
            if let pattern, !pattern.matches(text) {
                fail("\(Self.show(value)) does not match pattern \(pattern.source)")
            }
            return value
        case .array(let elements):
            if let minItems, elements.count < minItems {
                fail("expected at least \(minItems) items, got \(elements.count)")
            }
            if let maxItems, elements.count > maxItems {
                fail("expected at most \(maxItems) items, got \(elements.count)")
            }
            guard let items else { return value }
            return .array(elements.enumerated().map { index, element in
                items.validate(element, pointer: "\(pointer)/\(index)", into: &violations)
            })
        case .object(let members):
            return .object(validateObject(members, pointer: pointer, into: &violations))
        case .null, .bool:
            return value
        }
    }

    private func validateObject(_ members: JSONObject, pointer: String, into violations: inout [SchemaViolation]) -> JSONObject {
        var result = members
        for (name, schema) in properties where result[name] == nil {
            if let fallback = schema.defaultValue { result[name] = fallback }
        }
        for name in required where result[name] == nil {
            violations.append(SchemaViolation(pointer: "\(pointer)/\(Self.escape(name))", message: "required parameter is missing"))
        }
        for name in result.keys.sorted() {
            let member = result[name]!
            let memberPointer = "\(pointer)/\(Self.escape(name))"
            if let schema = properties[name] {
                result[name] = schema.validate(member, pointer: memberPointer, into: &violations)
                continue
            }
            switch additional {
            case .allowed:
                break
            case .schema(let schema):
                result[name] = schema.validate(member, pointer: memberPointer, into: &violations)
            case .forbidden:
                var message = "unknown parameter"
                if let near = NameSuggester.nearest(to: name, among: properties.keys) {
                    message += " — did you mean `\(near)`?"
                } else if !properties.isEmpty {
                    message += " (expected one of: \(properties.keys.sorted().joined(separator: ", ")))"
                }
                violations.append(SchemaViolation(pointer: memberPointer, message: message))
            }
        }
        return result
    }

    /// A duration as text or seconds, bounded in seconds, returned as seconds.
    private func validateDuration(_ value: JSONValue, fail: (String) -> Void) -> JSONValue {
        let seconds: Double
        switch value {
        case .int, .double:
            seconds = value.doubleValue ?? 0
            guard seconds >= 0, seconds * 1000 < DurationText.maximumMilliseconds else {
                fail("expected a duration, got \(Self.show(value))")
                return value
            }
        case .string(let text):
            do {
                seconds = try DurationText.parse(text).seconds
            } catch {
                fail(error.description)
                return value
            }
        default:
            fail("expected a duration (e.g. 30s, 5m, or seconds as a number), got \(Self.show(value))")
            return value
        }
        let normalized: JSONValue = seconds.rounded() == seconds ? .int(Int(seconds)) : .double(seconds)
        checkBounds(normalized, fail: fail)
        return normalized
    }

    private func checkBounds(_ number: JSONValue, fail: (String) -> Void) {
        func order(_ bound: JSONValue) -> Int { Self.compare(number, bound) ?? 0 }
        let shown = Self.format(number)
        if let minimum, order(minimum) < 0 { fail("expected ≥ \(Self.format(minimum)), got \(shown)") }
        if let maximum, order(maximum) > 0 { fail("expected ≤ \(Self.format(maximum)), got \(shown)") }
        if let exclusiveMinimum, order(exclusiveMinimum) <= 0 { fail("expected > \(Self.format(exclusiveMinimum)), got \(shown)") }
        if let exclusiveMaximum, order(exclusiveMaximum) >= 0 { fail("expected < \(Self.format(exclusiveMaximum)), got \(shown)") }
    }

    /// -1, 0 or 1 for two JSON numbers; exact when both are integers, which a Double holds
    /// exactly only up to 2^53 (9007199254740993 is more than 9007199254740992).
    static func compare(_ lhs: JSONValue, _ rhs: JSONValue) -> Int? {
        if case .int(let left) = lhs, case .int(let right) = rhs { return left < right ? -1 : (left > right ? 1 : 0) }
        guard let left = lhs.doubleValue, let right = rhs.doubleValue else { return nil }
        return left < right ? -1 : (left > right ? 1 : 0)
    }

    static func matches(_ value: JSONValue, _ kind: Kind) -> Bool {
        switch (kind, value) {
        case (.null, .null), (.boolean, .bool), (.string, .string), (.array, .array), (.object, .object): return true
        case (.number, .int), (.number, .double): return true
        // Any number without a fractional part, however large (1e19 is beyond Int64).
        case (.integer, .int): return true
        case (.integer, .double(let number)): return number.isFinite && number.rounded() == number
        default: return false
        }
    }

    /// JSON equality: `1` and `1.0` are the same number, strings are equal when their code
    /// points are (Swift's `==` would call "e\u{301}" and "é" equal), at any depth.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double):
            return compare(lhs, rhs) == 0
        case (.string(let left), .string(let right)):
            return left.unicodeScalars.elementsEqual(right.unicodeScalars)
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy(equal)
        case (.object(let left), .object(let right)):
            return left.count == right.count && left.allSatisfy { key, value in
                right.first { $0.key.unicodeScalars.elementsEqual(key.unicodeScalars) }.map { equal(value, $0.value) } ?? false
            }
        default:
            return lhs == rhs
        }
    }

    static func show(_ value: JSONValue) -> String {
        switch value {
        case .array, .object: return value.typeName
        default: return value.jsonText()
        }
    }

    static func format(_ number: JSONValue) -> String {
        switch number {
        case .int(let value): return String(value)
        case .double(let value): return value.plainText
        default: return number.jsonText()
        }
    }

    /// RFC 6901 escaping of one pointer token.
    static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}

/// A `pattern` keyword, compiled once. NSRegularExpression is immutable and documented
/// as safe to share between threads.
struct CompiledPattern: @unchecked Sendable {
    let source: String
    private let regex: NSRegularExpression

    init?(_ source: String) {
        guard let regex = try? NSRegularExpression(pattern: source) else { return nil }
        self.source = source
        self.regex = regex
    }

    /// JSON Schema patterns are not anchored: a match anywhere counts.
    func matches(_ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

/// One failed check: where (a JSON pointer into the parameters) and what was expected.
public struct SchemaViolation: Sendable, Hashable, CustomStringConvertible {
    public let pointer: String
    public let message: String
    public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(message)" }
    /// The top-level parameter the violation is about (`timeout` for `/timeout`).
    public var parameter: String? {
        pointer.split(separator: "/", omittingEmptySubsequences: true).first.map(String.init)
    }
}

public struct SchemaValidationError: Error, Sendable, CustomStringConvertible {
    public let violations: [SchemaViolation]
    public var description: String { violations.map(\.description).joined(separator: "; ") }
}

public struct SchemaDefinitionError: Error, Sendable, CustomStringConvertible {
    public let problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}
