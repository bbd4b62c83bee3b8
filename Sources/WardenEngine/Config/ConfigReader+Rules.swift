import Foundation
import WardenPluginKit
import Yams

/// `expect:`, `depends_on:`, `rules:` and `maintenance:`.
extension ConfigReader {
    static let ruleKeys = [
        "name", "when", "on", "notify", "then", "verify", "verify_after", "escalate_within", "cooldown", "budget", "on_exhausted",
        "dry_run", "target",
    ]
    static let whenKeys = ["job", "consecutive_failures", "failures", "within", "to"]
    static let stepKeys = ["plugin", "params", "timeout"]
    static let maintenanceKeys = ["name", "jobs", "rules", "cron", "duration", "from", "until"]

    mutating func readExpectations(_ node: Node, job label: String) -> [Expectation] {
        let items: [Node]
        if case .sequence(let sequence) = node {
            items = Array(sequence)
        } else {
            items = [node]
        }
        var expectations: [Expectation] = []
        for entry in items {
            // A condition, or `{condition: …, severity: warning|critical|unknown}`.
            var item = entry
            var severity = Severity.critical
            if case .mapping = entry, let pairs = mapping(entry, what: "\(label): expect") {
                checkKeys(pairs, allowed: ["condition", "severity"], in: "an `expect:` entry")
                guard let condition = pairs.value(for: "condition") else {
                    problem(at: entry, "\(label): expect: an entry needs `condition:`")
                    continue
                }
                item = condition
                if let node = pairs.value(for: "severity") {
                    guard let text = node.string, let parsed = Severity(rawValue: text) else {
                        problem(at: node, "\(label): expect severity: expected warning, critical or unknown, got \(describe(node))")
                        continue
                    }
                    severity = parsed
                }
            }
            guard case .scalar(let scalar) = item, let text = string(item, what: "\(label): expect") else { continue }
            do {
                var expectation = try Expectation(text)
                expectation.severity = severity
                expectations.append(expectation)
            } catch {
                // Point at the character: a quoted scalar starts one column after its mark.
                var location = location(of: item)
                location.column += error.offset + (scalar.style == .plain ? 0 : 1)
                problems.append(ConfigProblem(location: location, message: "\(label): expect `\(text)`: \(error.message)"))
            }
        }
        return expectations
    }

    /// Every `depends_on` names a job, and there are no cycles.
    mutating func checkDependencies(_ jobs: [JobDefinition], in node: Node) {
        let byName = Dictionary(jobs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for job in jobs {
            for parent in job.dependsOn where byName[parent] == nil {
                let hint = NameSuggester.nearest(to: parent, among: byName.keys).map { " — did you mean `\($0)`?" } ?? ""
                problems.append(ConfigProblem(location: job.location, message: "job `\(job.name)`: depends_on names unknown job `\(parent)`\(hint)"))
            }
        }
        var reported = Set<String>()
        for job in jobs {
            // Depth-first from each job; a path that comes back to a job on it is a loop.
            var stack: [(name: String, path: [String])] = [(job.name, [job.name])]
            while let (name, path) = stack.popLast() {
                for parent in byName[name]?.dependsOn ?? [] {
                    if parent == job.name {
                        let loop = (path + [parent])
                        if reported.insert(Set(loop).sorted().joined(separator: ",")).inserted {
                            problems.append(ConfigProblem(location: job.location, message: "depends_on loop: \(loop.joined(separator: " → "))"))
                        }
                    } else if !path.contains(parent) {
                        stack.append((parent, path + [parent]))
                    }
                }
            }
        }
    }

    // MARK: rules

    mutating func readRules(_ node: Node, jobs: [JobDefinition]) -> [RuleDefinition] {
        if isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            problem(at: node, "`rules` must be a list of rules (`- name: …`), got \(describe(node))")
            return []
        }
        var rules: [RuleDefinition] = []
        var seen: [String: ConfigLocation] = [:]
        for item in sequence {
            guard let rule = readRule(item, jobs: jobs) else { continue }
            if let first = seen[rule.name] {
                problem(at: item, "duplicate rule name `\(rule.name)`: already defined at \(first)")
                continue
            }
            seen[rule.name] = rule.location
            rules.append(rule)
        }
        return rules
    }

    mutating func readRule(_ node: Node, jobs: [JobDefinition]) -> RuleDefinition? {
        guard let pairs = mapping(node, what: "a rule") else { return nil }
        let before = problems.count
        checkKeys(pairs, allowed: Self.ruleKeys, in: "a rule")
        var name = "?"
        if let value = pairs.value(for: "name"), let text = string(value, what: "the rule name") {
            if PluginSpec.isValidName(text) { name = text } else { problem(at: value, "invalid rule name `\(ConfigReader.excerpt(text))`: use lowercase letters, digits, `_`, `.` and `-`, at most \(PluginSpec.maximumNameLength) bytes") }
        } else if pairs.value(for: "name") == nil {
            problem(at: node, "a rule needs a `name`")
        }
        let label = "rule `\(name)`"

        var pattern = ""
        var trigger: RuleTrigger?
        var matching: [JobDefinition] = []
        if let when = pairs.value(for: "when") {
            (pattern, trigger) = readWhen(when, rule: label)
            matching = jobs.filter { Glob.matches(pattern, $0.name) }
            if !pattern.isEmpty && matching.isEmpty {
                let hint = NameSuggester.nearest(to: pattern, among: jobs.map(\.name)).map { " — did you mean `\($0)`?" } ?? ""
                problem(at: when, "\(label): `when.job: \(pattern)` matches no job\(hint)")
            }
        } else {
            problem(at: node, "\(label) needs `when:` (a job and a trigger such as `consecutive_failures: 3`)")
        }

        var levels: [EscalationLevel] = []
        if let then = pairs.value(for: "then") {
            levels = readSteps(then, rule: label, matching: matching)
        } else {
            problem(at: node, "\(label) needs `then:`, a list of steps with at least one remediation plugin")
        }

        var rule = RuleDefinition(
            name: name, jobPattern: pattern, trigger: trigger ?? .becameFailing, levels: levels, verify: true,
            verifyAfter: .seconds(5), escalateWithin: .seconds(3600), cooldown: RuleDefinition.defaultCooldown,
            budget: RuleDefinition.defaultBudget, onExhausted: nil,
            dryRun: false, targetKey: nil, configHash: "", location: location(of: node)
        )
        for (key, _, value) in pairs {
            let what = "\(label): \(key)"
            switch key {
            case "verify":
                if let flag = boolean(value, what: what) { rule.verify = flag }
            case "verify_after":
                if let parsed = duration(value, what: what, positive: false) { rule.verifyAfter = parsed }
            case "escalate_within":
                if let parsed = duration(value, what: what, positive: true) { rule.escalateWithin = parsed }
            case "cooldown":
                if let parsed = duration(value, what: what, positive: false) {
                    rule.cooldown = parsed
                    if parsed == .zero {
                        warnings.append(ConfigProblem(location: location(of: value), message: "\(label): `cooldown: 0s` lets a failing job trigger a remediation on every run; the default is \(RuleDefinition.defaultCooldown.wardenFormatted)"))
                    }
                }
            case "budget":
                if value.string == "unlimited" {
                    rule.budget = nil
                    warnings.append(ConfigProblem(location: location(of: value), message: "\(label): `budget: unlimited` sets no cap on remediations; the default is \(RuleDefinition.defaultBudget.description)"))
                } else {
                    rule.budget = readBudget(value, what: what)
                }
            case "on":
                // Which run statuses count: `on: [warning, critical]` widens the default.
                let words = value.string.map { [$0] } ?? stringList(value, what: what) ?? []
                var statuses = Set<RunStatus>()
                for word in words {
                    if let status = RunStatus(rawValue: word), RunStatus.failing.contains(status) {
                        statuses.insert(status)
                    } else {
                        problem(at: value, "\(what): `\(word)` is not a failing status: expected any of warning, critical, unknown, timeout")
                    }
                }
                if !statuses.isEmpty { rule.on = statuses }
            case "notify":
                rule.notify = readRoute(value, what: "\(label): notify", notifiers: notifiers)
            case "on_exhausted":
                rule.onExhausted = readStep(value, rule: label, matching: matching)
            case "dry_run":
                if let flag = boolean(value, what: what) { rule.dryRun = flag }
            case "target":
                if let text = string(value, what: what) {
                    if let issue = Template.check(.string(text)) { problem(at: value, "\(label): target: \(issue)") }
                    rule.targetKey = text
                }
            default:
                break
            }
        }
        if !pairs.contains(where: { $0.key == "notify" }) { rule.notify = daemon.notify }
        guard problems.count == before, trigger != nil else { return nil }
        let hashed: JSONValue = [
            "name": .string(name), "job": .string(pattern), "trigger": .string(rule.trigger.description),
            "on": .array(rule.on.map(\.rawValue).sorted().map(JSONValue.string)),
            "steps": .array(levels.flatMap { $0.context + [$0.action] }.map { ["plugin": .string($0.plugin), "params": $0.parameters] }),
            "verify": .bool(rule.verify), "verify_after": .int(Int(rule.verifyAfter.milliseconds)),
            "escalate_within": .int(Int(rule.escalateWithin.milliseconds)), "cooldown": .int(Int(rule.cooldown.milliseconds)),
            "budget": .string(rule.budget?.description ?? ""), "dry_run": .bool(rule.dryRun), "target": .string(rule.targetKey ?? ""),
            "on_exhausted": .string(rule.onExhausted.map { $0.plugin + $0.parameters.jsonText() } ?? ""),
        ]
        rule.configHash = String(format: "%016llx", StableHash.fnv1a(hashed.jsonText()))
        return rule
    }

    mutating func readWhen(_ node: Node, rule label: String) -> (String, RuleTrigger?) {
        guard let pairs = mapping(node, what: "\(label): when") else { return ("", nil) }
        checkKeys(pairs, allowed: Self.whenKeys, in: "`when`")
        var pattern = ""
        if let value = pairs.value(for: "job"), let text = string(value, what: "\(label): when.job") {
            pattern = text
        } else if pairs.value(for: "job") == nil {
            problem(at: node, "\(label): `when` needs `job:` (a job name or a glob such as `web-*`)")
        }
        let consecutive = pairs.value(for: "consecutive_failures")
        let failures = pairs.value(for: "failures")
        let within = pairs.value(for: "within")
        let to = pairs.value(for: "to")
        let forms = [consecutive != nil, failures != nil, to != nil].filter { $0 }.count
        guard forms == 1 else {
            problem(at: node, "\(label): `when` needs exactly one trigger: `consecutive_failures: N`, `failures: X` with `within: Y` (runs) or `within: 10m`, or `to: failing`")
            return (pattern, nil)
        }
        if let consecutive {
            guard let count = integer(consecutive, what: "\(label): when.consecutive_failures", in: 1...10_000) else { return (pattern, nil) }
            return (pattern, .consecutiveFailures(count))
        }
        if let to {
            guard string(to, what: "\(label): when.to") == "failing" else {
                problem(at: to, "\(label): when.to: expected `failing`")
                return (pattern, nil)
            }
            return (pattern, .becameFailing)
        }
        guard let failures, let count = integer(failures, what: "\(label): when.failures", in: 1...10_000) else { return (pattern, nil) }
        guard let within else {
            problem(at: node, "\(label): `failures: \(count)` needs `within:` — a number of runs (5) or a duration (10m)")
            return (pattern, nil)
        }
        if within.tagName == .int, let runs = within.int {
            guard runs >= count, runs <= 1_000 else {
                problem(at: within, "\(label): when.within: expected a number of runs from \(count) (the failures) to 1000, got \(runs)")
                return (pattern, nil)
            }
            return (pattern, .failuresWithinRuns(failures: count, runs: runs))
        }
        guard let window = duration(within, what: "\(label): when.within", positive: true) else { return (pattern, nil) }
        return (pattern, .failuresWithinTime(failures: count, window: window))
    }

    mutating func readBudget(_ node: Node, what: String) -> RemediationBudget? {
        guard let text = string(node, what: what) else { return nil }
        let parts = text.split(separator: " ").map(String.init)
        guard parts.count == 3, parts[1] == "per", let count = Int(parts[0]), count > 0,
              let window = try? DurationText.parse(parts[2]), window > .zero else {
            problem(at: node, "\(what): expected `N per DURATION` (e.g. `3 per 1h`) or `unlimited`, got `\(text)`")
            return nil
        }
        return RemediationBudget(count: count, window: window)
    }

    /// Groups the steps into escalation levels: each remediation step with the diagnostic
    /// steps listed before it (trailing diagnostics join the last level).
    mutating func readSteps(_ node: Node, rule label: String, matching: [JobDefinition]) -> [EscalationLevel] {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            problem(at: node, "\(label): `then` must be a list of steps (`- plugin: …`)")
            return []
        }
        var levels: [EscalationLevel] = []
        var pending: [RuleStep] = []
        var unreadable = false
        for item in sequence {
            guard let step = readStep(item, rule: label, matching: matching) else {
                unreadable = true
                continue
            }
            if step.category == .remediation {
                levels.append(EscalationLevel(context: pending, action: step))
                pending = []
            } else {
                pending.append(step)
            }
        }
        if levels.isEmpty && !unreadable {
            problem(at: node, "\(label): `then` must contain at least one remediation step (see `warden plugins --category remediation`)")
        } else if !pending.isEmpty, !levels.isEmpty {
            levels[levels.count - 1].context += pending
        }
        return levels
    }

    mutating func readStep(_ node: Node, rule label: String, matching: [JobDefinition]) -> RuleStep? {
        guard let pairs = mapping(node, what: "\(label): a step") else { return nil }
        checkKeys(pairs, allowed: Self.stepKeys, in: "a step")
        guard let pluginNode = pairs.value(for: "plugin") else {
            problem(at: node, "\(label): a step needs `plugin:`")
            return nil
        }
        guard let name = string(pluginNode, what: "\(label): plugin") else { return nil }
        guard let entry = registry.lookup(name) else {
            let hint = NameSuggester.nearest(to: name, among: registry.names).map { " — did you mean `\($0)`?" } ?? " (see `warden plugins`)"
            problem(at: pluginNode, "\(label): unknown plugin `\(name)`\(hint)")
            return nil
        }
        var parameters: JSONValue = .object([:])
        var secrets: [String] = []
        if let paramsNode = pairs.value(for: "params"), !isNull(paramsNode) {
            guard case .mapping = paramsNode else {
                problem(at: paramsNode, "\(label): `params` must be a mapping, got \(describe(paramsNode))")
                return nil
            }
            parameters = json(paramsNode, resolving: true, job: label, secrets: &secrets)
            if let issue = Template.check(parameters) {
                problem(at: paramsNode, "\(label): \(issue)")
                return nil
            }
            // What can be known now is checked now: each matching job's `job.*` values.
            if !Template.refersToRun(parameters) {
                for job in matching {
                    let context = TemplateContext(jobName: job.name, jobParams: job.parameters, ruleName: label, run: nil)
                    switch Template.render(parameters, context) {
                    case .failure(let failure):
                        problem(at: paramsNode, "\(label): for job `\(job.name)`: \(failure.description)")
                        return nil
                    case .success(let rendered):
                        switch entry.validate(rendered.objectValue ?? [:]) {
                        case .failure(let error):
                            for violation in error.violations {
                                let target = Self.node(at: violation.pointer, in: paramsNode) ?? paramsNode
                                problem(at: target, "\(label): `\(name)` parameter `\(violation.pointer.split(separator: "/").joined(separator: "."))`: \(violation.message.redactingOccurrences(of: job.secretValues + secrets))")
                            }
                            return nil
                        case .success(let validated):
                            let before = problems.count
                            checkAllowLists(entry, parameters: validated, paramsNode: paramsNode, at: node, label: label)
                            if problems.count > before { return nil }
                        }
                    }
                }
            } else {
                warnRuntimeAllowLists(entry, at: node, label: label)
            }
        } else if case .failure(let error) = entry.validate([:]) {
            problem(at: node, "\(label): `\(name)` needs params: \(error.violations.map(\.description).joined(separator: "; "))")
            return nil
        }
        var step = RuleStep(plugin: name, category: entry.spec.category, parameters: parameters, location: location(of: node))
        step.secretValues = secrets
        if let timeoutNode = pairs.value(for: "timeout") {
            guard let timeout = duration(timeoutNode, what: "\(label): step timeout", positive: true) else { return nil }
            step.timeout = timeout
        }
        return step
    }

    // MARK: maintenance

    mutating func readMaintenance(_ node: Node) -> [MaintenanceWindow] {
        if isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            problem(at: node, "`maintenance` must be a list of windows, got \(describe(node))")
            return []
        }
        var windows: [MaintenanceWindow] = []
        for (index, item) in sequence.enumerated() {
            guard let pairs = mapping(item, what: "a maintenance window") else { continue }
            checkKeys(pairs, allowed: Self.maintenanceKeys, in: "a maintenance window")
            let name = pairs.value(for: "name")?.string ?? "window \(index + 1)"
            let jobs = pairs.value(for: "jobs").flatMap { stringList($0, what: "maintenance `\(name)`: jobs") } ?? []
            let rules = pairs.value(for: "rules").flatMap { stringList($0, what: "maintenance `\(name)`: rules") } ?? []
            if let cronNode = pairs.value(for: "cron") {
                guard let text = string(cronNode, what: "maintenance `\(name)`: cron") else { continue }
                let expression: CronExpression
                do { expression = try CronExpression(text) } catch {
                    problem(at: cronNode, "maintenance `\(name)`: \(error.description)")
                    continue
                }
                guard let durationNode = pairs.value(for: "duration"),
                      let length = duration(durationNode, what: "maintenance `\(name)`: duration", positive: true) else {
                    if pairs.value(for: "duration") == nil { problem(at: item, "maintenance `\(name)`: a `cron` window needs `duration:` (e.g. 2h)") }
                    continue
                }
                windows.append(MaintenanceWindow(name: name, jobs: jobs, rules: rules, timing: .recurring(expression, duration: length)))
            } else if let fromNode = pairs.value(for: "from"), let untilNode = pairs.value(for: "until") {
                guard let from = timestamp(fromNode, what: "maintenance `\(name)`: from"),
                      let until = timestamp(untilNode, what: "maintenance `\(name)`: until") else { continue }
                guard from < until else {
                    problem(at: untilNode, "maintenance `\(name)`: `until` must be after `from`")
                    continue
                }
                windows.append(MaintenanceWindow(name: name, jobs: jobs, rules: rules, timing: .fixed(from: from, until: until)))
            } else {
                problem(at: item, "maintenance `\(name)`: expected `cron:` with `duration:`, or `from:` and `until:`")
            }
        }
        return windows
    }

    mutating func timestamp(_ node: Node, what: String) -> Date? {
        if let date = node.timestamp { return date }
        if let text = node.string {
            let iso = ISO8601DateFormatter()
            if let date = iso.date(from: text) { return date }
            let local = DateFormatter()
            local.locale = Locale(identifier: "en_US_POSIX")
            for format in ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm"] {
                local.dateFormat = format
                if let date = local.date(from: text) { return date }
            }
        }
        problem(at: node, "\(what): expected a time such as 2026-12-01T02:00:00Z or \"2026-12-01 02:00\", got \(describe(node))")
        return nil
    }
}
