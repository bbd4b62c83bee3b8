import WardenPluginKit

/// `systemctl restart` over D-Bus, waiting for the job.
public struct SystemdRestartUnitPlugin: Plugin {
    public let spec = SystemdUnitAction.spec(name: "systemd_restart_unit", verb: "restart",
        description: "Restart a systemd unit (RestartUnit, mode replace) within daemon.allowed_units, wait for the job, return the resulting state.")
    public init() {}
    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        try await SystemdUnitAction(method: "RestartUnit", verb: "restart").run(parameters, context: context)
    }
}
