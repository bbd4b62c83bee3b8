import PostgresNIO
import WardenPluginKit

/// How far replicas trail: seen from a primary (each replica) or from a replica (itself).
public struct ReplicationLagPlugin: Plugin {
    public let spec = PluginSpec(
        name: "replication_lag",
        description: "PostgreSQL streaming replication: on a primary each replica's write/flush/replay lag and bytes behind; on a replica its receive/replay lag and last replay time. Fails past max_lag_seconds or max_lag_bytes, with fewer than min_replicas, or when the role is not expect_role.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties([
                "max_lag_seconds": ["type": "number", "minimum": 0, "description": "Fail when a replay lag exceeds this many seconds (optional)."],
                "max_lag_bytes": ["type": "integer", "minimum": 0, "description": "Fail when a replica is more than this many bytes of WAL behind (optional)."],
                "min_replicas": ["type": "integer", "minimum": 0, "default": 0, "description": "On a primary: fail with fewer streaming replicas."],
                "expect_role": ["type": "string", "enum": ["primary", "replica"], "description": "Fail when the server has the other role (optional)."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let access = try await PostgresAccess(parameters, context: context)
        let maxSeconds = parameters["max_lag_seconds"]?.doubleValue
        let maxBytes = parameters["max_lag_bytes"]?.intValue
        let minReplicas = parameters["min_replicas"]?.intValue ?? 0
        let expectedRole = parameters["expect_role"]?.stringValue

        let (inRecovery, rows) = try await access.run("reading replication state") { session in
            let recovery = try await session.rows("SELECT pg_is_in_recovery() AS in_recovery").first?.bool("in_recovery") ?? false
            let rows = try await session.rows(recovery ? Self.replicaQuery : Self.primaryQuery)
            return (recovery, rows)
        }
        let role = inRecovery ? "replica" : "primary"
        var data: JSONObject = ["server": .string(access.target.displayName), "role": .string(role)]
        var problems: [String] = []
        if let expectedRole, expectedRole != role { problems.append("the server is a \(role), expected a \(expectedRole)") }

        let headline: String
        if inRecovery {
            let row = rows.first
            // Replay "lag" from the last replayed commit keeps growing on an idle primary; it
            // is only lag while received WAL still waits to be replayed.
            let behind = row?.double("replay_behind_bytes") ?? 0
            let replayLag = behind > 0 ? row?.double("since_last_replay") : 0
            data["receive_lsn"] = row?.jsonString("receive_lsn") ?? .null
            data["replay_lsn"] = row?.jsonString("replay_lsn") ?? .null
            data["replay_behind_bytes"] = .int(Int(behind))
            data["replay_lag_seconds"] = .seconds(replayLag)
            data["last_replay"] = row?.jsonDate("last_replay") ?? .null
            data["wal_receiver"] = [
                "status": row?.jsonString("receiver_status") ?? .null,
                "sender_host": row?.jsonString("sender_host") ?? .null,
                "sender_port": row?.jsonInt("sender_port") ?? .null,
                "last_message": row?.jsonDate("last_msg_receipt_time") ?? .null,
            ]
            if row?.string("receiver_status") != "streaming" {
                problems.append("the WAL receiver is \(row?.string("receiver_status") ?? "not running")")
            }
            if let maxBytes, Int(behind) > maxBytes { problems.append("\(Int(behind)) bytes not yet replayed (> \(maxBytes))") }
            if let maxSeconds, let replayLag, replayLag > maxSeconds {
                problems.append("replay lag \(Int(replayLag))s (> \(maxSeconds.formattedSeconds))")
            }
            headline = "replica of \(row?.string("sender_host") ?? "?"), \(Int(behind)) bytes to replay"
        } else {
            data["replicas"] = .array(rows.map { row in
                [
                    "application": row.jsonString("application_name"), "client_addr": row.jsonString("client_addr"),
                    "state": row.jsonString("state"), "sync_state": row.jsonString("sync_state"),
                    "write_lag_seconds": row.jsonSeconds("write_lag"), "flush_lag_seconds": row.jsonSeconds("flush_lag"),
                    "replay_lag_seconds": row.jsonSeconds("replay_lag"),
                    "sent_behind_bytes": row.jsonInt("sent_behind"), "replay_behind_bytes": row.jsonInt("replay_behind"),
                ]
            })
            data["replica_count"] = .int(rows.count)
            if rows.count < minReplicas { problems.append("\(rows.count) replica\(rows.count == 1 ? "" : "s") streaming, expected at least \(minReplicas)") }
            for row in rows {
                let name = row.string("application_name") ?? row.string("client_addr") ?? "?"
                if let maxBytes, let behind = row.int("replay_behind"), behind > maxBytes {
                    problems.append("\(name) is \(behind) bytes behind (> \(maxBytes))")
                }
                if let maxSeconds, let lag = row.double("replay_lag"), lag > maxSeconds {
                    problems.append("\(name) replays \(Int(lag))s behind (> \(maxSeconds.formattedSeconds))")
                }
            }
            headline = "primary with \(rows.count) streaming replica\(rows.count == 1 ? "" : "s")"
        }
        guard problems.isEmpty else {
            return .failure(problems.joined(separator: "; "), message: headline, data: .object(data))
        }
        return .ok(.object(data), message: headline)
    }

    private static let primaryQuery: PostgresQuery = """
        SELECT application_name, client_addr::text AS client_addr, state, sync_state,
               extract(epoch FROM write_lag)::float8 AS write_lag,
               extract(epoch FROM flush_lag)::float8 AS flush_lag,
               extract(epoch FROM replay_lag)::float8 AS replay_lag,
               pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::int8 AS sent_behind,
               pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::int8 AS replay_behind
        FROM pg_stat_replication
        ORDER BY application_name
        """

    private static let replicaQuery: PostgresQuery = """
        SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn,
               coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8 AS replay_behind_bytes,
               pg_last_xact_replay_timestamp() AS last_replay,
               extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since_last_replay,
               r.status AS receiver_status, r.sender_host, r.sender_port, r.last_msg_receipt_time
        FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true
        """
}
