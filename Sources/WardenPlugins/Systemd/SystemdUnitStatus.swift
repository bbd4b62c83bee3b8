import WardenPluginKit

/// A unit's LoadState, ActiveState, SubState, MainPID, NRestarts and since when, over sd-bus.
public struct SystemdUnitStatusPlugin: Plugin {
    public let spec = PluginSpec(
        name: "systemd_unit_status",
        description: "Read a systemd unit's state over D-Bus (LoadState, ActiveState, SubState, MainPID, NRestarts, since); fails unless it is in an expected ActiveState.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "unit": ["type": "string", "description": "The unit, e.g. nginx.service.", "pattern": .string(UnitPolicy.unitPattern)],
                "expected_active_state": [
                    "type": "array", "description": "ActiveState values that count as healthy.", "items": ["type": "string"],
                    "default": ["active"], "minItems": 1,
                ],
            ],
            "required": ["unit"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let unit = try parameters.required("unit", \.stringValue)
        let expected = (parameters["expected_active_state"]?.arrayValue ?? ["active"]).compactMap(\.stringValue)
        let state: JSONObject
        do {
            state = try await SystemdBus.with { bus throws(SystemdBus.Failure) in try bus.unitState(unit) }
        } catch {
            throw PluginError(error.description, message: "cannot read the state of \(unit)", retry: error.transient)
        }
        let active = state["active_state"]?.stringValue ?? "?"
        let summary = "\(unit) is \(active) (\(state["sub_state"]?.stringValue ?? "?")), load state \(state["load_state"]?.stringValue ?? "?")"
        if state["load_state"]?.stringValue == "not-found" {
            return PluginResult(success: false, data: .object(state), message: summary, error: "\(unit) does not exist")
        }
        guard expected.contains(active) else {
            return PluginResult(success: false, data: .object(state), message: summary, error: "\(unit) is \(active), expected \(expected.joined(separator: " or "))")
        }
        return .ok(.object(state), message: summary)
    }
}
