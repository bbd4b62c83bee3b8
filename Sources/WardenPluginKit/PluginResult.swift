/// How bad an unsuccessful check is, in Nagios's words: `warning` (degraded, e.g. past a
/// warning threshold), `critical` (the target is down or past its critical threshold), or
/// `unknown` (the check ran but could not tell: a plugin error, a bad result).
public enum Severity: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case warning, critical, unknown

    /// For `min_severity:` and when several conditions fail: warning < critical < unknown.
    public static func < (lhs: Severity, rhs: Severity) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The outcome of one plugin execution, in the seed's wire shape:
/// `{success, data, message, error, retry}`, plus `severity` for an unsuccessful one
/// (`critical` when not given). `retry` marks a transient failure (connection refused,
/// timeout) that is worth retrying.
public struct PluginResult: Sendable, Hashable {
    public var success: Bool
    public var data: JSONValue
    public var message: String
    public var error: String?
    public var retry: Bool
    /// Only for an unsuccessful result; nil there means `critical`.
    public var severity: Severity?

    public init(success: Bool, data: JSONValue = .null, message: String = "", error: String? = nil, retry: Bool = false, severity: Severity? = nil) {
        self.success = success
        self.data = data
        self.message = message
        self.error = error
        self.retry = retry
        self.severity = success ? nil : severity
    }

    public static func ok(_ data: JSONValue = .null, message: String) -> Self {
        Self(success: true, data: data, message: message)
    }

    public static func failure(_ error: String, message: String? = nil, data: JSONValue = .null, retry: Bool = false, severity: Severity? = nil) -> Self {
        Self(success: false, data: data, message: message ?? error, error: error, retry: retry, severity: severity)
    }

    /// What an unsuccessful result counts as: its severity, `critical` when it gave none.
    public var effectiveSeverity: Severity? { success ? nil : severity ?? .critical }

    /// Always the same keys, so consumers (`jq`, `sqlite3 … json_extract`) see one shape.
    public var json: JSONValue {
        [
            "success": .bool(success),
            "data": data,
            "message": .string(message),
            "error": error.map(JSONValue.string) ?? .null,
            "retry": .bool(retry),
            "severity": effectiveSeverity.map { .string($0.rawValue) } ?? .null,
        ]
    }

    /// Reads a result object written by an external plugin. Missing optional keys take
    /// their defaults; a missing or non-boolean `success` is an error.
    public init(json: JSONValue) throws(PluginResultDecodingError) {
        guard let object = json.objectValue else {
            throw PluginResultDecodingError(reason: "expected a JSON object, got \(json.typeName)")
        }
        guard let success = object["success"]?.boolValue else {
            throw PluginResultDecodingError(reason: "`success` must be true or false")
        }
        func optionalString(_ key: String) throws(PluginResultDecodingError) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            case let other?: throw PluginResultDecodingError(reason: "`\(key)` must be a string, got \(other.typeName)")
            }
        }
        self.success = success
        self.data = object["data"] ?? .null
        self.message = try optionalString("message") ?? ""
        self.error = try optionalString("error")
        switch object["retry"] {
        case nil, .null?: self.retry = false
        case .bool(let flag)?: self.retry = flag
        case let other?: throw PluginResultDecodingError(reason: "`retry` must be a boolean, got \(other.typeName)")
        }
        switch object["severity"] {
        case nil, .null?: self.severity = nil
        case .string(let text)? where Severity(rawValue: text) != nil: self.severity = success ? nil : Severity(rawValue: text)
        case let other?: throw PluginResultDecodingError(reason: "`severity` must be \"warning\", \"critical\" or \"unknown\", got \(other.jsonText())")
        }
    }
}

public struct PluginResultDecodingError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

extension PluginResult: Codable {
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        do {
            try self.init(json: value)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.reason))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        try json.encode(to: encoder)
    }
}

extension PluginResult {
    /// The result with every occurrence of the given secret texts replaced by `***`.
    public func redactingOccurrences(of secrets: [String]) -> PluginResult {
        guard !secrets.isEmpty else { return self }
        func scrub(_ text: String) -> String { text.redactingOccurrences(of: secrets) }
        return PluginResult(
            success: success,
            data: data.redactingOccurrences(of: secrets),
            message: scrub(message),
            error: error.map(scrub),
            retry: retry
        )
    }
}
