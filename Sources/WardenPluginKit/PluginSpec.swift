/// Whether a plugin only reads (diagnostic) or changes the system (remediation).
/// The engine enforces the difference: jobs schedule diagnostics only, and the CLI
/// runs a remediation only with `--allow-write`.
public enum PluginCategory: String, Codable, Sendable, CaseIterable, Comparable {
    case diagnostic
    case remediation

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a plugin is: its unique name, what it does, its category and its parameters
/// as a JSON Schema object. The schema is compiled (and so checked) at registration.
public struct PluginSpec: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    public var category: PluginCategory
    public var parameters: JSONValue

    public init(name: String, description: String, category: PluginCategory, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.category = category
        self.parameters = parameters
    }

    public var json: JSONValue {
        [
            "name": .string(name),
            "description": .string(description),
            "category": .string(category.rawValue),
            "parameters": parameters,
        ]
    }

    /// `[a-z0-9_.-]+`: safe in file names, journald field values and config keys.
    /// Names are keys in logs, journal fields and the database: short and plain.
    public static let maximumNameLength = 128

    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maximumNameLength && name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }
}
