import ArgumentParser
import Foundation
import WardenEngine
import WardenPluginKit

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        _superCommandName: "warden",  // parsed directly (Warden.parsedDirectly)
        abstract: "Explain a remediation: the failing runs, the trigger, the guards' state, what ran, and the verification.",
        version: WardenVersion.current  // `--help` lists `--version`, as under the tree
    )

    @OptionGroup var config: ConfigOptions

    @Argument(help: "The remediation's id (see `warden history --remediations`).")
    var id: Int64

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try StoreAccess.openForReading(config)
        let record: RemediationRecord
        let triggering: [StoredRun]
        let verification: StoredRun?
        do {
            guard let found = try store.remediation(id: id) else { throw UsageError("no remediation #\(id) in \(store.path)") }
            record = found
            triggering = try store.runs(ids: record.triggerRuns)
            verification = try record.verificationRunID.flatMap { try store.runs(ids: [$0]).first }
        } catch let usage as UsageError {
            throw usage
        } catch {
            throw FatalError("reading \(store.path): \(error)")
        }
        if json {
            var object = HistoryJSON.remediation(record).objectValue ?? [:]
            object["trigger_runs"] = .array(triggering.map { HistoryJSON.run($0, attempts: false) })
            object["verification_run"] = verification.map { HistoryJSON.run($0, attempts: false) } ?? .null
            print(JSONValue.object(object).jsonText(pretty: true))
        } else {
            print(Explanation.text(record, triggering: triggering, verification: verification))
        }
    }
}

/// `warden explain` in plain words.
enum Explanation {
    static func text(_ record: RemediationRecord, triggering: [StoredRun], verification: StoredRun?) -> String {
        var lines = ["Remediation #\(record.id ?? 0): rule `\(record.rule)`, job `\(record.job)`, \(ISOTime.local(record.startedAt))"]
        lines.append("")
        lines.append("Why: \(record.trigger).")
        if triggering.isEmpty {
            lines.append("  (the triggering runs have been pruned from the history)")
        }
        for run in triggering {
            lines.append("  " + describe(run))
        }
        lines.append("")
        lines.append("State at that moment: " + state(record.state) + ".")
        lines.append("")
        switch record.outcome {
        case .suppressed:
            lines.append("Not run: suppressed — \(record.suppressedReason ?? "no reason recorded").")
            return lines.joined(separator: "\n")
        case .dryRun:
            lines.append("Dry run: step \(record.step ?? 1) would have run `\(record.plugin ?? "?")` with \(record.parameters?.jsonText() ?? "{}"). Nothing was executed.")
        default:
            lines.append("What ran: step \(record.step ?? 1), `\(record.plugin ?? "?")` with \(record.parameters?.jsonText() ?? "{}").")
            var result = "Result: \(record.outcome.rawValue)"
            if let message = record.message, !message.isEmpty { result += " — \(message)" }
            if let error = record.error { result += " (error: \(error))" }
            lines.append(result + ".")
        }
        for item in record.context?.arrayValue ?? [] {
            let result = item["result"]
            let ok = result?["success"]?.boolValue == true
            lines.append("Context: `\(item["plugin"]?.stringValue ?? "?")` \(ok ? "ok" : "failed") — \(result?["message"]?.stringValue ?? "")")
        }
        switch record.verification {
        case .passed?, .failed?:
            let verdict = record.verification == .passed ? "passed: the job is healthy again" : "failed: the job still fails"
            lines.append("Verification: \(verdict).")
            if let verification { lines.append("  " + describe(verification)) }
        case .skipped?:
            lines.append("Verification: skipped (\(record.dryRun ? "dry run" : "the rule does not verify, or the remediation was interrupted")).")
        case nil:
            lines.append(record.outcome == .running ? "Verification: pending (the remediation is still running)." : "Verification: none.")
        }
        return lines.joined(separator: "\n")
    }

    static func describe(_ stored: StoredRun) -> String {
        let run = stored.record
        var text = "run #\(stored.id) at \(ISOTime.local(run.scheduledAt)) (\(run.trigger)): \(run.status.rawValue)"
        if !run.message.isEmpty { text += " — \(RunTable.oneLine(run.message))" }
        if let error = run.error { text += " (error: \(RunTable.oneLine(error)))" }
        let failed = run.conditions.filter { !$0.passed }
        if !failed.isEmpty {
            text += "; failed conditions: " + failed.map { "\($0.expression) (value: \($0.value.jsonText()))" }.joined(separator: ", ")
        }
        return text
    }

    static func state(_ state: JSONValue) -> String {
        var parts: [String] = []
        if let mode = state["mode"]?.stringValue { parts.append("remediation \(mode)\(state["dry_run"]?.boolValue == true ? " (dry run)" : "")") }
        if let failures = state["consecutive_failures"]?.intValue { parts.append("\(failures) consecutive failures") }
        if let cooldown = state["cooldown"], let seconds = cooldown["seconds"]?.doubleValue {
            let last = cooldown["last_remediation"]?.stringValue.map { "last remediation \($0)" } ?? "no earlier remediation"
            parts.append(seconds > 0 ? "cooldown \(Duration.milliseconds(Int64(seconds * 1000)).wardenFormatted), \(last)" : "no cooldown, \(last)")
        }
        if let budget = state["budget"], let limit = budget["limit"]?.stringValue {
            parts.append("budget \(budget["used"]?.intValue ?? 0) of \(limit) used")
        } else {
            parts.append("no budget")
        }
        if let flap = state["flap"] {
            let percent = flap["percent"]?.doubleValue ?? 0
            parts.append(flap["flapping"]?.boolValue == true ? "flapping (\(percent)% state changes)" : "not flapping (\(percent)%)")
        }
        if let parents = state["parents"]?.objectValue, !parents.isEmpty {
            parts.append("parents: " + parents.keys.sorted().map { "\($0) \(parents[$0]?.stringValue ?? "?")" }.joined(separator: ", "))
        }
        if let silence = state["silence"], !silence.isNull {
            parts.append("silenced (#\(silence["id"]?.intValue ?? 0): \(silence["reason"]?.stringValue ?? ""))")
        } else {
            parts.append("no silence")
        }
        if let window = state["maintenance"]?.stringValue { parts.append("in maintenance window `\(window)`") } else { parts.append("no maintenance window") }
        if let level = state["escalation_level"]?.intValue { parts.append("escalation level \(level)") }
        if let reset = state["last_reset"], !reset.isNull {
            parts.append("rule reset #\(reset["id"]?.intValue ?? 0) at \(reset["at"]?.stringValue ?? "?") (\(reset["reason"]?.stringValue ?? "")): budget and cooldown count from there")
        }
        if state["guard_state"]?.stringValue == "unavailable" { parts.append("guard state unavailable") }
        return parts.joined(separator: "; ")
    }
}

enum RemediationJSON {
    static func table(_ records: [RemediationRecord]) -> String {
        guard !records.isEmpty else { return "no remediations match" }
        var rows = [["ID", "TIME", "RULE", "JOB", "STEP", "PLUGIN", "OUTCOME", "VERIFIED", "NOTE"]]
        for record in records {
            rows.append([
                "\(record.id ?? 0)", ISOTime.local(record.startedAt), record.rule, record.job,
                record.step.map(String.init) ?? "-", record.plugin ?? "-", record.outcome.rawValue,
                record.verification?.rawValue ?? "-",
                RunTable.oneLine(record.suppressedReason ?? record.error ?? record.message ?? ""),
            ])
        }
        return TextTable.render(rows)
    }
}
