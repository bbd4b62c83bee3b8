import Foundation

/// One plugin does one job (the seed's single-responsibility rule).
///
/// `execute` receives parameters that were already validated against `spec.parameters`,
/// with defaults applied. It should honour task cancellation and `context.deadline`.
/// A thrown error never escapes the engine: it becomes a failed result
/// (a `PluginError` keeps its `retry` flag and data).
public protocol Plugin: Sendable {
    var spec: PluginSpec { get }
    /// Whether `execute` never blocks a thread: true for a `NonBlockingPlugin`, by its
    /// conformance. Asked as a requirement, not with `is any NonBlockingPlugin`: that cast was
    /// a first-time conformance lookup per plugin type, a scan of the binary's 12,000
    /// conformance records each, 20M instructions for the built-ins at every start, reload and
    /// `warden status` (callgrind, BENCHMARKS.md).
    var isNonBlocking: Bool { get }
    func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult
}

extension Plugin {
    public var isNonBlocking: Bool { false }
}

/// A plugin whose `execute` never blocks a thread (it only computes briefly and awaits network
/// I/O) and ends by `context.deadline` on its own, throwing `PluginTimedOut` when the deadline
/// is what ended it. The engine runs it in the run's own task, on the HTTP client's event
/// loop, so that the exchange's replies resume it where they arrive instead of waking another
/// thread for each (an HTTP check crossed threads about ten times), and without a second task
/// to abandon at the deadline. A plugin that reads files, runs processes or calls blocking
/// APIs must not adopt it: it would stall every HTTP check in the daemon; nor one whose client
/// does not bound the whole exchange (AsyncHTTPClient's async `execute` bounds only the head).
public protocol NonBlockingPlugin: Plugin {}

extension NonBlockingPlugin {
    public var isNonBlocking: Bool { true }
}

/// Thrown by a plugin whose own bound on its work is the run's deadline (`context.remaining`)
/// when that bound runs out. The engine records the run as `timeout`, as when its own
/// deadline, which falls on the same instant, wins the race.
public struct PluginTimedOut: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
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

    /// A duration parameter (`x-duration`) the schema guarantees, as validation left it.
    public func duration(_ key: String) throws -> Duration {
        DurationParameter(seconds: try required(key, \.doubleValue)).duration
    }
}

extension JSONObject {
    /// The validated parameters (defaults applied) as the plugin's own typed value, so a
    /// default lives in the schema alone and the plugin reads typed fields. A mismatch means
    /// the plugin's schema and its type disagree: a programming error that must not crash
    /// the daemon, so it throws, naming the parameter. Keys are snake_case in the schema and
    /// camelCase in the type (`service_url` → `serviceUrl`).
    public func decode<Parameters: Decodable>(_ type: Parameters.Type = Parameters.self) throws -> Parameters {
        try decodeAfresh(type)
    }

    /// The same, remembered for a `Sendable` type: a job's parameters decode once, not every
    /// run. (`init(from:)` of a parameters type only reads the values, so the result depends on
    /// them alone.)
    public func decode<Parameters: Decodable & Sendable>(_ type: Parameters.Type = Parameters.self) throws -> Parameters {
        try DecodedParameters.shared.value(type, of: self) { try decodeAfresh(type) }
    }

    private func decodeAfresh<Parameters: Decodable>(_ type: Parameters.Type) throws -> Parameters {
        do {
            return try JSONValueDecoder(.object(self)).decode(type)
        } catch let error as DecodingError {
            throw PluginError("parameters do not match the plugin's own schema: \(error.summary)")
        }
    }
}

/// A duration parameter (`x-duration`) as a plugin reads it: validation already turned
/// `30s` or `1h30m` into seconds.
public struct DurationParameter: Decodable, Sendable, Equatable {
    public let duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public init(seconds: Double) { duration = .milliseconds(Int64((seconds * 1000).rounded())) }

    public init(from decoder: any Decoder) throws {
        self.init(seconds: try decoder.singleValueContainer().decode(Double.self))
    }

    public var seconds: Double { duration.seconds }
}

/// A parameter that takes one value or a list of them (`expected_status: 200` or `[200, 204]`).
public struct OneOrMany<Element: Decodable & Sendable>: Decodable, Sendable {
    public let values: [Element]

    public init(from decoder: any Decoder) throws {
        if let many = try? [Element](from: decoder) {
            values = many
        } else {
            values = [try decoder.singleValueContainer().decode(Element.self)]
        }
    }
}

extension DecodingError {
    /// `timeout: expected Double` rather than the whole debug dump.
    var summary: String {
        switch self {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "`\(context.path)`: expected \(type)"
        case .keyNotFound(let key, let context):
            return "`\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))` is missing"
        case .dataCorrupted(let context):
            return "`\(context.path)`: \(context.debugDescription)"
        @unknown default:
            return String(describing: self)
        }
    }
}

extension DecodingError.Context {
    fileprivate var path: String { codingPath.map(\.stringValue).joined(separator: ".") }
}
