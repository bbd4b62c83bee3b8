import WardenPluginKit

/// `systemctl stop` over D-Bus, waiting for the job.
public struct SystemdStopUnitPlugin: Plugin {
    public let spec = SystemdUnitAction.spec(name: "systemd_stop_unit", verb: "stop",
        description: "Stop a systemd unit (StopUnit, mode replace) within daemon.allowed_units, wait for the job, return the resulting state.")
    public init() {}
    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        try await SystemdUnitAction(method: "StopUnit", verb: "stop").run(parameters, context: context)
    }
}
