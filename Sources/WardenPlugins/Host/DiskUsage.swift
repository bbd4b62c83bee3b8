import Foundation
import WardenPluginKit

/// Space and inodes of the filesystem holding a path (statvfs), against thresholds.
public struct DiskUsagePlugin: Plugin {
    public let spec = PluginSpec(
        name: "disk_usage",
        description: "Space and inode use of the filesystem holding a path; critical past the max thresholds, warning past the warn ones.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "path": ["type": "string", "description": "Any path on the filesystem to check.", "default": "/", "pattern": "^/"],
                "max_used_percent": [
                    "type": "number", "description": "Fail when more than this percent of the space usable by non-root users is used.",
                    "default": 90, "minimum": 0, "maximum": 100,
                ],
                "max_inodes_used_percent": [
                    "type": "number", "description": "Fail when more than this percent of inodes is used.", "default": 90,
                    "minimum": 0, "maximum": 100,
                ],
                "warn_used_percent": [
                    "type": "number", "description": "Warning (not critical) when more than this percent of the space is used (optional).",
                    "minimum": 0, "maximum": 100,
                ],
                "warn_inodes_used_percent": [
                    "type": "number", "description": "Warning when more than this percent of inodes is used (optional).", "minimum": 0, "maximum": 100,
                ],
                "min_free_bytes": ["type": "integer", "description": "Fail when less than this many bytes are free (optional).", "minimum": 0],
            ],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let path = try parameters.required("path", \.stringValue)
        let maxUsed = try parameters.required("max_used_percent", \.doubleValue)
        let maxInodes = try parameters.required("max_inodes_used_percent", \.doubleValue)
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else {
            throw PluginError("cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        let blockSize = UInt64(stats.f_frsize)
        let total = UInt64(stats.f_blocks) * blockSize
        let available = UInt64(stats.f_bavail) * blockSize
        let free = UInt64(stats.f_bfree) * blockSize
        let used = total - free
        // Like df: the share of what non-root users can use (reserved blocks excluded).
        let usable = used + available
        let usedPercent = usable > 0 ? 100 * Double(used) / Double(usable) : 0
        let inodes = UInt64(stats.f_files)
        let inodesFree = UInt64(stats.f_ffree)
        let inodesPercent = inodes > 0 ? 100 * Double(inodes - inodesFree) / Double(inodes) : 0
        let data: JSONValue = [
            "path": .string(path),
            "total_bytes": .int(Int(total)), "used_bytes": .int(Int(used)), "free_bytes": .int(Int(available)),
            "used_percent": .double((usedPercent * 10).rounded() / 10),
            "inodes_total": .int(Int(inodes)), "inodes_free": .int(Int(inodesFree)),
            "inodes_used_percent": .double((inodesPercent * 10).rounded() / 10),
        ]
        var problems: [String] = []
        if usedPercent > maxUsed { problems.append(String(format: "%.1f%% used (max %.0f%%)", usedPercent, maxUsed)) }
        if inodesPercent > maxInodes { problems.append(String(format: "%.1f%% of inodes used (max %.0f%%)", inodesPercent, maxInodes)) }
        if let minimum = parameters["min_free_bytes"]?.intValue, available < UInt64(minimum) {
            problems.append("\(ByteCount.format(available)) free (min \(ByteCount.format(UInt64(minimum))))")
        }
        let summary = String(format: "%@: %.1f%% used, %@ free, %.1f%% of inodes used", path, usedPercent, ByteCount.format(available), inodesPercent)
        guard problems.isEmpty else {
            return PluginResult(success: false, data: data, message: summary, error: problems.joined(separator: "; "), severity: .critical)
        }
        var warnings: [String] = []
        if let warn = parameters["warn_used_percent"]?.doubleValue, usedPercent > warn {
            warnings.append(String(format: "%.1f%% used (warn %.0f%%)", usedPercent, warn))
        }
        if let warn = parameters["warn_inodes_used_percent"]?.doubleValue, inodesPercent > warn {
            warnings.append(String(format: "%.1f%% of inodes used (warn %.0f%%)", inodesPercent, warn))
        }
        guard warnings.isEmpty else {
            return PluginResult(success: false, data: data, message: summary, error: warnings.joined(separator: "; "), severity: .warning)
        }
        return .ok(data, message: summary)
    }
}

enum ByteCount {
    static func format(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
