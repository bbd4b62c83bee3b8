import WardenPluginKit

/// `systemctl start` over D-Bus, waiting for the job.
public struct SystemdStartUnitPlugin: Plugin {
    public let spec = SystemdUnitAction.spec(name: "systemd_start_unit", verb: "start",
        description: "Start a systemd unit (StartUnit, mode replace) within daemon.allowed_units, wait for the job, return the resulting state.")
    public init() {}
    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        try await SystemdUnitAction(method: "StartUnit", verb: "start").run(parameters, context: context)
    }
}
