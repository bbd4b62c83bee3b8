import Foundation
import GRDB
import WardenPluginKit

/// What is failing right now, at a glance: every configured job (also those that have not run
/// yet and disabled ones) with its state, since when, its last and next run and its flags;
/// every rule's budget, cooldown and escalation. Built from the config and the history, so it
/// works whether the daemon runs or not (`warden status`; the status API later).
public struct StatusReport: Sendable {
    public struct Job: Sendable {
        public var name: String
        public var plugin: String
        /// ok, warning, critical, unknown, pending (never ran), disabled.
        public var state: String
        public var since: Date?
        public var lastRunAt: Date?
        public var lastStatus: String?
        public var message: String?
        public var nextRunAt: Date?
        /// flapping, silenced until …, in maintenance, remediating, budget exhausted …, parent failing.
        public var flags: [String]

        public var isFailing: Bool { ["warning", "critical", "unknown"].contains(state) }
    }

    public struct Rule: Sendable {
        public var name: String
        public var budgetUsed: Int
        public var budget: RemediationBudget?
        public var budgetFreesAt: Date?
        public var cooldownLeft: Duration?
        public var escalationLevel: Int
        public var levels: Int
        public var lastRemediationAt: Date?
    }

    public var generatedAt: Date
    /// The running daemon's PID; nil when it is stopped (the state is the last known).
    public var daemonPID: Int32?
    public var jobs: [Job]
    public var rules: [Rule]
    public var lastRunAt: Date? { jobs.compactMap(\.lastRunAt).max() }
    public var failing: Int { jobs.filter(\.isFailing).count }
    public var remediating: Int { jobs.filter { $0.flags.contains("remediating") }.count }

    public static func build(config: WardenConfig, store: HistoryStore, daemonPID: Int32?, now: Date = Date()) throws -> StatusReport {
        let states = try store.reader.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.job, s.last_status, s.last_run_at, s.last_change_at, r.message
                FROM job_state s LEFT JOIN runs r ON r.id = s.last_run_id
                """)
        }
        var byJob: [String: Row] = [:]
        for row in states { byJob[row["job"]] = row }
        let silences = try store.silences(activeAt: now)
        let remediating: Set<String> = daemonPID == nil ? [] : Set(try store.reader.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT job FROM remediations WHERE outcome = 'running'")
        })
        var rules: [Rule] = []
        var exhausted: [String: Date] = [:]
        for rule in config.rules {
            let lookback = max(rule.budget?.window ?? .zero, rule.cooldown, rule.escalateWithin)
            let history = try store.ruleHistory(rule: rule.name, lookback: lookback, now: now)
            let saved = try store.engineState(kind: "rule", name: rule.name)
            let position = saved.flatMap { $0.configHash == rule.stepsHash ? $0.state["position"]?.intValue : nil } ?? 0
            var used = 0
            var freesAt: Date?
            if let budget = rule.budget {
                let start = now.epochMilliseconds - budget.window.milliseconds
                let inWindow = history.uses.filter { $0 > start }
                used = inWindow.count
                if used >= budget.count, let oldest = inWindow.first {
                    freesAt = Date(epochMilliseconds: oldest + budget.window.milliseconds)
                    exhausted[rule.name] = freesAt
                }
            }
            var cooldownLeft: Duration?
            if let last = history.lastRemediationAt {
                let left = last + rule.cooldown.milliseconds - now.epochMilliseconds
                if left > 0 { cooldownLeft = .milliseconds(left) }
            }
            rules.append(Rule(
                name: rule.name, budgetUsed: used, budget: rule.budget, budgetFreesAt: freesAt, cooldownLeft: cooldownLeft,
                escalationLevel: position + 1, levels: rule.levels.count,
                lastRemediationAt: history.lastRemediationAt.map(Date.init(epochMilliseconds:))
            ))
        }

        func state(of job: JobDefinition) -> String {
            guard job.enabled else { return "disabled" }
            guard let status = (byJob[job.name]?["last_status"] as String?).flatMap(RunStatus.init(rawValue:)) else { return "pending" }
            return status.severity?.rawValue ?? "ok"
        }
        let stateByName = Dictionary(config.jobs.map { ($0.name, state(of: $0)) }, uniquingKeysWith: { first, _ in first })
        let slots = TimerSlots(config.jobs, maxConcurrency: config.daemon.maxConcurrency)
        let jobs = try config.jobs.map { job -> Job in
            let row = byJob[job.name]
            var flags: [String] = []
            if let saved = try store.engineState(kind: "job", name: job.name), saved.state["flapping"]?.boolValue == true {
                flags.append("flapping")
            }
            if let silence = silences.first(where: { $0.job.map { Glob.matches($0, job.name) } ?? false }) {
                flags.append("silenced until \(ISOTime.string(silence.until))")
            }
            if job.maintenance.contains(where: { $0.isActive(at: now) }) { flags.append("in maintenance") }
            if remediating.contains(job.name) { flags.append("remediating") }
            for rule in config.rules where rule.applies(to: job.name) {
                if let until = exhausted[rule.name] { flags.append("budget of \(rule.name) exhausted until \(ISOTime.string(until))") }
            }
            for parent in job.dependsOn where ["warning", "critical", "unknown"].contains(stateByName[parent] ?? "") {
                flags.append("parent \(parent) failing")
            }
            var next: Date?
            if job.enabled { next = job.schedule.nextFire(after: now, phase: slots.phase(of: job)) }
            return Job(
                name: job.name, plugin: job.plugin, state: stateByName[job.name] ?? "pending",
                since: (row?["last_change_at"] as Int64?).map(Date.init(epochMilliseconds:)),
                lastRunAt: (row?["last_run_at"] as Int64?).map(Date.init(epochMilliseconds:)),
                lastStatus: row?["last_status"], message: row?["message"], nextRunAt: next, flags: flags
            )
        }
        return StatusReport(generatedAt: now, daemonPID: daemonPID, jobs: jobs, rules: rules)
    }

    /// Before the first run there is no history file: every job is pending (or disabled).
    public static func beforeFirstRun(config: WardenConfig, daemonPID: Int32?, now: Date = Date()) -> StatusReport {
        StatusReport(
            generatedAt: now, daemonPID: daemonPID,
            jobs: config.jobs.map { Job(name: $0.name, plugin: $0.plugin, state: $0.enabled ? "pending" : "disabled", flags: []) },
            rules: config.rules.map { Rule(name: $0.name, budgetUsed: 0, budget: $0.budget, escalationLevel: 1, levels: $0.levels.count) }
        )
    }

    /// The `warden status --json` document (and `GET /api/v1/status`).
    public var json: JSONValue {
        func time(_ date: Date?) -> JSONValue { date.map { .string(ISOTime.string($0)) } ?? .null }
        return [
            "generated_at": time(generatedAt),
            "daemon": ["running": .bool(daemonPID != nil), "pid": daemonPID.map { .int(Int($0)) } ?? .null],
            "summary": [
                "jobs": .int(jobs.count), "failing": .int(failing), "remediating": .int(remediating), "last_run_at": time(lastRunAt),
            ],
            "jobs": .array(jobs.map { job in
                [
                    "name": .string(job.name), "plugin": .string(job.plugin), "state": .string(job.state), "since": time(job.since),
                    "last_run_at": time(job.lastRunAt), "last_status": job.lastStatus.map(JSONValue.string) ?? .null,
                    "message": job.message.map(JSONValue.string) ?? .null, "next_run_at": time(job.nextRunAt),
                    "flags": .array(job.flags.map(JSONValue.string)),
                ]
            }),
            "rules": .array(rules.map { rule in
                [
                    "name": .string(rule.name), "budget_used": .int(rule.budgetUsed),
                    "budget": rule.budget.map { .string($0.description) } ?? "unlimited",
                    "budget_left": rule.budget.map { .int(max(0, $0.count - rule.budgetUsed)) } ?? .null,
                    "budget_frees_at": time(rule.budgetFreesAt),
                    "cooldown_left_seconds": rule.cooldownLeft.map { .double(($0.seconds * 10).rounded() / 10) } ?? .null,
                    "escalation_level": .int(rule.escalationLevel), "levels": .int(rule.levels),
                    "last_remediation_at": time(rule.lastRemediationAt),
                ]
            }),
        ]
    }
}
