import PostgresNIO
import WardenPluginKit

/// Queries running longer than a bound, and (when pg_stat_statements is there) the
/// statements that cost the most overall.
public struct SlowQueriesPlugin: Plugin {
    public let spec = PluginSpec(
        name: "slow_queries",
        description: "PostgreSQL queries running longer than min_duration (pid, user, database, state, duration, wait event, query text), optionally the top statements from pg_stat_statements; fails when more than max_count are found.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties([
                "min_duration": JSONSchema.duration("How long a query must have been running to count.", default: 30, exclusiveMinimum: nil),
                "max_count": ["type": "integer", "minimum": 0, "default": 0, "description": "Fail when more slow queries than this are running."],
                "only_database": ["type": "string", "minLength": 1, "description": "Only queries in this database (optional)."],
                "only_user": ["type": "string", "minLength": 1, "description": "Only queries of this role (optional)."],
                "limit": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 20, "description": "At most this many queries in the result, longest first."],
                "query_max_chars": ["type": "integer", "minimum": 16, "maximum": 100_000, "default": 500, "description": "Query texts are cut to this many characters."],
                "include_statements": ["type": "boolean", "default": true, "description": "Add the top statements by total time from pg_stat_statements when the extension is installed in this database."],
                "statements_limit": ["type": "integer", "minimum": 1, "maximum": 100, "default": 10, "description": "How many pg_stat_statements entries."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let access = try await PostgresAccess(parameters, context: context)
        let options = try parameters.decode(Options.self)
        let minDuration = options.minDuration.seconds
        let maxCount = options.maxCount
        let database = options.onlyDatabase
        let user = options.onlyUser
        let limit = options.limit
        let maxChars = options.queryMaxChars
        let includeStatements = options.includeStatements
        let statementsLimit = options.statementsLimit

        let (queries, total, statements, hidden) = try await access.run("listing running queries") { session in
            let filter: PostgresQuery = """
                SELECT pid, usename, datname, state, wait_event_type, wait_event, application_name,
                       extract(epoch FROM clock_timestamp() - query_start)::float8 AS seconds,
                       left(query, \(maxChars)::int) AS query, count(*) OVER () AS total
                FROM pg_stat_activity
                WHERE backend_type = 'client backend' AND state IS DISTINCT FROM 'idle'
                  AND pid <> pg_backend_pid()
                  AND query_start <= clock_timestamp() - make_interval(secs => \(minDuration))
                  AND (\(database)::text IS NULL OR datname = \(database))
                  AND (\(user)::text IS NULL OR usename = \(user))
                ORDER BY query_start
                LIMIT \(limit)
                """
            let rows = try await session.rows(filter)
            let statements: JSONValue? = includeStatements ? try await Self.topStatements(session, limit: statementsLimit, maxChars: maxChars) : nil
            // Without pg_monitor (or pg_read_all_stats) other roles' sessions show no state,
            // start or text: they cannot be judged, and the operator should know.
            let hidden = try await session.rows("""
                SELECT count(*) AS hidden FROM pg_stat_activity
                WHERE query = '<insufficient privilege>' AND datid IS NOT NULL
                """).first?.int("hidden") ?? 0
            return (rows, rows.first?.int("total") ?? 0, statements, hidden)
        }

        var data: JSONObject = [
            "server": .string(access.target.displayName),
            "min_duration": .double(minDuration),
            "count": .int(total),
            "queries": .array(queries.map { row in
                [
                    "pid": row.jsonInt("pid"), "user": row.jsonString("usename"), "database": row.jsonString("datname"),
                    "state": row.jsonString("state"), "seconds": row.jsonSeconds("seconds"),
                    "wait_event_type": row.jsonString("wait_event_type"), "wait_event": row.jsonString("wait_event"),
                    "application": row.jsonString("application_name"), "query": row.jsonString("query"),
                ]
            }),
        ]
        if let statements { data["pg_stat_statements"] = statements }
        data["hidden_sessions"] = .int(hidden)

        var headline = total == 0
            ? "no query running longer than \(minDuration.formattedSeconds) on \(access.target.displayName)"
            : "\(total) quer\(total == 1 ? "y" : "ies") running longer than \(minDuration.formattedSeconds) on \(access.target.displayName)"
        if hidden > 0 {
            headline += "; \(hidden) session\(hidden == 1 ? "" : "s") of other roles hidden from \(access.target.user) (grant it pg_monitor)"
        }
        guard total <= maxCount else {
            let longest = queries.first.map { " (longest: pid \($0.int("pid") ?? 0), \(Int($0.double("seconds") ?? 0))s)" } ?? ""
            return .failure("\(total) slow quer\(total == 1 ? "y" : "ies") > max_count \(maxCount)\(longest)", message: headline, data: .object(data))
        }
        return .ok(.object(data), message: headline)
    }

    /// The statements with the most total execution time, or why there are none.
    private static func topStatements(_ session: PostgresSessionQueries, limit: Int, maxChars: Int) async throws -> JSONValue {
        let installed = try await session.rows("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        guard !installed.isEmpty else {
            return ["available": false, "reason": "the pg_stat_statements extension is not installed in this database"]
        }
        let rows: [PostgresRandomAccessRow]
        do {
            rows = try await session.rows("""
                SELECT s.calls, s.total_exec_time::float8 / 1000 AS total_seconds, s.mean_exec_time::float8 / 1000 AS mean_seconds,
                       s.rows, r.rolname, d.datname, left(s.query, \(maxChars)::int) AS query
                FROM pg_stat_statements s
                LEFT JOIN pg_roles r ON r.oid = s.userid
                LEFT JOIN pg_database d ON d.oid = s.dbid
                ORDER BY s.total_exec_time DESC
                LIMIT \(limit)
                """)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55000" {
            // Installed but not preloaded: the view raises instead of answering.
            return ["available": false, "reason": "pg_stat_statements is installed but not loaded (shared_preload_libraries)"]
        }
        return [
            "available": true,
            "top": .array(rows.map { row in
                [
                    "calls": row.jsonInt("calls"), "total_seconds": row.jsonSeconds("total_seconds"),
                    "mean_seconds": row.jsonSeconds("mean_seconds"), "rows": row.jsonInt("rows"),
                    "user": row.jsonString("rolname"), "database": row.jsonString("datname"), "query": row.jsonString("query"),
                ]
            }),
        ]
    }
}

extension SlowQueriesPlugin {
    /// The plugin's own parameters (the connection ones are `PostgresAccess`'s), defaults
    /// applied by the schema.
    struct Options: Decodable {
        let minDuration: DurationParameter
        let maxCount: Int
        let onlyDatabase: String?
        let onlyUser: String?
        let limit: Int
        let queryMaxChars: Int
        let includeStatements: Bool
        let statementsLimit: Int
    }
}
