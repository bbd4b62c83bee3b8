import Foundation
import Logging
import WardenPluginKit

/// Watches every recorded run, matches the rules' triggers, and runs remediation with the
/// guards that keep a bad hour from becoming a restart storm: silences, maintenance
/// windows, flap detection, dependencies, cooldown, budget, one remediation per rule (and
/// target) at a time, and a global cap. Every decision, including each suppression, is
/// written to the `remediations` table with the state that led to it.
///
/// The guards fail closed: budget use and cooldown are read from the audit trail of the
/// rule's name at each decision, and a remediation runs only once its audit row is written.
/// When either cannot be done, it does not run and the refusal is recorded (or, while the
/// database cannot take even that, kept and logged at error level until it can).
///
/// One engine lives as long as the daemon; a reload `apply`s the new config to it, so a
/// remediation under way finishes, is verified and audited, and nothing else starts on its
/// rule or target meanwhile.
public actor RemediationEngine {
    /// The engine reads and writes SQLite synchronously inside its decisions (so a decision
    /// is atomic); its own queue keeps that blocking off the cooperative pool.
    private nonisolated let queue = DispatchSerialExecutor(label: "warden.remediation")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { queue.asUnownedSerialExecutor() }
    private var config: WardenConfig
    private var registry: PluginRegistry
    private let executor: PluginExecutor
    private let loop: AttemptLoop
    private let store: HistoryStore
    /// Verification runs reach the database through the daemon's writer, as every run does.
    private let writer: HistoryWriter
    private let runLog: RunLog
    private let clock: any RunClock
    private let logger: Logger
    private let slots: ConcurrencyLimiter

    private var jobs: [String: JobDefinition] = [:]
    private var trackers: [String: JobTracker] = [:]
    private var ruleStates: [String: RuleState] = [:]
    /// Rules whose saved escalation state could not be read: retried at each decision, and
    /// until it reads, they do not remediate.
    private var unreadableRules: [String: String] = [:]
    private var busyTargets: Set<String> = []
    private var tasks: [Int: Task<Void, Never>] = [:]
    private var nextTaskID = 0
    /// Audit rows (refusals) the database could not take yet; written as soon as it can.
    private var pendingAudit: [RemediationRecord] = []
    /// Since when each rule's remediations have been suppressed without a break, and whether
    /// people were told (after `daemon.notify_suppressed_after`).
    private var suppressedSince: [String: (since: Date, told: Bool)] = [:]
    /// Remediations waiting for a slot: one per rule at most, so this never binds in practice.
    private static let remediationQueue = 100_000

    /// Decisions counted for `/metrics`; nil in tests that do not look.
    private let metrics: WardenMetrics?

    public init(config: WardenConfig, registry: PluginRegistry, executor: PluginExecutor, store: HistoryStore, writer: HistoryWriter, clock: any RunClock = SystemRunClock(), metrics: WardenMetrics? = nil, logger: Logger) {
        self.writer = writer
        self.metrics = metrics
        self.config = config
        self.registry = registry
        self.executor = executor
        self.loop = AttemptLoop(executor: executor, clock: clock)
        self.store = store
        self.clock = clock
        self.logger = logger
        self.runLog = RunLog(logger: logger)
        self.slots = ConcurrencyLimiter(maxConcurrent: config.daemon.maxConcurrentRemediations, maxQueue: Self.remediationQueue)
        self.jobs = Self.index(config)
    }

    private static func index(_ config: WardenConfig) -> [String: JobDefinition] {
        Dictionary(config.jobs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// At start: remediations the last stop cut off are marked interrupted; job counters and
    /// rule escalation come back from the database.
    public func restore() {
        if let stale = save({ try $0.interruptUnfinishedRemediations(at: clock.now()) }), stale > 0 {
            logger.warning("\(stale) remediations were cut off by the last stop; recorded as interrupted")
        }
        for job in config.jobs {
            trackers[job.name] = loadTracker(job)
        }
        for rule in config.rules {
            loadRuleState(rule)
        }
    }

    /// A reload: the new config's jobs, rules and limits apply from the next run on. Counters
    /// of unchanged jobs and every rule's escalation carry over (escalation restarts when a
    /// rule's steps change); remediations under way are not touched.
    public func apply(_ new: WardenConfig, registry newRegistry: PluginRegistry) {
        config = new
        registry = newRegistry
        jobs = Self.index(new)
        slots.resize(maxConcurrent: new.daemon.maxConcurrentRemediations, maxQueue: Self.remediationQueue)
        var kept: [String: JobTracker] = [:]
        for job in new.jobs {
            if let tracker = trackers[job.name], tracker.configHash == job.configHash, tracker.capacity >= capacity(for: job.name) {
                kept[job.name] = tracker
            } else {
                kept[job.name] = loadTracker(job)
            }
        }
        trackers = kept
        for rule in new.rules {
            guard var state = ruleStates[rule.name] else {
                loadRuleState(rule)
                continue
            }
            if state.stepsHash != rule.stepsHash {
                noteEscalationRestart(rule)
                state.stepsHash = rule.stepsHash
                state.position = 0
                ruleStates[rule.name] = state
                saveRuleState(rule.name)
            }
        }
        let names = Set(new.rules.map(\.name))
        // A removed rule's state goes, unless its last remediation is still running.
        ruleStates = ruleStates.filter { names.contains($0.key) || $0.value.inProgress }
        unreadableRules = unreadableRules.filter { names.contains($0.key) }
    }

    private func noteEscalationRestart(_ rule: RuleDefinition) {
        logger.notice("rule steps changed: escalation restarts at level 1 (budget and cooldown carry over)", metadata: ["rule": .string(rule.name)])
    }

    /// A job's tracker, rebuilt from its recorded runs under its current configuration: the
    /// history is the one record of a job's state, so a restart, a SIGKILL or a manual
    /// `warden run-job` (once the daemon starts) all count, and nothing else is saved per run.
    private func loadTracker(_ job: JobDefinition) -> JobTracker {
        var tracker = JobTracker(configHash: job.configHash, capacity: capacity(for: job.name))
        do {
            for run in try store.recentOutcomes(job: job.name, configHash: job.configHash, limit: tracker.capacity) {
                tracker.record(runID: run.id, at: run.finishedAt, status: run.status, flapHigh: config.daemon.flapHigh, flapLow: config.daemon.flapLow)
            }
            return tracker
        } catch {
            let fresh = JobTracker(configHash: job.configHash, capacity: capacity(for: job.name))
            // Fresh counters mean fewer triggers, never more remediation.
            logger.error("cannot read the job's recorded runs; its failure counters start fresh", metadata: [
                "job": .string(job.name), "error": "\(HistoryStore.describe(error))",
            ])
            return fresh
        }
    }

    /// The rule's escalation position; on a read error the rule is held back until it reads.
    private func loadRuleState(_ rule: RuleDefinition) {
        var state = RuleState(stepsHash: rule.stepsHash)
        do {
            if let saved = try store.engineState(kind: "rule", name: rule.name) {
                state = RuleState(stepsHash: rule.stepsHash, json: saved.state)
                if saved.configHash != rule.stepsHash {
                    if saved.state["steps_hash"] != nil || saved.state["position"]?.intValue ?? 0 > 0 {
                        noteEscalationRestart(rule)
                    }
                    state.position = 0
                }
            }
            unreadableRules[rule.name] = nil
        } catch {
            unreadableRules[rule.name] = HistoryStore.describe(error)
        }
        if let running = ruleStates[rule.name], running.inProgress { state.inProgress = true }
        ruleStates[rule.name] = state
    }

    /// The largest window any rule watching the job needs.
    private func capacity(for job: String) -> Int {
        config.rules.filter { $0.applies(to: job) }.map { rule -> Int in
            switch rule.trigger {
            case .consecutiveFailures(let count): return count
            case .failuresWithinRuns(_, let runs): return runs
            case .failuresWithinTime(let failures, let window):
                // Enough entries to cover the window at the job's own pace.
                guard case .every(let interval)? = jobs[job]?.schedule, interval > .zero else { return max(failures, 1_000) }
                return min(10_000, max(failures, Int(window.milliseconds / interval.milliseconds) + 1))
            case .becameFailing: return 2
            }
        }.max() ?? JobTracker.flapWindow
    }

    // MARK: observing runs

    /// Feeds recorded runs, in order: committed ones with their ids, and while the database
    /// refuses writes, buffered ones without (rules keep evaluating; a remediation still needs
    /// its audit row written). Skipped and interrupted runs say nothing about health.
    public func observe(_ runs: [ObservedRun]) {
        flushPendingAudit()
        for stored in runs where stored.record.status.isOutcome {
            lastRunAt = stored.record.finishedAt
            guard let job = jobs[stored.record.job] else {
                // A job a reload removed while its run was in flight: told, not tracked.
                runLog.note(stored, wasFailing: nil)
                continue
            }
            if case .verification = stored.record.trigger {
                // Tracked by the remediation that ran it; only told here.
                runLog.note(stored, wasFailing: trackers[job.name]?.failing)
                continue
            }
            let previous = track(stored, job: job)
            runLog.note(stored, wasFailing: previous)
            evaluateRules(for: job, run: stored, previouslyFailing: previous)
        }
    }

    /// When the last run the engine saw finished (`STATUS=`: `last run 3s ago`).
    public private(set) var lastRunAt: Date?

    /// Jobs among `names` whose last run failed, by their trackers (`STATUS=`).
    public func failingCount(among names: Set<String>) -> Int {
        trackers.filter { names.contains($0.key) && $0.value.failing == true }.count
    }

    @discardableResult
    private func track(_ stored: ObservedRun, job: JobDefinition) -> Bool? {
        let (flapHigh, flapLow) = (config.daemon.flapHigh, config.daemon.flapLow)
        // Recorded in place: a tracker copied out of the dictionary shares its window of runs,
        // and appending to the copy copied the whole window, every run of every job.
        func record(_ tracker: inout JobTracker) -> (previous: Bool?, wasFlapping: Bool, tracker: JobTracker) {
            let wasFlapping = tracker.flapping
            let previous = tracker.record(runID: stored.id, at: stored.record.finishedAt, status: stored.record.status, flapHigh: flapHigh, flapLow: flapLow)
            return (previous, wasFlapping, tracker)
        }
        let (previous, wasFlapping, tracker) = record(&trackers[job.name, default: JobTracker(configHash: job.configHash, capacity: capacity(for: job.name))])
        if tracker.flapping != wasFlapping {
            let event = NotificationEvent(
                kind: tracker.flapping ? .flappingStarted : .flappingStopped, job: job.name,
                message: String(format: "%.1f%% state changes over the last 21 runs", tracker.flapPercent), runID: stored.id, at: stored.record.finishedAt
            )
            logger.notice("\(tracker.flapping ? "job started flapping" : "job stopped flapping"): \(event.message)", metadata: [
                "job": .string(job.name), "message_id": .string(event.kind.messageID),
            ])
            save { try $0.enqueue(event, route: job.alerting.route) }
        }
        return previous
    }

    private func evaluateRules(for job: JobDefinition, run: ObservedRun, previouslyFailing: Bool?) {
        guard let tracker = trackers[job.name] else { return }
        for rule in config.rules where rule.applies(to: job.name) {
            guard var state = ruleStates[rule.name] else { continue }
            if run.record.status == .ok {
                suppressedSince[rule.name] = nil
                // The job passes again: whatever happened, the next incident starts at level 1.
                if state.position > 0 && !state.inProgress {
                    state.position = 0
                    ruleStates[rule.name] = state
                    saveRuleState(rule.name)
                }
                continue
            }
            // A status the rule does not count (a `warning`, by default) neither triggers it
            // nor continues its streak.
            guard rule.on.contains(run.record.status) else { continue }
            guard let match = rule.trigger.match(counting: rule.on, tracker: tracker, run: run, now: clock.now()) else { continue }
            decide(rule, job: job, run: run, match: match)
        }
    }

    // MARK: deciding

    private func decide(_ rule: RuleDefinition, job: JobDefinition, run: ObservedRun, match: TriggerMatch) {
        guard var state = ruleStates[rule.name], !state.inProgress else { return }
        let now = clock.now()
        let guards: Guards
        do {
            guards = try readGuards(rule, job: job, state: &state, now: now)
        } catch {
            refuse(rule, job: job, trigger: match.description, triggerRuns: match.runs, because: HistoryStore.describe(error), now: now)
            return
        }
        let target = targetKey(rule, job: job, run: run)
        let snapshot = self.snapshot(rule, job: job, state: state, guards: guards, now: now)
        var record = RemediationRecord(rule: rule.name, job: job.name, trigger: match.description, triggerRuns: match.runs, startedAt: now, outcome: .suppressed, state: snapshot.json)

        if let reason = suppression(rule, job: job, state: &state, guards: guards, snapshot: snapshot, target: target, now: now) {
            record.suppressedReason = reason
            record.finishedAt = now
            // The reason's kind (`cooldown`, `silenced`, `budget exhausted`, …): a bounded label.
            metrics?.remediation(rule: rule.name, outcome: "suppressed:" + (reason.split(separator: ":").first.map(String.init) ?? "other"))
            var streak = suppressedSince[rule.name] ?? (now, false)
            let overdue = !streak.told && now.timeIntervalSince(streak.since) >= config.daemon.notifySuppressedAfter.seconds
            let told = overdue ? NotificationEvent(
                kind: .remediationSuppressed, job: job.name, rule: rule.name,
                message: "suppressed for \(Duration.seconds(Int64(now.timeIntervalSince(streak.since))).wardenFormatted) while \(job.name) fails: \(reason)", at: now
            ) : nil
            let id = save { try $0.save(record, notifying: told, route: rule.notify) }
            if overdue { streak.told = true }
            suppressedSince[rule.name] = streak
            logger.notice("remediation suppressed: \(reason)", metadata: [
                "rule": .string(rule.name), "job": .string(job.name), "remediation_id": "\(id ?? 0)",
                "message_id": .string(MessageID.remediationSuppressed),
            ])
            ruleStates[rule.name] = state
            saveRuleState(rule.name)
            return
        }
        suppressedSince[rule.name] = nil
        state.position = Escalation.startLevel(position: state.position, lastRemediationAt: guards.history.lastRemediationAt, escalateWithin: rule.escalateWithin, now: now)
        state.inProgress = true
        ruleStates[rule.name] = state
        busyTargets.insert(target)
        let (trigger, level) = (record, state.position)
        track { await self.remediate(rule, job: job, run: run, record: trigger, level: level, target: target) }
    }

    /// Runs `work` as one of the engine's tasks: counted as active, awaited by `drain`, and
    /// cancelled by it past the shutdown grace.
    private func track(_ work: @escaping @Sendable () async -> Void) {
        let taskID = nextTaskID
        nextTaskID += 1
        tasks[taskID] = Task {
            await work()
            self.finished(taskID)
        }
    }

    private func finished(_ taskID: Int) {
        tasks[taskID] = nil
    }

    /// What the guards need from the database, read fresh for each decision.
    struct Guards {
        var silence: Silence?
        var history: RuleHistory
    }

    /// Reads silences and the rule's spending; throws when any of it cannot be read. A
    /// `warden rule reset` newer than the last one seen also restarts escalation.
    private func readGuards(_ rule: RuleDefinition, job: JobDefinition, state: inout RuleState, now: Date) throws -> Guards {
        if unreadableRules[rule.name] != nil {
            loadRuleState(rule)
            if let reason = unreadableRules[rule.name] { throw GuardStateError(reason: "cannot read the rule's escalation state: \(reason)") }
            state = ruleStates[rule.name] ?? state
        }
        let silence = try store.silences(activeAt: now).first { $0.covers(job: job.name, rule: rule.name) }
        let lookback = max(rule.budget?.window ?? .zero, rule.cooldown, rule.escalateWithin)
        let history = try store.ruleHistory(rule: rule.name, lookback: lookback, now: now)
        if let reset = history.lastReset, reset.id != state.resetSeen {
            logger.notice("rule reset: budget, cooldown and escalation start over", metadata: [
                "rule": .string(rule.name), "reason": .string(reset.reason), "reset_id": "\(reset.id)",
            ])
            state.resetSeen = reset.id
            state.position = 0
            state.exhausted = false
            ruleStates[rule.name] = state
            saveRuleState(rule.name)
        }
        return Guards(silence: silence, history: history)
    }

    struct GuardStateError: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// Fail closed: the remediation does not run, and the refusal is recorded. When even that
    /// cannot be written it is kept for the next write and logged at error level now.
    private func refuse(_ rule: RuleDefinition, job: JobDefinition, trigger: String, triggerRuns: [Int64], because detail: String, now: Date) {
        metrics?.remediation(rule: rule.name, outcome: "suppressed:guard state unavailable")
        let reason = "guard state unavailable: \(detail)"
        var record = RemediationRecord(rule: rule.name, job: job.name, trigger: trigger, triggerRuns: triggerRuns, startedAt: now, outcome: .suppressed, state: [
            "mode": .string(config.daemon.remediation.rawValue), "guard_state": "unavailable",
        ])
        record.suppressedReason = reason
        record.finishedAt = now
        var metadata: Logger.Metadata = [
            "rule": .string(rule.name), "job": .string(job.name), "reason": .string(reason),
            "message_id": .string(MessageID.guardStateUnavailable),
        ]
        do {
            metadata["remediation_id"] = "\(try store.save(record))"
            logger.error("remediation refused: its guards cannot be checked or its audit row written", metadata: metadata)
        } catch {
            pendingAudit.append(record)
            metadata["pending_audit_rows"] = "\(pendingAudit.count)"
            logger.error("remediation refused: its guards cannot be checked or its audit row written; the refusal is recorded once the database takes writes again", metadata: metadata)
        }
    }

    /// Writes refusals the database could not take earlier, oldest first.
    private func flushPendingAudit() {
        while let record = pendingAudit.first {
            do { try store.save(record) } catch { return }
            pendingAudit.removeFirst()
        }
    }

    struct Snapshot {
        var json: JSONValue
        var silence: Silence?
        var window: MaintenanceWindow?
        var failingParent: String?
        var flapPercent: Double
        var flapping: Bool
    }

    private func snapshot(_ rule: RuleDefinition, job: JobDefinition, state: RuleState, guards: Guards, now: Date) -> Snapshot {
        let silence = guards.silence
        let window = config.maintenance.first { $0.covers(job: job.name, rule: rule.name) && $0.isActive(at: now) }
        let tracker = trackers[job.name]
        let parents = job.dependsOn.map { ($0, trackers[$0]?.failing == true) }
        let used = rule.budget.map { guards.history.used(within: $0.window, at: now) } ?? guards.history.uses.count
        let json: JSONValue = [
            "mode": .string(config.daemon.remediation.rawValue),
            "dry_run": .bool(rule.dryRun || config.daemon.remediation == .dryRun),
            "consecutive_failures": .int(tracker?.consecutiveFailures ?? 0),
            "cooldown": [
                "seconds": .double(rule.cooldown.seconds),
                "last_remediation": guards.history.lastRemediationAt.map { .string(Self.iso(Date(epochMilliseconds: $0))) } ?? .null,
            ],
            "budget": rule.budget.map { ["limit": .string($0.description), "used": .int(used)] } ?? .null,
            "flap": ["percent": .double(((tracker?.flapPercent ?? 0) * 10).rounded() / 10), "flapping": .bool(tracker?.flapping ?? false)],
            "parents": .object(Dictionary(parents.map { ($0.0, JSONValue.string($0.1 ? "failing" : "ok")) }, uniquingKeysWith: { a, _ in a })),
            "silence": silence.map { ["id": .int(Int($0.id)), "reason": .string($0.reason), "until": .string(Self.iso($0.until))] } ?? .null,
            "maintenance": window.map { .string($0.name) } ?? .null,
            "escalation_level": .int(state.position + 1),
            "last_reset": guards.history.lastReset.map { ["id": .int(Int($0.id)), "reason": .string($0.reason), "at": .string(Self.iso($0.at))] } ?? .null,
        ]
        return Snapshot(json: json, silence: silence, window: window, failingParent: parents.first { $0.1 }?.0,
                        flapPercent: tracker?.flapPercent ?? 0, flapping: tracker?.flapping ?? false)
    }

    /// Why this remediation must not run now, or nil. The decision is `GuardCheck`'s; what
    /// the first exhaustion of a budget sets off (the error line, `budget_exhausted`,
    /// `on_exhausted`) is the engine's.
    private func suppression(_ rule: RuleDefinition, job: JobDefinition, state: inout RuleState, guards: Guards, snapshot: Snapshot, target: String, now: Date) -> String? {
        let check = GuardCheck(
            mode: config.daemon.remediation, silence: snapshot.silence, maintenanceWindow: snapshot.window?.name,
            flapping: snapshot.flapping, flapPercent: snapshot.flapPercent, failingParent: snapshot.failingParent,
            target: target, targetBusy: busyTargets.contains(target), lastRemediationAt: guards.history.lastRemediationAt,
            cooldown: rule.cooldown, now: now
        )
        if let suppression = check.suppression() { return suppression.reason }
        return budgetExhausted(rule, state: &state, history: guards.history, job: job, now: now)
    }

    /// The budget guard, also on its own: an escalation is the same incident (no cooldown)
    /// but still spends budget.
    private func budgetExhausted(_ rule: RuleDefinition, state: inout RuleState, history: RuleHistory, job: JobDefinition, now: Date) -> String? {
        guard let budget = rule.budget else { return nil }
        let used = history.used(within: budget.window, at: now)
        metrics?.budgetRemaining(rule: rule.name, max(0, budget.count - used))
        let check = GuardCheck(mode: .on, target: "", budget: (budget.count, budget.description), budgetUsed: used, now: now)
        guard let suppression = check.suppression() else {
            state.exhausted = false
            return nil
        }
        if !state.exhausted { budgetFirstExhausted(rule, job: job, used: used) }
        state.exhausted = true
        return suppression.reason
    }

    /// The first time a budget runs out: said loudly, told, and `on_exhausted` runs once.
    private func budgetFirstExhausted(_ rule: RuleDefinition, job: JobDefinition, used: Int) {
        guard let budget = rule.budget else { return }
        logger.error("remediation budget exhausted: no more remediation until the window frees up", metadata: [
            "rule": .string(rule.name), "job": .string(job.name), "budget": .string(budget.description),
            "message_id": .string(MessageID.budgetExhausted),
        ])
        let told = event(.budgetExhausted, rule: rule, job: job, message: "\(used) of \(budget.description) used; \(job.name) is left to a human")
        save { try $0.enqueue(told, route: rule.notify) }
        if let step = rule.onExhausted {
            let context = TemplateContext(jobName: job.name, jobParams: job.parameters, ruleName: rule.name, run: nil)
            track { _ = await self.runStep(step, context: context, job: job, dryRun: false) }
        }
    }

    private func targetKey(_ rule: RuleDefinition, job: JobDefinition, run: ObservedRun) -> String {
        guard let template = rule.targetKey else { return "rule:" + rule.name }
        let context = TemplateContext(jobName: job.name, jobParams: job.parameters, ruleName: rule.name, run: (run.id, run.record.result))
        switch Template.render(.string(template), context) {
        case .success(let value): return value.stringValue ?? value.jsonText()
        case .failure: return "rule:" + rule.name
        }
    }

    // MARK: remediating

    private func remediate(_ rule: RuleDefinition, job: JobDefinition, run: ObservedRun, record initial: RemediationRecord, level start: Int, target: String) async {
        defer {
            busyTargets.remove(target)
            ruleStates[rule.name]?.inProgress = false
            saveRuleState(rule.name)
        }
        guard await slots.acquire() == .granted else { return }
        defer { slots.release() }
        let dryRun = rule.dryRun || config.daemon.remediation == .dryRun
        let context = TemplateContext(jobName: job.name, jobParams: job.parameters, ruleName: rule.name, run: (run.id, run.record.result))
        var level = min(start, rule.levels.count - 1)
        var record = initial
        while true {
            let now = clock.now()
            guard var state = ruleStates[rule.name] else { return }
            if level != start {
                // Escalation after a failed verification is the same incident (no cooldown),
                // but it still spends budget, read again from the audit trail.
                let guards: Guards
                do {
                    guards = try readGuards(rule, job: job, state: &state, now: now)
                } catch {
                    refuse(rule, job: job, trigger: "escalation after a failed verification", triggerRuns: record.triggerRuns, because: HistoryStore.describe(error), now: now)
                    return
                }
                if let reason = budgetExhausted(rule, state: &state, history: guards.history, job: job, now: now) {
                    var suppressed = RemediationRecord(rule: rule.name, job: job.name, trigger: "escalation after a failed verification", triggerRuns: record.triggerRuns, startedAt: now, outcome: .suppressed, state: snapshot(rule, job: job, state: state, guards: guards, now: now).json)
                    suppressed.suppressedReason = reason
                    suppressed.finishedAt = now
                    save { try $0.save(suppressed) }
                    ruleStates[rule.name] = state
                    return
                }
                // The guards' state as it was when this remediation was decided, before it counts.
                record.state = snapshot(rule, job: job, state: state, guards: guards, now: now).json
                ruleStates[rule.name] = state
            }

            record.startedAt = now
            record.step = level + 1
            record.dryRun = dryRun
            let action = rule.levels[level].action
            record.plugin = action.plugin
            record.outcome = dryRun ? .dryRun : .running
            // The audit row is the budget's ledger: nothing runs before it is written.
            do {
                record.id = try store.save(record)
            } catch {
                refuse(rule, job: job, trigger: record.trigger, triggerRuns: record.triggerRuns, because: "cannot write the audit row: \(HistoryStore.describe(error))", now: now)
                return
            }

            // Diagnostics first: their results travel with the remediation record.
            var gathered: [JSONValue] = []
            for step in rule.levels[level].context {
                let outcome = await runStep(step, context: context, job: job, dryRun: false)
                gathered.append(["plugin": .string(step.plugin), "params": outcome.parameters, "result": outcome.result.json])
            }
            record.context = gathered.isEmpty ? nil : .array(gathered)

            let prepared = prepare(action, context: context, job: job)
            if case .success(let ready) = prepared {
                // Its parameters are on record before it runs: a crash mid-remediation still
                // leaves what was attempted.
                record.parameters = ready.shown
                save { try $0.save(record) }
            }
            logger.notice(dryRun ? "remediation dry run started" : "remediation started", metadata: [
                "rule": .string(rule.name), "job": .string(job.name), "plugin": .string(action.plugin),
                "step": .stringConvertible(level + 1), "remediation_id": "\(record.id ?? 0)",
                "message_id": .string(MessageID.remediationStarted),
            ])
            let outcome = await execute(prepared, job: job, rule: rule.name, dryRun: dryRun)
            record.parameters = outcome.parameters
            record.finishedAt = clock.now()
            record.message = outcome.result.message
            record.error = outcome.result.error
            record.data = outcome.result.data
            record.outcome = dryRun ? .dryRun : Self.outcome(outcome.attempt)
            metrics?.remediation(rule: rule.name, outcome: record.outcome.rawValue)
            logger.notice(dryRun ? "remediation dry run finished" : "remediation finished", metadata: [
                "rule": .string(rule.name), "job": .string(job.name), "plugin": .string(action.plugin),
                "step": .stringConvertible(level + 1), "outcome": .string(record.outcome.rawValue),
                "remediation_id": "\(record.id ?? 0)", "message_id": .string(MessageID.remediationFinished),
            ])
            if dryRun || !rule.verify || outcome.attempt == .interrupted || Task.isCancelled {
                record.verification = .skipped
                let failed = !dryRun && outcome.attempt != .ok && outcome.attempt != .interrupted
                save { try $0.save(record, notifying: failed ? event(.remediationFailed, rule: rule, job: job, message: "step \(level + 1) (\(action.plugin)): \(outcome.result.error ?? outcome.result.message)") : nil, route: rule.notify) }
                // A dry run changes nothing, so the ladder does not climb; an unverified step climbs.
                ruleStates[rule.name]?.position = Escalation.position(after: level, of: rule.levels.count, fixed: dryRun)
                return
            }
            record.id = save { try $0.save(record) } ?? record.id

            // Verification: the job's own diagnostic, after a short delay.
            do { try await clock.sleep(for: rule.verifyAfter) } catch { return }
            guard let diagnostic = registry.lookup(job.plugin) else {
                // Its plugin left with a reload: nothing can prove or disprove the fix.
                record.verification = .skipped
                save { try $0.save(record) }
                return
            }
            let check = await loop.run(job, plugin: diagnostic, trigger: .verification(of: record.id ?? 0),
                                       scheduledAt: clock.now(), nextTick: nil, logger: logger)
            // Through the writer, like every run: one path to the database.
            let checkID = await writer.commit(check)
            if let checkID { track(ObservedRun(id: checkID, record: check), job: job) }
            let passed = check.status == .ok
            record.verificationRunID = checkID
            record.verification = passed ? .passed : .failed
            let told = event(passed ? .remediationVerified : .remediationNotVerified, rule: rule, job: job,
                             message: "step \(level + 1) (\(action.plugin)): \(passed ? "the job passes again" : "the job still fails: \(check.message)")")
            save { try $0.save(record, notifying: told, route: rule.notify) }
            logger.notice(passed ? "remediation verified: the job passes again" : "remediation did not fix the job", metadata: [
                "rule": .string(rule.name), "job": .string(job.name), "step": .stringConvertible(level + 1),
                "remediation_id": "\(record.id ?? 0)", "run_id": "\(checkID ?? 0)",
            ])
            if passed {
                ruleStates[rule.name]?.position = 0
                return
            }
            guard level + 1 < rule.levels.count else {
                ruleStates[rule.name]?.position = level
                return
            }
            level += 1
            record = RemediationRecord(rule: rule.name, job: job.name, trigger: "escalation: step \(level) did not fix the job (verification run \(checkID.map(String.init) ?? "?") failed)", triggerRuns: initial.triggerRuns + (checkID.map { [$0] } ?? []), startedAt: clock.now(), outcome: .running, state: .null)
        }
    }

    struct StepOutcome {
        var parameters: JSONValue
        var result: PluginResult
        var attempt: AttemptOutcome
    }

    struct PreparedStep {
        var entry: RegisteredPlugin
        var parameters: JSONObject
        /// The parameters as they may be stored and logged: secrets redacted.
        var shown: JSONValue
        var timeout: Duration?
        /// The job's and the step's resolved secrets, scrubbed from whatever the step returns.
        var secrets: [String]
    }

    /// Renders and validates a step; a template that does not resolve or a parameter the
    /// plugin refuses is a failed step, recorded like any other.
    private func prepare(_ step: RuleStep, context: TemplateContext, job: JobDefinition) -> Result<PreparedStep, StepFailure> {
        let secrets = job.secretValues + step.secretValues
        guard let entry = registry.lookup(step.plugin) else {
            return .failure(StepFailure(parameters: step.parameters.redactingOccurrences(of: secrets), message: "plugin `\(step.plugin)` is not registered"))
        }
        let rendered: JSONValue
        switch Template.render(step.parameters, context) {
        case .success(let value): rendered = value
        case .failure(let failure):
            let unrendered = JSONValue.object(entry.redacted(step.parameters.objectValue ?? [:])).redactingOccurrences(of: secrets)
            return .failure(StepFailure(parameters: unrendered, message: failure.description.redactingOccurrences(of: secrets)))
        }
        let shown = JSONValue.object(entry.redacted(rendered.objectValue ?? [:])).redactingOccurrences(of: secrets)
        switch entry.validate(rendered.objectValue ?? [:]) {
        case .success(let validated):
            // The allow-lists in force now (a reload may have narrowed them), dry runs included.
            if let violation = AllowLists.violations(entry, parameters: validated, limits: executor.limits).first {
                return .failure(StepFailure(parameters: shown, message: violation.message(plugin: step.plugin).redactingOccurrences(of: secrets)))
            }
            return .success(PreparedStep(entry: entry, parameters: validated, shown: shown, timeout: step.timeout, secrets: secrets))
        case .failure(let error):
            return .failure(StepFailure(parameters: shown, message: "invalid parameters for `\(step.plugin)`: \(error.description.redactingOccurrences(of: secrets))"))
        }
    }

    struct StepFailure: Error {
        var parameters: JSONValue
        var message: String
    }

    private func execute(_ prepared: Result<PreparedStep, StepFailure>, job: JobDefinition, rule: String, dryRun: Bool) async -> StepOutcome {
        let step: PreparedStep
        switch prepared {
        case .success(let ready): step = ready
        case .failure(let failure):
            return StepOutcome(parameters: failure.parameters, result: .failure(failure.message, severity: .unknown), attempt: .unknown)
        }
        if dryRun {
            return StepOutcome(parameters: step.shown, result: .ok(message: "dry run: `\(step.entry.spec.name)` not executed"), attempt: .ok)
        }
        let execution = await executor.execute(
            step.entry, parameters: step.parameters, timeout: step.timeout ?? job.timeout, additionalSecrets: step.secrets,
            logger: executor.pluginLogger(for: step.entry, metadata: ["job": .string(job.name), "rule": .string(rule)])
        )
        return StepOutcome(parameters: step.shown, result: execution.result, attempt: execution.outcome)
    }

    private func runStep(_ step: RuleStep, context: TemplateContext, job: JobDefinition, dryRun: Bool) async -> StepOutcome {
        await execute(prepare(step, context: context, job: job), job: job, rule: context.ruleName, dryRun: dryRun)
    }

    /// An action's audit outcome: it reported failure (`failed`, whatever severity it gave),
    /// or could not be carried out (`error`: it threw, crashed, or its parameters were invalid).
    static func outcome(_ attempt: AttemptOutcome) -> RemediationRecord.Outcome {
        switch attempt {
        case .ok: return .ok
        case .warning, .critical: return .failed
        case .timeout: return .timeout
        case .unknown: return .error
        case .interrupted: return .interrupted
        }
    }

    // MARK: bookkeeping

    /// Waits for every remediation (and its verification) to finish.
    public func waitUntilIdle() async {
        while let task = tasks.values.first {
            await task.value
        }
    }

    /// Cancels remediations still going (shutdown past its grace); they record `interrupted`.
    public func cancelAll() {
        tasks.values.forEach { $0.cancel() }
    }

    /// Shutdown: waits for remediations under way (and their verification) up to `grace`,
    /// then cancels what is left and waits for it to record `interrupted`.
    public func drain(grace: Duration) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                do { try await Task.sleep(for: grace) } catch { return }
                await self.cancelAll()
            }
            await waitUntilIdle()
            group.cancelAll()
        }
    }

    private func saveRuleState(_ name: String) {
        guard let state = ruleStates[name] else { return }
        save { try $0.saveEngineState(kind: "rule", name: name, configHash: state.stepsHash, state: state.json) }
    }

    @discardableResult
    private func save<T>(_ body: (HistoryStore) throws -> T) -> T? {
        do {
            return try body(store)
        } catch {
            logger.error("saving remediation state failed", metadata: ["error": "\(HistoryStore.describe(error))"])
            return nil
        }
    }

    private func event(_ kind: NotificationEvent.Kind, rule: RuleDefinition, job: JobDefinition, message: String) -> NotificationEvent {
        NotificationEvent(kind: kind, job: job.name, rule: rule.name, message: message, at: clock.now())
    }

    static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    // MARK: for tests and status

    public func consecutiveFailures(of job: String) -> Int { trackers[job]?.consecutiveFailures ?? 0 }
    /// Remediations the rule has run within its budget window (all since its last reset
    /// without a budget), from the audit trail.
    public func budgetUsed(by name: String) -> Int {
        guard let rule = config.rules.first(where: { $0.name == name }) else { return 0 }
        let window = rule.budget?.window ?? .seconds(86_400 * 365 * 100)
        return (try? store.ruleHistory(rule: name, lookback: window, now: clock.now()).used(within: window, at: clock.now())) ?? 0
    }
    public func escalationLevel(of rule: String) -> Int { (ruleStates[rule]?.position ?? 0) + 1 }
    public func isFlapping(_ job: String) -> Bool { trackers[job]?.flapping ?? false }
    /// Remediations under way (for `STATUS=`).
    public var activeCount: Int { tasks.count }
}

extension RunRecord {
    /// The plugin result this run ended with, as templates and expectations see it.
    var result: PluginResult {
        PluginResult(success: status == .ok, data: data, message: message, error: error, retry: retry)
    }
}
