/// The outcome of one plugin execution, in the seed's wire shape:
/// `{success, data, message, error, retry}`. `retry` marks a transient failure
/// (connection refused, timeout) that is worth retrying.
public struct PluginResult: Sendable, Hashable {
    public var success: Bool
    public var data: JSONValue
    public var message: String
    public var error: String?
    public var retry: Bool

    public init(success: Bool, data: JSONValue = .null, message: String = "", error: String? = nil, retry: Bool = false) {
        self.success = success
        self.data = data
        self.message = message
        self.error = error
        self.retry = retry
    }

    public static func ok(_ data: JSONValue = .null, message: String) -> Self {
        Self(success: true, data: data, message: message)
    }

    public static func failure(_ error: String, message: String? = nil, data: JSONValue = .null, retry: Bool = false) -> Self {
        Self(success: false, data: data, message: message ?? error, error: error, retry: retry)
    }

    /// Always all five keys, so consumers (`jq`, `sqlite3 … json_extract`) see one shape.
    public var json: JSONValue {
        [
            "success": .bool(success),
            "data": data,
            "message": .string(message),
            "error": error.map(JSONValue.string) ?? .null,
            "retry": .bool(retry),
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
