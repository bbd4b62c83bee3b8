import Foundation
import WardenPluginKit
import Yams

/// `check-config` refuses what could never run: a parameter bound to one of the daemon's
/// allow-lists (`x-allowed-by` in its schema) whose value the list does not admit.
extension ConfigReader {
    /// Reports each allow-listed parameter of `parameters` (already rendered) that its list
    /// refuses, at the parameter's own node when it has one.
    mutating func checkAllowLists(_ entry: RegisteredPlugin, parameters: JSONObject, paramsNode: Node?, at node: Node, label: String) {
        for violation in AllowLists.violations(entry, parameters: parameters, limits: daemon.pluginLimits) {
            let target = paramsNode.flatMap { Self.node(at: "/" + violation.parameter, in: $0) } ?? paramsNode ?? node
            problem(at: target, "\(label): \(violation.message(plugin: entry.spec.name))")
        }
    }

    /// A templated allow-listed value is only known when the step runs: say so.
    mutating func warnRuntimeAllowLists(_ entry: RegisteredPlugin, at node: Node, label: String) {
        let bound = entry.schema.properties.filter { $0.value.allowedBy != nil }.keys.sorted()
        guard !bound.isEmpty else { return }
        warnings.append(ConfigProblem(location: location(of: node), message: "\(label): step `\(entry.spec.name)`: \(bound.map { "`\($0)`" }.joined(separator: ", ")) comes from the run, so it is checked against \(bound.compactMap { entry.schema.properties[$0]?.allowedBy }.map { "daemon.\($0.rawValue)" }.joined(separator: ", ")) only when the step runs"))
    }
}
