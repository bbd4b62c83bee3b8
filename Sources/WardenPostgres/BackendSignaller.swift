import PostgresNIO
import WardenPluginKit

/// Cancels or terminates PostgreSQL backends behind the guards both terminate_query and
/// kill_deadlock promise: never Warden's own backend, never a superuser's unless allowed,
/// at most `maxTargets`, nothing at all in a dry run. Every candidate's fate is reported
/// with its reason, so an operator can see why a session was or was not touched.
struct BackendSignaller {
    enum Mode: String {
        case cancel, terminate
    }

    struct Candidate {
        let pid: Int
        let user: String?
        let isSuperuser: Bool
        /// What the result shows about the session besides its fate.
        let summary: JSONObject
    }

    let mode: Mode
    let allowSuperuser: Bool
    let maxTargets: Int
    let dryRun: Bool

    /// From `mode`, `allow_superuser` and `max_targets`, which each plugin's schema defaults
    /// (the defaults differ: terminate_query cancels, kill_deadlock terminates).
    init(_ parameters: JSONObject, dryRun: Bool) throws {
        guard let mode = Mode(rawValue: try parameters.required("mode", \.stringValue)) else {
            throw PluginError("parameter `mode` must be cancel or terminate")
        }
        self.mode = mode
        allowSuperuser = try parameters.required("allow_superuser", \.boolValue)
        maxTargets = try parameters.required("max_targets", \.intValue)
        self.dryRun = dryRun
    }

    static let guardParameters: JSONObject = [
        "allow_superuser": ["type": "boolean", "default": false, "description": "Also signal sessions of superusers (skipped otherwise)."],
        "max_targets": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 5, "description": "Signal at most this many sessions in one run; the rest are reported as skipped."],
    ]

    struct Report {
        var outcomes: [JSONValue] = []
        var signalled = 0
        var skipped = 0
        var failed = 0

        /// Success only when every session meant to be signalled was: a run whose guards
        /// stopped everything, or whose signals failed, fails so that a rule escalates.
        func result(_ data: JSONValue, summary: String) -> PluginResult {
            guard failed > 0 || signalled == 0 else { return .ok(data, message: summary) }
            let reasons = Set(outcomes.compactMap { $0["reason"]?.stringValue }).sorted().joined(separator: "; ")
            return .failure(reasons.isEmpty ? "nothing was signalled" : reasons, message: summary, data: data)
        }
    }

    /// Decides and (unless dry run) acts, in the candidates' order (most urgent first).
    func apply(to candidates: [Candidate], ownPid: Int, session: PostgresSessionQueries) async throws -> Report {
        var report = Report()
        for candidate in candidates {
            var outcome = candidate.summary
            outcome["pid"] = .int(candidate.pid)
            func skip(_ reason: String) {
                outcome["action"] = "skipped"
                outcome["reason"] = .string(reason)
                report.skipped += 1
            }
            if candidate.pid == ownPid {
                skip("Warden's own backend")
            } else if candidate.isSuperuser && !allowSuperuser {
                skip("a superuser's session (\(candidate.user ?? "?")); set allow_superuser to include it")
            } else if report.signalled >= maxTargets {
                skip("over max_targets (\(maxTargets))")
            } else if dryRun {
                outcome["action"] = .string("would \(mode.rawValue)")
                report.signalled += 1
            } else {
                do {
                    let done = try await signal(candidate.pid, session: session)
                    outcome["action"] = .string(done ? (mode == .cancel ? "cancelled" : "terminated") : "gone")
                    if !done { outcome["reason"] = "the session ended before it was signalled" }
                    report.signalled += 1
                } catch let error as PSQLError where error.code == .server {
                    outcome["action"] = "failed"
                    let message = error.serverInfo?[.message] ?? "server error"
                    outcome["reason"] = .string(error.serverInfo?[.sqlState] == "42501"
                        ? "permission denied: the role needs pg_signal_backend or superuser (\(message))" : message)
                    report.failed += 1
                }
            }
            report.outcomes.append(.object(outcome))
        }
        return report
    }

    /// True when the backend was signalled (and, for terminate, has exited within 5 s).
    private func signal(_ pid: Int, session: PostgresSessionQueries) async throws -> Bool {
        let pid = Int32(clamping: pid)
        let rows: [PostgresRandomAccessRow]
        switch mode {
        case .cancel:
            rows = try await session.rows("SELECT pg_cancel_backend(\(pid)) AS done")
        case .terminate:
            rows = try await session.rows("SELECT pg_terminate_backend(\(pid), 5000) AS done")
        }
        return rows.first?.bool("done") ?? false
    }

    static func ownPid(_ session: PostgresSessionQueries) async throws -> Int {
        try await session.rows("SELECT pg_backend_pid() AS pid").first?.int("pid") ?? 0
    }
}
