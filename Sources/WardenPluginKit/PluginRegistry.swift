import Synchronization

/// Where a registered plugin came from; duplicate-name errors name both sides.
public enum PluginOrigin: Sendable, Hashable, CustomStringConvertible {
    case builtin
    case executable(path: String)

    public var description: String {
        switch self {
        case .builtin: return "built-in"
        case .executable(let path): return path
        }
    }
}

/// A plugin accepted by the registry, with its compiled parameter schema.
public struct RegisteredPlugin: Sendable {
    public let plugin: any Plugin
    public let spec: PluginSpec
    public let schema: JSONSchema
    public let origin: PluginOrigin
    /// Whether the plugin runs in the run's own task on the HTTP client's event loop, without
    /// a watchdog task (`NonBlockingPlugin`), asked once here rather than for every run.
    public let isNonBlocking: Bool

    init(plugin: any Plugin, spec: PluginSpec, schema: JSONSchema, origin: PluginOrigin) {
        self.plugin = plugin
        self.spec = spec
        self.schema = schema
        self.origin = origin
        self.isNonBlocking = plugin.isNonBlocking
    }

    /// Validates raw parameters against the schema, applying defaults.
    public func validate(_ parameters: JSONObject) -> Result<JSONObject, SchemaValidationError> {
        schema.validate(.object(parameters)).map { $0.objectValue ?? [:] }
    }

    /// The parameters with every secret replaced by `***`: the only form that may be logged or stored.
    public func redacted(_ parameters: JSONObject) -> JSONObject {
        schema.redact(.object(parameters)).objectValue ?? [:]
    }
}

public enum RegistrationError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidName(String, origin: PluginOrigin)
    case duplicate(String, existing: PluginOrigin, new: PluginOrigin)
    case invalidSchema(String, origin: PluginOrigin, problems: [String])

    public var description: String {
        switch self {
        case .invalidName(let name, let origin):
            return "plugin name `\(name)` from \(origin) is invalid: use lowercase letters, digits, `_`, `.` and `-`"
        case .duplicate(let name, let existing, let new):
            return "plugin `\(name)` from \(new) conflicts with the \(existing) plugin of the same name"
        case .invalidSchema(let name, let origin, let problems):
            return "plugin `\(name)` from \(origin) has a malformed parameter schema: \(problems.joined(separator: "; "))"
        }
    }
}

/// The set of plugins Warden knows. Thread-safe: lookups come from the scheduler while a
/// reload may be registering custom plugins.
public final class PluginRegistry: Sendable {
    private let entries = Mutex<[String: RegisteredPlugin]>([:])

    public init() {}

    @discardableResult
    public func register(_ plugin: any Plugin, origin: PluginOrigin = .builtin) throws(RegistrationError) -> RegisteredPlugin {
        let spec = plugin.spec
        guard PluginSpec.isValidName(spec.name) else { throw .invalidName(spec.name, origin: origin) }
        let schema: JSONSchema
        do {
            schema = try JSONSchema(spec.parameters)
        } catch {
            throw .invalidSchema(spec.name, origin: origin, problems: error.problems)
        }
        guard schema.types == [.object] else {
            throw .invalidSchema(spec.name, origin: origin, problems: ["/: parameters must be a schema of `type: object`"])
        }
        let entry = RegisteredPlugin(plugin: plugin, spec: spec, schema: schema, origin: origin)
        let clash: PluginOrigin? = entries.withLock { entries in
            if let existing = entries[spec.name] { return existing.origin }
            entries[spec.name] = entry
            return nil
        }
        if let clash { throw .duplicate(spec.name, existing: clash, new: origin) }
        return entry
    }

    public func lookup(_ name: String) -> RegisteredPlugin? {
        entries.withLock { $0[name] }
    }

    /// Sorted by name; optionally only one category.
    public func list(category: PluginCategory? = nil) -> [RegisteredPlugin] {
        entries.withLock { Array($0.values) }
            .filter { category == nil || $0.spec.category == category }
            .sorted { $0.spec.name < $1.spec.name }
    }

    public var names: [String] { list().map(\.spec.name) }
}
