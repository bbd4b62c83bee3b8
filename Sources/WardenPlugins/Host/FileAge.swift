import Foundation
import WardenPluginKit

/// How old and how big a file is (a backup, a heartbeat file, a log that should grow).
public struct FileAgePlugin: Plugin {
    public let spec = PluginSpec(
        name: "file_age",
        description: "Age (since last modification) and size of a file; fails past max_age, under min_size, or when missing.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "path": ["type": "string", "description": "The file.", "pattern": "^/"],
                "max_age": JSONSchema.duration("Fail when older than this, e.g. 1h (optional)."),
                "min_size": ["type": "integer", "description": "Fail when smaller than this many bytes (optional).", "minimum": 0],
            ],
            "required": ["path"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let path = try parameters.required("path", \.stringValue)
        var status = stat()
        guard stat(path, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            return PluginResult(success: false, data: ["path": .string(path), "exists": false], message: "\(path): \(reason)", error: "\(path) is missing: \(reason)")
        }
        let modified = Date(timeIntervalSince1970: Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9)
        let age = max(0, Date().timeIntervalSince(modified))
        let size = Int(status.st_size)
        let data: JSONValue = [
            "path": .string(path), "exists": true, "age_seconds": .double((age * 10).rounded() / 10),
            "size_bytes": .int(size), "modified": .string(ISO8601DateFormatter().string(from: modified)),
        ]
        let summary = "\(path): modified \(Self.describe(age)) ago, \(ByteCount.format(UInt64(size)))"
        if let maxAge = parameters["max_age"]?.doubleValue, age > maxAge {
            return PluginResult(success: false, data: data, message: summary, error: "older than \(Self.describe(maxAge))")
        }
        if let minSize = parameters["min_size"]?.intValue, size < minSize {
            return PluginResult(success: false, data: data, message: summary, error: "smaller than \(minSize) bytes")
        }
        return .ok(data, message: summary)
    }

    static func describe(_ seconds: Double) -> String {
        switch seconds {
        case ..<120: return String(format: "%.0fs", seconds)
        case ..<7200: return String(format: "%.0fm", seconds / 60)
        case ..<172_800: return String(format: "%.1fh", seconds / 3600)
        default: return String(format: "%.1fd", seconds / 86_400)
        }
    }
}
