/// One plugin does one job (the seed's single-responsibility rule).
///
/// `execute` receives parameters that were already validated against `spec.parameters`,
/// with defaults applied. It should honour task cancellation and `context.deadline`.
/// A thrown error never escapes the engine: it becomes a failed result
/// (a `PluginError` keeps its `retry` flag and data).
public protocol Plugin: Sendable {
    var spec: PluginSpec { get }
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult
}

/// An error a plugin throws to fail with a specific message and retry hint.
public struct PluginError: Error, Sendable, CustomStringConvertible {
    public var error: String
    public var message: String
    public var retry: Bool
    public var data: JSONValue
    /// What the failure says about the target. nil: the plugin could not tell (`unknown`);
    /// `critical` for a target that answered nothing (a refused connection: it is down).
    public var severity: Severity?

    public init(_ error: String, message: String? = nil, retry: Bool = false, data: JSONValue = .null, severity: Severity? = nil) {
        self.error = error
        self.message = message ?? error
        self.retry = retry
        self.data = data
        self.severity = severity
    }

    public var description: String { error }

    public var result: PluginResult {
        .failure(error, message: message, data: data, retry: retry, severity: severity ?? .unknown)
    }
}

extension JSONObject {
    /// Reads a parameter that the schema guarantees (required or defaulted).
    /// A mismatch means the plugin's schema and code disagree: a programming error
    /// that still must not crash the daemon, so it throws.
    public func required<T>(_ key: String, _ read: (JSONValue) -> T?) throws -> T {
        guard let raw = self[key], let value = read(raw) else {
            throw PluginError("parameter `\(key)` is missing or has the wrong type")
        }
        return value
    }
}
