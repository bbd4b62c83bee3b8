import PostgresNIO
import WardenPluginKit

/// Who waits for whom, from `pg_blocking_pids`: the root blockers (holding locks, waiting
/// for nothing) with everyone queued behind them, and cycles (deadlocks PostgreSQL has not
/// broken yet, e.g. under a long `deadlock_timeout`). Shared by lock_waits and kill_deadlock.
struct LockGraph {
    struct Backend {
        let pid: Int
        let user: String?
        let database: String?
        let state: String?
        let application: String?
        let query: String?
        let blockedBy: [Int]
        let transactionSeconds: Double?
        let waitSeconds: Double?
        let lockType: String?
        let lockMode: String?
        let relation: String?
        let isSuperuser: Bool
    }

    /// One root blocker (or one deadlock cycle) and the sessions waiting on it.
    struct Chain {
        /// The session to end to release the chain: the root, or a cycle's chosen victim.
        let culprit: Int
        /// For a deadlock: the pids that wait on each other in a circle.
        let cycle: [Int]?
        /// Everyone waiting directly or indirectly, nearest first.
        let waiting: [Int]
        let longestWait: Double
    }

    let backends: [Int: Backend]
    let chains: [Chain]

    static func load(_ session: PostgresSessionQueries, queryMaxChars: Int) async throws -> LockGraph {
        let rows = try await session.rows("""
            WITH waiting AS (
                SELECT pid, pg_blocking_pids(pid) AS blocked_by
                FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0
            ), involved AS (
                SELECT pid FROM waiting UNION SELECT unnest(blocked_by) FROM waiting
            )
            SELECT a.pid, a.usename, a.datname, a.state, a.application_name,
                   left(a.query, \(queryMaxChars)::int) AS query,
                   coalesce(w.blocked_by, '{}'::int[]) AS blocked_by,
                   extract(epoch FROM now() - a.xact_start)::float8 AS xact_seconds,
                   coalesce(l.wait_seconds, CASE WHEN w.pid IS NOT NULL THEN extract(epoch FROM now() - a.state_change)::float8 END) AS wait_seconds,
                   l.locktype, l.mode, l.relation, coalesce(r.rolsuper, false) AS superuser
            FROM involved i
            JOIN pg_stat_activity a ON a.pid = i.pid
            LEFT JOIN waiting w ON w.pid = a.pid
            LEFT JOIN pg_roles r ON r.oid = a.usesysid
            LEFT JOIN LATERAL (
                SELECT locktype, mode, relation::regclass::text AS relation,
                       extract(epoch FROM now() - waitstart)::float8 AS wait_seconds
                FROM pg_locks WHERE pid = a.pid AND NOT granted LIMIT 1
            ) l ON true
            """)
        let backends = rows.map { row in
            Backend(
                pid: row.int("pid") ?? 0, user: row.string("usename"), database: row.string("datname"), state: row.string("state"),
                application: row.string("application_name"), query: row.string("query"), blockedBy: row.ints("blocked_by"),
                transactionSeconds: row.double("xact_seconds"), waitSeconds: row.double("wait_seconds"),
                lockType: row.string("locktype"), lockMode: row.string("mode"), relation: row.string("relation"),
                isSuperuser: row.bool("superuser") ?? false
            )
        }
        return LockGraph(backends)
    }

    init(_ list: [Backend]) {
        let backends = Dictionary(list.map { ($0.pid, $0) }, uniquingKeysWith: { first, _ in first })
        self.backends = backends
        var waitersOf: [Int: [Int]] = [:]
        for backend in list { for blocker in backend.blockedBy { waitersOf[blocker, default: []].append(backend.pid) } }

        func waiting(behind start: [Int]) -> [Int] {
            var seen = Set(start), order: [Int] = [], queue = start
            while !queue.isEmpty {
                let pid = queue.removeFirst()
                for waiter in (waitersOf[pid] ?? []).sorted() where seen.insert(waiter).inserted {
                    order.append(waiter)
                    queue.append(waiter)
                }
            }
            return order
        }
        func longestWait(_ pids: [Int]) -> Double {
            pids.compactMap { backends[$0]?.waitSeconds }.max() ?? 0
        }

        var chains: [Chain] = []
        // Roots: they block someone and wait for nobody (or for a session not in view).
        let roots = waitersOf.keys.filter { (backends[$0]?.blockedBy ?? []).isEmpty }.sorted()
        for root in roots {
            let behind = waiting(behind: [root])
            chains.append(Chain(culprit: root, cycle: nil, waiting: behind, longestWait: longestWait(behind)))
        }
        for cycle in Self.cycles(in: backends) {
            // Ending the youngest transaction loses the least work, as PostgreSQL's own
            // detector tends to.
            let victim = cycle.min { ($0.transactionSeconds ?? 0, $0.pid) < ($1.transactionSeconds ?? 0, $1.pid) }!.pid
            let pids = cycle.map(\.pid).sorted()
            let behind = waiting(behind: pids)
            chains.append(Chain(culprit: victim, cycle: pids, waiting: pids.filter { $0 != victim } + behind,
                                longestWait: longestWait(pids + behind)))
        }
        self.chains = chains.sorted { $0.longestWait > $1.longestWait }
    }

    /// Strongly connected groups of two or more sessions waiting on each other (Tarjan).
    private static func cycles(in backends: [Int: Backend]) -> [[Backend]] {
        var index = 0, stack: [Int] = [], onStack = Set<Int>()
        var indices: [Int: Int] = [:], lowLinks: [Int: Int] = [:]
        var result: [[Backend]] = []
        func visit(_ pid: Int) {
            indices[pid] = index
            lowLinks[pid] = index
            index += 1
            stack.append(pid)
            onStack.insert(pid)
            for next in backends[pid]?.blockedBy ?? [] where backends[next] != nil {
                if indices[next] == nil {
                    visit(next)
                    lowLinks[pid] = min(lowLinks[pid]!, lowLinks[next]!)
                } else if onStack.contains(next) {
                    lowLinks[pid] = min(lowLinks[pid]!, indices[next]!)
                }
            }
            if lowLinks[pid] == indices[pid] {
                var component: [Int] = []
                while let top = stack.popLast() {
                    onStack.remove(top)
                    component.append(top)
                    if top == pid { break }
                }
                if component.count > 1 { result.append(component.compactMap { backends[$0] }) }
            }
        }
        for pid in backends.keys.sorted() where indices[pid] == nil { visit(pid) }
        return result
    }

    // MARK: JSON

    func json(_ pid: Int) -> JSONValue {
        guard let backend = backends[pid] else { return ["pid": .int(pid), "note": "not visible (a prepared transaction?)"] }
        var object: JSONObject = [
            "pid": .int(pid),
            "user": backend.user.map(JSONValue.string) ?? .null,
            "database": backend.database.map(JSONValue.string) ?? .null,
            "state": backend.state.map(JSONValue.string) ?? .null,
            "application": backend.application.map(JSONValue.string) ?? .null,
            "transaction_seconds": .seconds(backend.transactionSeconds),
            "query": backend.query.map(JSONValue.string) ?? .null,
        ]
        if !backend.blockedBy.isEmpty {
            object["waiting_for"] = .array(backend.blockedBy.map(JSONValue.int))
            object["wait_seconds"] = .seconds(backend.waitSeconds)
            object["lock_type"] = backend.lockType.map(JSONValue.string) ?? .null
            object["lock_mode"] = backend.lockMode.map(JSONValue.string) ?? .null
            object["relation"] = backend.relation.map(JSONValue.string) ?? .null
        }
        return .object(object)
    }

    func json(_ chain: Chain) -> JSONValue {
        var object: JSONObject = [
            "longest_wait_seconds": .seconds(chain.longestWait),
            "waiting": .array(chain.waiting.map(json)),
            "pids": .array(([chain.culprit] + chain.waiting).map(JSONValue.int)),
        ]
        if let cycle = chain.cycle {
            object["deadlock"] = .array(cycle.map(JSONValue.int))
            object["victim"] = json(chain.culprit)
        } else {
            object["root"] = json(chain.culprit)
        }
        return .object(object)
    }
}
