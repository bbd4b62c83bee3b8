import WardenPluginKit

/// Ends a runaway query: one pid, or every query matching filters, behind the guards.
public struct TerminateQueryPlugin: Plugin {
    public let spec = PluginSpec(
        name: "terminate_query",
        description: "Cancel (pg_cancel_backend) or terminate (pg_terminate_backend) PostgreSQL sessions: one pid, or every non-idle query matching min_duration/only_user/only_database/only_state, longest first. Never Warden's own backend, never a superuser's unless allow_superuser, at most max_targets; dry run reports the plan.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties(BackendSignaller.guardParameters.merging([
                "pid": ["type": "integer", "minimum": 1, "description": "The backend to signal (give this or min_duration)."],
                "min_duration": JSONSchema.duration("Only queries running at least this long.", exclusiveMinimum: nil),
                "only_user": ["type": "string", "minLength": 1, "description": "Only sessions of this role."],
                "only_database": ["type": "string", "minLength": 1, "description": "Only sessions in this database."],
                "only_state": [
                    "type": "string", "enum": ["active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call", "disabled"],
                    "description": "Only sessions in this state (default: any state but idle).",
                ],
                "mode": ["type": "string", "enum": ["cancel", "terminate"], "default": "cancel", "description": "cancel stops the query and keeps the session; terminate ends the session (needed for idle in transaction)."],
            ]) { mine, _ in mine }),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let pid = parameters["pid"]?.intValue
        let minDuration = parameters["min_duration"]?.doubleValue
        guard pid != nil || minDuration != nil else {
            throw PluginError("give `pid` or `min_duration`: without either every session would match", message: "refusing an unbounded terminate_query")
        }
        let user = parameters["only_user"]?.stringValue
        let database = parameters["only_database"]?.stringValue
        let state = parameters["only_state"]?.stringValue
        let signaller = try BackendSignaller(parameters, dryRun: context.dryRun)
        let access = try await PostgresAccess(parameters, context: context)
        let pidFilter = pid.map { Int32(clamping: $0) }
        // A named pid is taken in any state; a filter sweep leaves idle sessions alone.
        let excludeIdle = state == nil && pid == nil

        let (matches, report) = try await access.run("signalling backends") { session in
            let ownPid = try await BackendSignaller.ownPid(session)
            let rows = try await session.rows("""
                SELECT a.pid, a.usename, a.datname, a.state, left(a.query, 300) AS query,
                       extract(epoch FROM clock_timestamp() - a.query_start)::float8 AS seconds,
                       coalesce(r.rolsuper, false) AS superuser
                FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
                WHERE a.backend_type = 'client backend'
                  AND (\(pidFilter)::int IS NULL OR a.pid = \(pidFilter))
                  AND (\(minDuration)::float8 IS NULL OR a.query_start <= clock_timestamp() - make_interval(secs => \(minDuration)))
                  AND (\(user)::text IS NULL OR a.usename = \(user))
                  AND (\(database)::text IS NULL OR a.datname = \(database))
                  AND (\(state)::text IS NULL OR a.state = \(state))
                  AND (NOT \(excludeIdle) OR a.state IS DISTINCT FROM 'idle')
                ORDER BY a.query_start NULLS LAST, a.pid
                """)
            let candidates = rows.map { row in
                BackendSignaller.Candidate(
                    pid: row.int("pid") ?? 0, user: row.string("usename"), isSuperuser: row.bool("superuser") ?? false,
                    summary: [
                        "user": row.jsonString("usename"), "database": row.jsonString("datname"), "state": row.jsonString("state"),
                        "seconds": row.jsonSeconds("seconds"), "query": row.jsonString("query"),
                    ])
            }
            return (rows.count, try await signaller.apply(to: candidates, ownPid: ownPid, session: session))
        }

        let verb = signaller.mode == .cancel ? "cancel" : "terminate"
        let data: JSONValue = [
            "server": .string(access.target.displayName), "mode": .string(signaller.mode.rawValue), "dry_run": .bool(context.dryRun),
            "matched": .int(matches), "signalled": .int(report.signalled), "skipped": .int(report.skipped), "failed": .int(report.failed),
            "targets": .array(report.outcomes),
        ]
        if matches == 0 {
            return .ok(data, message: pid.map { "no session with pid \($0)" } ?? "no query matched the filters")
        }
        let summary = context.dryRun
            ? "would \(verb) \(report.signalled) of \(matches) matching session\(matches == 1 ? "" : "s")"
            : "\(verb)\(signaller.mode == .cancel ? "led" : "d") \(report.signalled) of \(matches) matching session\(matches == 1 ? "" : "s")"
        return report.result(data, summary: summary)
    }
}
