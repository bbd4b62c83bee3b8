import WardenPluginKit

/// Frees sessions stuck behind a lock holder: ends the root blocker of each lock-wait chain
/// that has waited long enough (or one member of a deadlock cycle), behind the same guards
/// as terminate_query.
public struct KillDeadlockPlugin: Plugin {
    public let spec = PluginSpec(
        name: "kill_deadlock",
        description: "Find PostgreSQL lock-wait chains whose longest wait is at least min_wait and terminate each chain's root blocker (for a deadlock cycle, its youngest transaction); returns the chains it broke. Never Warden's own backend, never a superuser's unless allow_superuser, at most max_targets; dry run reports the plan.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties(BackendSignaller.guardParameters.merging([
                "min_wait": ["type": "number", "minimum": 0, "default": 30, "description": "Only chains in which someone has waited at least this many seconds."],
                "only_database": ["type": "string", "minLength": 1, "description": "Only chains whose blocker is in this database."],
                "mode": ["type": "string", "enum": ["cancel", "terminate"], "default": "terminate", "description": "terminate ends the blocker's session (its locks go with it); cancel only helps when the blocker is running a query."],
                "max_targets": ["type": "integer", "minimum": 1, "maximum": 100, "default": 3, "description": "End at most this many blockers in one run."],
            ]) { mine, _ in mine }),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let minWait = parameters["min_wait"]?.doubleValue ?? 30
        let database = parameters["only_database"]?.stringValue
        let signaller = try BackendSignaller(parameters, dryRun: context.dryRun)
        let access = try await PostgresAccess(parameters, context: context)

        let (chains, report) = try await access.run("breaking lock chains") { session in
            let ownPid = try await BackendSignaller.ownPid(session)
            let graph = try await LockGraph.load(session, queryMaxChars: 300)
            let due = graph.chains.filter { chain in
                chain.longestWait >= minWait && (database == nil || graph.backends[chain.culprit]?.database == database)
            }
            let candidates = due.map { chain in
                let culprit = graph.backends[chain.culprit]
                var summary = graph.json(chain).objectValue ?? [:]
                summary["role"] = chain.cycle == nil ? "root blocker" : "deadlock victim"
                return BackendSignaller.Candidate(
                    pid: chain.culprit, user: culprit?.user,
                    // A session Warden cannot see is never signalled blind.
                    isSuperuser: culprit?.isSuperuser ?? true, summary: summary)
            }
            return (due.count, try await signaller.apply(to: candidates, ownPid: ownPid, session: session))
        }

        let data: JSONValue = [
            "server": .string(access.target.displayName), "mode": .string(signaller.mode.rawValue), "dry_run": .bool(context.dryRun),
            "min_wait": .double(minWait), "chains_found": .int(chains), "broken": .int(context.dryRun ? 0 : report.signalled),
            "skipped": .int(report.skipped), "failed": .int(report.failed), "chains": .array(report.outcomes),
        ]
        if chains == 0 {
            return .ok(data, message: "no lock-wait chain older than \(minWait.formattedSeconds)")
        }
        let summary = context.dryRun
            ? "would break \(report.signalled) of \(chains) lock-wait chain\(chains == 1 ? "" : "s")"
            : "broke \(report.signalled) of \(chains) lock-wait chain\(chains == 1 ? "" : "s")"
        return report.result(data, summary: summary)
    }
}
