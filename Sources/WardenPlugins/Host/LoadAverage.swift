import Foundation
import WardenPluginKit

/// The 1/5/15-minute load averages from /proc/loadavg, also per online CPU.
public struct LoadAveragePlugin: Plugin {
    public let spec = PluginSpec(
        name: "load_average",
        description: "Load averages over 1, 5 and 15 minutes, and per CPU; fails when a per-CPU threshold is passed.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "max_per_core_1m": ["type": "number", "description": "Fail when the 1-minute load per CPU exceeds this (optional).", "minimum": 0],
                "max_per_core_5m": ["type": "number", "description": "Fail when the 5-minute load per CPU exceeds this.", "default": 2, "minimum": 0],
                "max_per_core_15m": ["type": "number", "description": "Fail when the 15-minute load per CPU exceeds this (optional).", "minimum": 0],
                "warn_per_core_5m": ["type": "number", "description": "Warning (not critical) when the 5-minute load per CPU exceeds this (optional).", "minimum": 0],
                "proc_loadavg": ["type": "string", "description": "Where to read the load, e.g. a host's /proc mounted elsewhere.", "default": "/proc/loadavg", "pattern": "^/"],
            ],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let source = try parameters.required("proc_loadavg", \.stringValue)
        let text: String
        do { text = try String(contentsOfFile: source, encoding: .utf8) } catch {
            throw PluginError("cannot read \(source): \(error.localizedDescription)")
        }
        let fields = text.split(separator: " ")
        guard fields.count >= 4, let one = Double(fields[0]), let five = Double(fields[1]), let fifteen = Double(fields[2]) else {
            throw PluginError("unexpected contents of \(source): \(text.prefix(80))")
        }
        let tasks = fields[3].split(separator: "/")
        let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let perCore = [one, five, fifteen].map { ($0 / Double(cores) * 100).rounded() / 100 }
        let data: JSONValue = [
            "load_1m": .double(one), "load_5m": .double(five), "load_15m": .double(fifteen), "cores": .int(cores),
            "per_core_1m": .double(perCore[0]), "per_core_5m": .double(perCore[1]), "per_core_15m": .double(perCore[2]),
            "running": tasks.first.flatMap { Int($0) }.map(JSONValue.int) ?? .null,
            "processes": tasks.dropFirst().first.flatMap { Int($0) }.map(JSONValue.int) ?? .null,
        ]
        var problems: [String] = []
        for (key, index, label) in [("max_per_core_1m", 0, "1m"), ("max_per_core_5m", 1, "5m"), ("max_per_core_15m", 2, "15m")] {
            if let limit = parameters[key]?.doubleValue, perCore[index] > limit {
                problems.append(String(format: "%@ load per CPU %.2f > %.2f", label, perCore[index], limit))
            }
        }
        let summary = String(format: "load %.2f %.2f %.2f on %d CPUs (per CPU %.2f %.2f %.2f)", one, five, fifteen, cores, perCore[0], perCore[1], perCore[2])
        guard problems.isEmpty else {
            return PluginResult(success: false, data: data, message: summary, error: problems.joined(separator: "; "), severity: .critical)
        }
        if let warn = parameters["warn_per_core_5m"]?.doubleValue, perCore[1] > warn {
            return PluginResult(success: false, data: data, message: summary, error: String(format: "5m load per CPU %.2f > %.2f (warn)", perCore[1], warn), severity: .warning)
        }
        return .ok(data, message: summary)
    }
}
