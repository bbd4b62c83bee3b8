import PostgresNIO
import WardenPluginKit

/// VACUUM (ANALYZE) one table, named as identifiers so no SQL can ride in on a name.
public struct VacuumTablePlugin: Plugin {
    public let spec = PluginSpec(
        name: "vacuum_table",
        description: "Run VACUUM (ANALYZE) on one PostgreSQL table named by schema and table (quoted as identifiers), optionally VERBOSE; FULL (which locks the table exclusively and rewrites it) only with full: true. Reports dead tuples and size before and after; dry run reports the statement.",
        category: .remediation,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties([
                "schema": ["type": "string", "minLength": 1, "maxLength": 63, "default": "public", "description": "Schema of the table."],
                "table": ["type": "string", "minLength": 1, "maxLength": 63, "description": "Table name, exactly as stored (case and all)."],
                "analyze": ["type": "boolean", "default": true, "description": "Also refresh planner statistics."],
                "verbose": ["type": "boolean", "default": false, "description": "VERBOSE: PostgreSQL writes its per-table report to the server log."],
                "full": ["type": "boolean", "default": false, "description": "VACUUM FULL: rewrites the table under an ACCESS EXCLUSIVE lock. Never implied."],
            ]),
            "required": ["table"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let schema = parameters["schema"]?.stringValue ?? "public"
        let table = try parameters.required("table", \.stringValue)
        var options: [String] = []
        if parameters["full"]?.boolValue == true { options.append("FULL") }
        if parameters["verbose"]?.boolValue == true { options.append("VERBOSE") }
        if parameters["analyze"]?.boolValue ?? true { options.append("ANALYZE") }
        let name = PostgresSQL.identifier(schema) + "." + PostgresSQL.identifier(table)
        let statement = "VACUUM " + (options.isEmpty ? "" : "(\(options.joined(separator: ", "))) ") + name
        let dryRun = context.dryRun
        // VACUUM may outlast the session's statement_timeout; it gets what is left of the
        // run instead, so it is stopped on the server when the run times out.
        let budget = max(1, Int(context.remaining.seconds * 1000) - 500)
        let access = try await PostgresAccess(parameters, context: context)

        let outcome = try await access.run("vacuuming \(schema).\(table)", reusable: false) { session -> VacuumOutcome in
            let found = try await session.rows("""
                SELECT c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(schema) AND c.relname = \(table)
                """)
            guard let kind = found.first?.string("relkind") else { return .missing }
            guard ["r", "m", "t", "p"].contains(kind) else { return .notATable(kind) }
            let before = try await Self.statistics(session, schema: schema, table: table)
            if dryRun { return .planned(before) }
            try await session.execute(PostgresQuery(unsafeSQL: "SET statement_timeout = \(budget)"))
            let started = ContinuousClock.now
            try await session.execute(PostgresQuery(unsafeSQL: statement))
            let elapsed = ContinuousClock.now - started
            return .done(before, after: try await Self.statistics(session, schema: schema, table: table), seconds: elapsed.seconds)
        }

        var data: JSONObject = [
            "server": .string(access.target.displayName), "schema": .string(schema), "table": .string(table),
            "statement": .string(statement), "dry_run": .bool(dryRun),
        ]
        switch outcome {
        case .missing:
            return .failure("no table \(schema).\(table) in database \(access.target.database)", message: "nothing to vacuum", data: .object(data))
        case .notATable(let kind):
            return .failure("\(schema).\(table) is not a table (relkind \(kind)) and cannot be vacuumed", message: "nothing to vacuum", data: .object(data))
        case .planned(let before):
            data["before"] = before
            return .ok(.object(data), message: "would run: \(statement)")
        case .done(let before, let after, let seconds):
            data["before"] = before
            data["after"] = after
            data["seconds"] = .seconds(seconds)
            let dead = "\(before["dead_tuples"]?.intValue ?? 0) → \(after["dead_tuples"]?.intValue ?? 0) dead tuples"
            return .ok(.object(data), message: "\(statement) took \(String(format: "%.1f", seconds))s; \(dead)")
        }
    }

    private enum VacuumOutcome: Sendable {
        case missing
        case notATable(String)
        case planned(JSONValue)
        case done(JSONValue, after: JSONValue, seconds: Double)
    }

    private static func statistics(_ session: PostgresSessionQueries, schema: String, table: String) async throws -> JSONValue {
        let row = try await session.rows("""
            SELECT n_dead_tup, n_live_tup, pg_total_relation_size(relid) AS total_bytes, last_vacuum, last_analyze
            FROM pg_stat_all_tables WHERE schemaname = \(schema) AND relname = \(table)
            """).first
        return [
            "dead_tuples": row?.jsonInt("n_dead_tup") ?? .null, "live_tuples": row?.jsonInt("n_live_tup") ?? .null,
            "total_bytes": row?.jsonInt("total_bytes") ?? .null,
            "last_vacuum": row?.jsonDate("last_vacuum") ?? .null, "last_analyze": row?.jsonDate("last_analyze") ?? .null,
        ]
    }
}
