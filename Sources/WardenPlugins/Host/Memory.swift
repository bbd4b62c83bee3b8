import Foundation
import WardenPluginKit

/// Available memory and swap use from /proc/meminfo.
public struct MemoryPlugin: Plugin {
    public let spec = PluginSpec(
        name: "memory",
        description: "Available memory (MemAvailable) and swap use from /proc/meminfo; fails past the thresholds.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "min_available_percent": ["type": "number", "description": "Fail when less than this percent of memory is available.", "default": 10, "minimum": 0, "maximum": 100],
                "max_swap_used_percent": ["type": "number", "description": "Fail when more than this percent of swap is used.", "default": 80, "minimum": 0, "maximum": 100],
                "warn_available_percent": ["type": "number", "description": "Warning (not critical) when less than this percent of memory is available (optional).", "minimum": 0, "maximum": 100],
                "proc_meminfo": ["type": "string", "description": "Where to read, e.g. a host's /proc mounted elsewhere.", "default": "/proc/meminfo", "pattern": "^/"],
            ],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let source = try parameters.required("proc_meminfo", \.stringValue)
        let text: String
        do { text = try String(contentsOfFile: source, encoding: .utf8) } catch {
            throw PluginError("cannot read \(source): \(error.localizedDescription)")
        }
        var kilobytes: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            if parts.count >= 2, let value = UInt64(parts[1]) { kilobytes[String(parts[0])] = value }
        }
        guard let total = kilobytes["MemTotal"], total > 0, let available = kilobytes["MemAvailable"] else {
            throw PluginError("\(source) has no MemTotal/MemAvailable")
        }
        let swapTotal = kilobytes["SwapTotal"] ?? 0
        let swapUsed = swapTotal - min(swapTotal, kilobytes["SwapFree"] ?? swapTotal)
        let availablePercent = 100 * Double(available) / Double(total)
        let swapPercent = swapTotal > 0 ? 100 * Double(swapUsed) / Double(swapTotal) : 0
        let data: JSONValue = [
            "total_bytes": .int(Int(total * 1024)), "available_bytes": .int(Int(available * 1024)),
            "available_percent": .double((availablePercent * 10).rounded() / 10),
            "swap_total_bytes": .int(Int(swapTotal * 1024)), "swap_used_bytes": .int(Int(swapUsed * 1024)),
            "swap_used_percent": .double((swapPercent * 10).rounded() / 10),
        ]
        var problems: [String] = []
        if let minimum = parameters["min_available_percent"]?.doubleValue, availablePercent < minimum {
            problems.append(String(format: "%.1f%% available (min %.0f%%)", availablePercent, minimum))
        }
        if let maximum = parameters["max_swap_used_percent"]?.doubleValue, swapPercent > maximum {
            problems.append(String(format: "%.1f%% of swap used (max %.0f%%)", swapPercent, maximum))
        }
        let summary = String(format: "%@ of %@ available (%.1f%%), swap %.1f%% used",
                             ByteCount.format(available * 1024), ByteCount.format(total * 1024), availablePercent, swapPercent)
        guard problems.isEmpty else {
            return PluginResult(success: false, data: data, message: summary, error: problems.joined(separator: "; "), severity: .critical)
        }
        if let warn = parameters["warn_available_percent"]?.doubleValue, availablePercent < warn {
            return PluginResult(success: false, data: data, message: summary, error: String(format: "%.1f%% available (warn %.0f%%)", availablePercent, warn), severity: .warning)
        }
        return .ok(data, message: summary)
    }
}
