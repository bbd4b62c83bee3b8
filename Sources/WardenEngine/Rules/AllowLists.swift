import Foundation
import WardenPluginKit

/// The daemon's allow-lists as plugin parameters meet them: a parameter whose schema says
/// `x-allowed-by: <setting>` must match one of that setting's globs. Checked at load time
/// (`check-config`) and again by the engine before every step, dry runs included, so that a
/// dry run never reports what the real run would refuse.
enum AllowLists {
    struct Violation {
        var parameter: String
        var value: String
        var setting: String
        var patterns: [String]

        func message(plugin: String) -> String {
            let listed = patterns.isEmpty ? "daemon.\(setting) is empty, so `\(plugin)` may run nothing" : "daemon.\(setting): \(patterns.joined(separator: ", "))"
            return "`\(plugin)` parameter `\(parameter)`: `\(value)` is not allowed (\(listed)); add it to daemon.\(setting) or change the step"
        }
    }

    static func violations(_ entry: RegisteredPlugin, parameters: JSONObject, limits: HostLimits) -> [Violation] {
        entry.schema.properties.sorted { $0.key < $1.key }.compactMap { name, schema in
            guard let list = schema.allowedBy, let value = parameters[name]?.stringValue,
                  !limits.allows(value, by: list) else { return nil }
            return Violation(parameter: name, value: value, setting: list.rawValue, patterns: limits.patterns(list) ?? [])
        }
    }
}
