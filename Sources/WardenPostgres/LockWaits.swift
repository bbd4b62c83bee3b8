import WardenPluginKit

/// Sessions waiting for locks, as chains from the session that holds everyone up.
public struct LockWaitsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "lock_waits",
        description: "PostgreSQL lock waits as chains (pg_blocking_pids): each root blocker with the sessions queued behind it, lock types, relations and how long each has waited; deadlock cycles marked. Fails when a wait is older than max_wait.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": PostgresConnectionParameters.properties([
                "max_wait": ["type": "number", "minimum": 0, "default": 30, "description": "Fail when any session has waited for a lock longer than this many seconds."],
                "query_max_chars": ["type": "integer", "minimum": 16, "maximum": 100_000, "default": 300, "description": "Query texts are cut to this many characters."],
            ]),
            "additionalProperties": false,
        ]
    )

    public init() {}

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let access = try await PostgresAccess(parameters, context: context)
        let maxWait = parameters["max_wait"]?.doubleValue ?? 30
        let maxChars = parameters["query_max_chars"]?.intValue ?? 300
        let graph = try await access.run("reading lock waits") { session in
            try await LockGraph.load(session, queryMaxChars: maxChars)
        }
        let waiting = graph.backends.values.filter { !$0.blockedBy.isEmpty }
        let longest = graph.chains.first?.longestWait ?? 0
        let deadlocks = graph.chains.filter { $0.cycle != nil }.count
        let data: JSONValue = [
            "server": .string(access.target.displayName),
            "waiting": .int(waiting.count),
            "chains": .array(graph.chains.map(graph.json)),
            "deadlocks": .int(deadlocks),
            "longest_wait_seconds": .seconds(longest),
        ]
        guard !waiting.isEmpty else {
            return .ok(data, message: "no session waits for a lock on \(access.target.displayName)")
        }
        let roots = graph.chains.map { "\($0.culprit)" }.joined(separator: ", ")
        let headline = "\(waiting.count) session\(waiting.count == 1 ? "" : "s") waiting for locks in \(graph.chains.count) chain\(graph.chains.count == 1 ? "" : "s") (blocked by \(roots))"
        guard longest <= maxWait else {
            return .failure("a lock wait of \(Int(longest))s exceeds max_wait \(maxWait.formattedSeconds)", message: headline, data: data)
        }
        return .ok(data, message: headline)
    }
}
