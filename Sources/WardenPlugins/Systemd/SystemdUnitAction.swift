import Foundation
import WardenPluginKit

/// What RestartUnit, StartUnit and StopUnit share: the allow-list, dry run, the call with
/// mode `replace`, waiting for the job, and the resulting state.
struct SystemdUnitAction {
    let method: String
    let verb: String

    static func spec(name: String, verb: String, description: String) -> PluginSpec {
        PluginSpec(
            name: name,
            description: description,
            category: .remediation,
            parameters: [
                "type": "object",
                "properties": [
                    "unit": ["type": "string", "description": "The unit, e.g. nginx.service (must match daemon.allowed_units).", "pattern": .string(UnitPolicy.unitPattern), "x-allowed-by": "allowed_units"],
                    "timeout": JSONSchema.duration("How long to wait for the job to finish.", default: 90, maximum: 3600),
                ],
                "required": ["unit"],
                "additionalProperties": false,
            ]
        )
    }

    func run(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let unit = try parameters.required("unit", \.stringValue)
        try UnitPolicy.check(unit, limits: context.limits)
        let timeout = min(try parameters.duration("timeout"), context.remaining)
        let method = self.method
        if context.dryRun {
            let state = try? await SystemdBus.with { bus throws(SystemdBus.Failure) in try bus.unitState(unit) }
            var data = state ?? ["unit": .string(unit)]
            data["dry_run"] = true
            return .ok(.object(data), message: "dry run: would \(verb) \(unit) (now \(state?["active_state"]?.stringValue ?? "unknown"))")
        }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        let outcome: (state: JSONObject, finished: Bool, before: JSONObject)
        do {
            outcome = try await SystemdBus.with { bus throws(SystemdBus.Failure) in
                let before = try bus.unitState(unit)
                let job = try bus.callReturningPath(method, [unit, "replace"])
                // The job object disappears when systemd has finished it (done or failed).
                while bus.jobPending(job) && Date() < deadline {
                    Thread.sleep(forTimeInterval: 0.05)
                }
                return (try bus.unitState(unit), !bus.jobPending(job), before)
            }
        } catch {
            throw PluginError(error.description, message: "cannot \(verb) \(unit)", retry: error.transient)
        }
        var data = outcome.state
        data["previous_main_pid"] = outcome.before["main_pid"] ?? .null
        let active = data["active_state"]?.stringValue ?? "?"
        let summary = "\(unit) \(verb == "stop" ? "stopped" : verb + "ed"): now \(active) (\(data["sub_state"]?.stringValue ?? "?"))"
        guard outcome.finished else {
            return PluginResult(success: false, data: .object(data), message: summary, error: "the \(verb) job did not finish within \(timeout.formattedSeconds)", retry: true)
        }
        let wanted = verb == "stop" ? ["inactive", "failed"] : ["active"]
        guard wanted.contains(active) else {
            return PluginResult(success: false, data: .object(data), message: summary, error: "\(unit) is \(active) after the \(verb)")
        }
        return .ok(.object(data), message: summary)
    }
}
