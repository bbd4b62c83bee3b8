import PostgresNIO
import WardenPluginKit

/// Tables carrying the most dead tuples, with when they were last vacuumed and analyzed.
public struct TableBloatPlugin: Plugin {
    public let spec = PluginSpec(
        name: "table_bloat",
        description: "PostgreSQL tables ranked by dead tuples: dead ratio, last (auto)vacuum and (auto)analyze, table size; fails when a table has at least min_dead_tuples and a dead ratio of at least max_dead_ratio.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties([
                "min_dead_tuples": ["type": "integer", "minimum": 0, "default": 10_000, "description": "A table needs at least this many dead tuples to count as bloated."],
                "max_dead_ratio": ["type": "number", "minimum": 0, "maximum": 1, "default": 0.2, "description": "…and at least this share of its tuples dead (0–1)."],
                "top": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 10, "description": "How many tables to report, most dead tuples first."],
                "schema": ["type": "string", "minLength": 1, "maxLength": 63, "description": "Only tables in this schema (optional)."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let access = try await PostgresAccess(parameters, context: context)
        let minDead = parameters["min_dead_tuples"]?.intValue ?? 10_000
        let maxRatio = parameters["max_dead_ratio"]?.doubleValue ?? 0.2
        let top = parameters["top"]?.intValue ?? 10
        let schema = parameters["schema"]?.stringValue

        let rows = try await access.run("reading table statistics") { session in
            try await session.rows("""
                SELECT schemaname, relname, n_dead_tup, n_live_tup,
                       CASE WHEN n_live_tup + n_dead_tup > 0
                            THEN n_dead_tup::float8 / (n_live_tup + n_dead_tup) ELSE 0 END AS dead_ratio,
                       last_vacuum, last_autovacuum, last_analyze, last_autoanalyze,
                       vacuum_count, autovacuum_count,
                       pg_total_relation_size(relid) AS total_bytes
                FROM pg_stat_user_tables
                WHERE (\(schema)::text IS NULL OR schemaname = \(schema))
                ORDER BY n_dead_tup DESC, relname
                LIMIT \(top)
                """)
        }
        func isBloated(_ row: PostgresRandomAccessRow) -> Bool {
            (row.int("n_dead_tup") ?? 0) >= minDead && (row.double("dead_ratio") ?? 0) >= maxRatio
        }
        let bloated = rows.filter(isBloated)
        let data: JSONValue = [
            "server": .string(access.target.displayName),
            "bloated": .int(bloated.count),
            "tables": .array(rows.map { row in
                [
                    "schema": row.jsonString("schemaname"), "table": row.jsonString("relname"),
                    "dead_tuples": row.jsonInt("n_dead_tup"), "live_tuples": row.jsonInt("n_live_tup"),
                    "dead_ratio": .double(((row.double("dead_ratio") ?? 0) * 10_000).rounded() / 10_000),
                    "bloated": .bool(isBloated(row)),
                    "last_vacuum": row.jsonDate("last_vacuum"), "last_autovacuum": row.jsonDate("last_autovacuum"),
                    "last_analyze": row.jsonDate("last_analyze"), "last_autoanalyze": row.jsonDate("last_autoanalyze"),
                    "vacuum_count": row.jsonInt("vacuum_count"), "autovacuum_count": row.jsonInt("autovacuum_count"),
                    "total_bytes": row.jsonInt("total_bytes"),
                ]
            }),
        ]
        guard let worst = bloated.first else {
            return .ok(data, message: "no table over \(minDead) dead tuples and \(Int(maxRatio * 100))% dead on \(access.target.displayName)")
        }
        let name = "\(worst.string("schemaname") ?? "").\(worst.string("relname") ?? "")"
        let ratio = Int(((worst.double("dead_ratio") ?? 0) * 100).rounded())
        return .failure(
            "\(bloated.count) bloated table\(bloated.count == 1 ? "" : "s"); worst \(name) with \(worst.int("n_dead_tup") ?? 0) dead tuples (\(ratio)%)",
            message: "tables need vacuuming on \(access.target.displayName)", data: data)
    }
}
