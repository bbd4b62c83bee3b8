import ArgumentParser
import Foundation
import WardenEngine
import WardenPluginKit

/// `warden status`: what is failing right now. Exit 0 when nothing fails, 1 when something
/// does, 2 on error, so it fits a shell `if` or another monitor.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        _superCommandName: "warden",  // parsed directly (Warden.parsedDirectly)
        abstract: "Every job's state (ok, warning, critical, unknown, pending, disabled) with its flags, and every rule's budget.",
        discussion: """
            Reads the config and the history: works while the daemon runs and when it is stopped \
            (then it says so and shows the last known state). Exit status: 0 nothing is failing, \
            1 something is, 2 an error.
            """,
        version: WardenVersion.current  // `--help` lists `--version`, as under the tree
    )

    @OptionGroup var config: ConfigOptions
    @OptionGroup var loading: PluginLoadingOptions

    @Flag(help: "Only jobs that are not ok (warning, critical, unknown).")
    var failing = false

    @Flag(help: "Print JSON (the same document as the status API).")
    var json = false

    func run() async throws {
        let report: StatusReport
        do {
            report = try await build()
        } catch let error as ExitCode {
            throw error
        } catch let failure as ConfigFailure {
            for problem in failure.error.problems { printError(problem.description) }
            throw ExitCode(ExitStatus.usage)
        } catch {
            // 1 means "something is failing": any error, a broken config included, is 2.
            throw UsageError("\(error)")
        }
        let anyFailing = report.failing > 0
        var shown = report
        if failing { shown.jobs = report.jobs.filter(\.isFailing) }
        if json {
            print(shown.json.jsonText(pretty: true))
        } else {
            print(StatusText.render(shown, colour: StatusText.wantsColour))
        }
        if anyFailing { throw ExitCode(ExitStatus.pluginFailed) }
    }

    private func build() async throws -> StatusReport {
        let settings = config.daemonSettings()
        let runtime = try await CommandRuntime.load(
            directories: loading.directories(default: settings.pluginDirectories),
            level: loading.level(default: .error)
        )
        let loaded = try runtime.loadConfig(config)
        let database = config.databasePath.map(ConfigOptions.absolute) ?? loaded.daemon.database
        let pid = DaemonLock.runningDaemon(database: database)
        guard FileManager.default.fileExists(atPath: database) else {
            return StatusReport.beforeFirstRun(config: loaded, daemonPID: pid)
        }
        let store = try StoreAccess.openForReading(config)
        do {
            return try StatusReport.build(config: loaded, store: store, daemonPID: pid)
        } catch {
            throw FatalError(store.describeReadFailure(error))
        }
    }
}

enum StatusText {
    /// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org).
    static var wantsColour: Bool {
        isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
    }

    static func render(_ report: StatusReport, colour: Bool) -> String {
        let now = report.generatedAt
        var header = report.daemonPID.map { "warden: running (pid \($0))" } ?? "warden: not running — the last known state"
        header += " · \(report.jobs.count) jobs · \(report.failing) failing · \(report.remediating) remediating"
        header += report.lastRunAt.map { " · last run \(ago($0, now)) ago" } ?? " · no run yet"
        var rows = [["JOB", "STATE", "SINCE", "LAST RUN", "NEXT RUN", "MESSAGE", "FLAGS"]]
        for job in report.jobs {
            rows.append([
                job.name, paint(job.state, colour: colour), job.since.map { ago($0, now) } ?? "-",
                job.lastRunAt.map { ago($0, now) + " ago" } ?? "-",
                // Without a daemon nothing runs next.
                report.daemonPID == nil ? "-" : job.nextRunAt.map { "in " + ago(now, $0) } ?? "-",
                shortened(job.message ?? "-"), job.flags.isEmpty ? "-" : job.flags.joined(separator: ", "),
            ])
        }
        var text = header + "\n\n" + TextTable.render(rows)
        if !report.rules.isEmpty {
            var ruleRows = [["RULE", "BUDGET", "COOLDOWN LEFT", "LEVEL", "LAST REMEDIATION"]]
            for rule in report.rules {
                let budget = rule.budget.map { "\(rule.budgetUsed)/\($0.count) per \($0.window.wardenFormatted)" + (rule.budgetFreesAt.map { " (exhausted, frees in \(ago(now, $0)))" } ?? "") } ?? "unlimited"
                ruleRows.append([
                    rule.name, budget, rule.cooldownLeft?.wardenFormatted ?? "-", "\(rule.escalationLevel)/\(rule.levels)",
                    rule.lastRemediationAt.map { ago($0, now) + " ago" } ?? "-",
                ])
            }
            text += "\n" + TextTable.render(ruleRows)
        }
        return text
    }

    static func paint(_ state: String, colour: Bool) -> String {
        guard colour else { return state }
        let code: String
        switch state {
        case "ok": code = "32"
        case "warning": code = "33"
        case "critical": code = "31"
        case "unknown": code = "35"
        default: code = "2"
        }
        return "\u{1B}[\(code)m\(state)\u{1B}[0m"
    }

    /// `3s`, `5m`, `2h10m`: how long from `from` to `to`.
    static func ago(_ from: Date, _ to: Date) -> String {
        let seconds = max(0, to.timeIntervalSince(from))
        // Sub-second precision only where it matters (a run due in 400ms is not "in 0s").
        return seconds < 10 ? Duration.milliseconds(Int64(seconds * 1000)).wardenFormatted : Duration.seconds(Int64(seconds)).wardenFormatted
    }

    static func shortened(_ text: String) -> String {
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        return line.count > 60 ? String(line.prefix(59)) + "…" : line
    }
}
