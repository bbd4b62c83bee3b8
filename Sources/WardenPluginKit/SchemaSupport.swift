import Foundation

extension JSONSchema {
    /// A duration parameter's schema: text in Warden's notation (`30s`, `5m`) or a number of
    /// seconds; `minimum`/`maximum` are seconds. The plugin receives seconds.
    public static func duration(_ description: String, default fallback: JSONValue? = nil, exclusiveMinimum: Double? = 0, maximum: Double? = nil) -> JSONValue {
        var schema: JSONObject = ["type": ["number", "string"], "x-duration": true, "description": .string(description)]
        if let fallback { schema["default"] = fallback }
        if let exclusiveMinimum { schema["exclusiveMinimum"] = .double(exclusiveMinimum) }
        if let maximum { schema["maximum"] = .double(maximum) }
        return .object(schema)
    }

    /// Replaces every value whose schema is `writeOnly` with `"***"`, so parameters can be
    /// logged and stored without their secrets.
    public func redact(_ value: JSONValue) -> JSONValue {
        if isSecret, !value.isNull { return .string(Self.redactedMarker) }
        if hidesURLPassword, let text = value.stringValue { return .string(URLPassword.redacting(text)) }
        switch value {
        case .object(let members):
            var result = members
            for (name, member) in members {
                if let schema = properties[name] {
                    result[name] = schema.redact(member)
                } else if case .schema(let schema) = additional {
                    result[name] = schema.redact(member)
                }
            }
            return .object(result)
        case .array(let elements):
            guard let items else { return value }
            return .array(elements.map(items.redact))
        default:
            return value
        }
    }

    public static let redactedMarker = "***"

    /// The string values in `value` whose schema is `writeOnly`, at any depth: what must be
    /// scrubbed from anything a plugin echoes back (its result, its stderr).
    public func secretValues(in value: JSONValue) -> [String] {
        guard holdsSecrets else { return [] }
        if isSecret { return value.stringValue.map { [$0] } ?? [] }
        if hidesURLPassword { return value.stringValue.map(URLPassword.passwords(in:)) ?? [] }
        switch value {
        case .object(let members):
            return members.flatMap { name, member -> [String] in
                if let schema = properties[name] { return schema.secretValues(in: member) }
                if case .schema(let schema) = additional { return schema.secretValues(in: member) }
                return []
            }
        case .array(let elements):
            return items.map { schema in elements.flatMap { schema.secretValues(in: $0) } } ?? []
        default:
            return []
        }
    }

    /// Names of top-level parameters marked secret.
    public var secretParameters: [String] {
        properties.filter { $0.value.isSecret }.map(\.key).sorted()
    }

    /// Turns a command-line `key=value` text into the JSON value this (property) schema
    /// expects: numbers, booleans, and JSON for arrays and objects. Text that does not fit
    /// stays a string, so validation reports it against the parameter's name.
    public func coerce(argument text: String) -> JSONValue {
        if isDuration { return .string(text) }
        let kinds = types ?? []
        if kinds.contains(.string) { return .string(text) }
        for kind in kinds {
            switch kind {
            case .integer:
                if let number = Int(text) { return .int(number) }
            case .number:
                if let number = Int(text) { return .int(number) }
                if let number = Double(text), number.isFinite { return .double(number) }
            case .boolean:
                switch text.lowercased() {
                case "true", "yes", "on", "1": return .bool(true)
                case "false", "no", "off", "0": return .bool(false)
                default: break
                }
            case .null:
                if text == "null" { return .null }
            case .array, .object:
                if let parsed = try? JSONValue.parse(text), Self.matches(parsed, kind) { return parsed }
            case .string:
                break
            }
        }
        if kinds.isEmpty, let parsed = try? JSONValue.parse(text) { return parsed }
        return .string(text)
    }
}

/// The password inside a URL (`scheme://user:password@host/…?password=…`), found and hidden
/// without touching the rest of it.
public enum URLPassword {
    /// Every form the password takes in the text (as written and percent-decoded).
    public static func passwords(in text: String) -> [String] {
        guard let components = URLComponents(string: text) else { return [] }
        var found = [components.percentEncodedPassword, components.password]
        for item in components.queryItems ?? [] where item.name == "password" { found.append(item.value) }
        return Array(Set(found.compactMap { $0 }.filter { !$0.isEmpty }))
    }

    /// The URL with its password replaced by `***`; text that is not a URL is left alone.
    public static func redacting(_ text: String) -> String {
        guard var components = URLComponents(string: text), !passwords(in: text).isEmpty else { return text }
        if components.percentEncodedPassword != nil { components.percentEncodedPassword = JSONSchema.redactedMarker }
        components.queryItems = components.queryItems?.map { item in
            item.name == "password" ? URLQueryItem(name: item.name, value: JSONSchema.redactedMarker) : item
        }
        return components.string ?? text
    }
}

/// Suggests the closest known name for a misspelt one ("timout" → "timeout").
public enum NameSuggester {
    public static func nearest(to name: String, among candidates: some Sequence<String>) -> String? {
        // A name this long is no misspelling; and the distance costs length × length.
        guard name.utf8.count <= 256 else { return nil }
        let length = name.count
        let limit = max(1, length / 3)
        var best: (name: String, distance: Int)?
        for candidate in candidates where abs(candidate.count - length) <= limit {
            let distance = editDistance(name, candidate)
            if distance <= limit, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.name
    }

    /// Levenshtein distance over characters.
    public static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let left = Array(lhs), right = Array(rhs)
        if left.isEmpty { return right.count }
        if right.isEmpty { return left.count }
        var previous = Array(0...right.count)
        var current = [Int](repeating: 0, count: right.count + 1)
        for i in 1...left.count {
            current[0] = i
            for j in 1...right.count {
                let substitution = previous[j - 1] + (left[i - 1] == right[j - 1] ? 0 : 1)
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[right.count]
    }
}

extension JSONValue {
    /// Replaces every occurrence of the given secret texts inside strings (and keys) with `***`.
    /// For values that came from outside (an API body, a plugin's stderr) and may echo a secret.
    public func redactingOccurrences(of secrets: [String]) -> JSONValue {
        let secrets = secrets.filter { !$0.isEmpty }
        guard !secrets.isEmpty else { return self }
        func scrub(_ text: String) -> String { text.redactingOccurrences(of: secrets) }
        switch self {
        case .string(let text): return .string(scrub(text))
        case .array(let items): return .array(items.map { $0.redactingOccurrences(of: secrets) })
        case .object(let members):
            var result: JSONObject = [:]
            for (key, value) in members { result[scrub(key)] = value.redactingOccurrences(of: secrets) }
            return .object(result)
        default: return self
        }
    }
}

extension String {
    /// This text with every occurrence of the given secrets replaced by `***`.
    public func redactingOccurrences(of secrets: [String]) -> String {
        secrets.reduce(self) { $1.isEmpty ? $0 : $0.replacingOccurrences(of: $1, with: JSONSchema.redactedMarker) }
    }
}
