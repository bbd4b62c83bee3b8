import Foundation
import PostgresNIO
import WardenPluginKit

/// Who is connected and how close the server is to refusing connections.
public struct ActiveConnectionsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "active_connections",
        description: "PostgreSQL client sessions counted by state, database, user and application, with the oldest transaction, the oldest idle-in-transaction session and max_connections headroom; fails past max_used_percent or max_idle_in_transaction.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties([
                "max_used_percent": [
                    "type": "number", "minimum": 0, "maximum": 100, "default": 90,
                    "description": "Fail when client sessions use more than this share of the connections available to ordinary roles.",
                ],
                "max_idle_in_transaction": [
                    "type": "number", "exclusiveMinimum": 0,
                    "description": "Fail when a session has been idle in a transaction longer than this many seconds (optional).",
                ],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let access = try await PostgresAccess(parameters, context: context)
        let maxUsedPercent = parameters["max_used_percent"]?.doubleValue ?? 90
        let idleLimit = parameters["max_idle_in_transaction"]?.doubleValue

        let (sessions, limits) = try await access.run("listing sessions") { session in
            let sessions = try await session.rows("""
                SELECT pid, coalesce(state, 'unknown') AS state, coalesce(datname, '') AS datname,
                       coalesce(usename, '') AS usename, coalesce(application_name, '') AS application_name,
                       extract(epoch FROM now() - xact_start)::float8 AS xact_seconds,
                       extract(epoch FROM now() - state_change)::float8 AS state_seconds,
                       left(query, 200) AS query
                FROM pg_stat_activity
                WHERE backend_type = 'client backend'
                """)
            let limits = try await session.rows("""
                SELECT current_setting('max_connections')::int AS max_connections,
                       current_setting('superuser_reserved_connections')::int AS reserved
                """)
            return (sessions, limits)
        }

        let maxConnections = limits.first?.int("max_connections") ?? 0
        let reserved = limits.first?.int("reserved") ?? 0
        let available = max(1, maxConnections - reserved)
        let total = sessions.count
        let usedPercent = (Double(total) / Double(available) * 1000).rounded() / 10

        func counts(_ column: String) -> JSONValue {
            var tally: [String: Int] = [:]
            for row in sessions { tally[row.string(column) ?? "", default: 0] += 1 }
            return .object(tally.mapValues(JSONValue.int))
        }
        func summary(_ row: PostgresRandomAccessRow, seconds column: String) -> JSONValue {
            [
                "pid": row.jsonInt("pid"), "user": row.jsonString("usename"), "database": row.jsonString("datname"),
                "application": row.jsonString("application_name"), "state": row.jsonString("state"),
                "seconds": row.jsonSeconds(column), "query": row.jsonString("query"),
            ]
        }
        let oldestTransaction = sessions.filter { $0.double("xact_seconds") != nil }
            .max { ($0.double("xact_seconds") ?? 0) < ($1.double("xact_seconds") ?? 0) }
        let idleInTransaction = sessions.filter { $0.string("state")?.hasPrefix("idle in transaction") == true }
        let oldestIdle = idleInTransaction.max { ($0.double("state_seconds") ?? 0) < ($1.double("state_seconds") ?? 0) }

        let data: JSONValue = [
            "server": .string(access.target.displayName),
            "total": .int(total),
            "max_connections": .int(maxConnections),
            "superuser_reserved": .int(reserved),
            "headroom": .int(available - total),
            "used_percent": .double(usedPercent),
            "by_state": counts("state"),
            "by_database": counts("datname"),
            "by_user": counts("usename"),
            "by_application": counts("application_name"),
            "idle_in_transaction": .int(idleInTransaction.count),
            "oldest_transaction": oldestTransaction.map { summary($0, seconds: "xact_seconds") } ?? .null,
            "oldest_idle_in_transaction": oldestIdle.map { summary($0, seconds: "state_seconds") } ?? .null,
        ]

        var problems: [String] = []
        if usedPercent > maxUsedPercent {
            problems.append("\(total) of \(available) connections in use (\(usedPercent)% > \(maxUsedPercent)%)")
        }
        if let idleLimit, let oldestIdle, let seconds = oldestIdle.double("state_seconds"), seconds > idleLimit {
            problems.append("pid \(oldestIdle.int("pid") ?? 0) idle in transaction for \(Int(seconds))s (> \(idleLimit.formatted())s)")
        }
        let headline = "\(total) sessions on \(access.target.displayName), \(available - total) connections to spare"
        guard problems.isEmpty else {
            return .failure(problems.joined(separator: "; "), message: headline, data: data)
        }
        return .ok(data, message: headline)
    }
}
