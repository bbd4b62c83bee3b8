import ArgumentParser
import Foundation
import Synchronization
import WardenEngine
import WardenPluginKit

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        _superCommandName: "warden",  // parsed directly (Warden.parsedDirectly)
        abstract: "Show recorded runs, newest first (reads the database; safe while the daemon runs).",
        version: WardenVersion.current  // `--help` lists `--version`, as under the tree
    )

    @OptionGroup var config: ConfigOptions

    @Option(help: "Only this job.")
    var job: String?

    @Option(help: "Only runs with this status: \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), or `failing` (all but ok, skipped and interrupted); several with commas.")
    var status: String?

    @Option(help: "Runs since a time or a duration ago (1h, 7d, 2026-11-24T10:00:00Z).")
    var since: String?

    @Option(help: "Runs until a time or a duration ago.")
    var until: String?

    @Option(help: "At most this many runs.")
    var limit: Int = 50

    @Flag(help: "Include every attempt of each run (JSON: `attempt_details`).")
    var attempts = false

    @Flag(help: "Show remediations instead of runs (--status then filters the outcome: ok, failed, suppressed, dry-run, …).")
    var remediations = false

    @Option(help: "With --remediations: only this rule.")
    var rule: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Print CSV.")
    var csv = false

    /// What was asked, as plain values (`QuickArguments` reads the common command lines into
    /// the same).
    var request: HistoryRequest {
        HistoryRequest(
            store: config.location, job: job, status: status, since: since, until: until, limit: limit,
            attempts: attempts, remediations: remediations, rule: rule, json: json, csv: csv
        )
    }

    func validate() throws { try request.validate() }

    func run() throws { try request.run() }
}

/// One `warden history`, however its command line was read: by ArgumentParser
/// (`HistoryCommand`) or, for the spellings scripts use, by `QuickArguments`, which skips the
/// reflection ArgumentParser builds its parser with (two thirds of the command's instructions:
/// each property wrapper's type instantiated from its mangled name and each protocol it is cast
/// to looked up in the binary's 12,000 conformance records; callgrind, BENCHMARKS.md).
struct HistoryRequest: Equatable {
    var store = StoreLocation()
    var job: String?
    var status: String?
    var since: String?
    var until: String?
    var limit = 50
    var attempts = false
    var remediations = false
    var rule: String?
    var json = false
    var csv = false

    /// HistoryCommand's long options, as `QuickArguments` reads them. A test holds this to
    /// ArgumentParser's own list (`HistoryRequestTests`).
    static let quickFlags: Set<String> = ["attempts", "remediations", "json", "csv"]
    static let quickOptions: Set<String> = ["config", "database", "job", "status", "since", "until", "limit", "rule"]

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv exclude each other") }
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        if remediations, let status, RemediationRecord.Outcome(rawValue: status) == nil {
            throw ValidationError("invalid --status `\(status)` for remediations: expected running, ok, failed, timeout, error, interrupted, dry-run or suppressed")
        }
        if remediations && csv { throw ValidationError("--csv is for runs; use --json with --remediations") }
        if !remediations, let status { _ = try Self.statuses(status) }
    }

    /// `failing`, one status, or several separated by commas.
    static func statuses(_ text: String) throws -> Set<RunStatus> {
        var statuses = Set<RunStatus>()
        for word in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if word == "failing" {
                statuses.formUnion(RunStatus.failing)
            } else if let status = RunStatus(rawValue: word) {
                statuses.insert(status)
            } else {
                throw ValidationError("invalid --status `\(word)`: expected failing, \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        return statuses
    }

    func run() throws {
        if remediations { return try showRemediations() }
        let query = HistoryQuery(
            job: job,
            statuses: try status.map(Self.statuses),
            since: try since.map { try TimeArgument.parse($0, option: "--since") },
            until: try until.map { try TimeArgument.parse($0, option: "--until") },
            limit: limit,
            includeAttempts: attempts,
            includeDetails: json
        )
        let store = try StoreAccess.openForReading(self.store)
        let runs: [StoredRun]
        do {
            runs = try store.history(query)
        } catch {
            throw FatalError(store.describeReadFailure(error))
        }
        if json {
            print(JSONValue.array(runs.map { HistoryJSON.run($0, attempts: attempts) }).jsonText(pretty: true))
        } else if csv {
            print(RunCSV.render(runs), terminator: "")
        } else {
            print(RunTable.render(runs, attempts: attempts))
        }
    }

    func showRemediations() throws {
        let store = try StoreAccess.openForReading(self.store)
        let records: [RemediationRecord]
        do {
            records = try store.remediations(
                job: job, rule: rule,
                since: try since.map { try TimeArgument.parse($0, option: "--since") },
                until: try until.map { try TimeArgument.parse($0, option: "--until") },
                outcome: status, limit: limit
            )
        } catch let usage as UsageError {
            throw usage
        } catch {
            throw FatalError(store.describeReadFailure(error))
        }
        print(json ? JSONValue.array(records.map(HistoryJSON.remediation)).jsonText(pretty: true) : RemediationJSON.table(records))
    }
}

/// In an extension, so that the struct keeps the memberwise initializer `HistoryCommand` uses.
extension HistoryRequest {
    /// The arguments after `history`, when `QuickArguments` can read them; nil when only
    /// ArgumentParser can answer (help, a short or unknown name, an odd spelling, a bad value).
    init?(quickArguments arguments: [String]) {
        guard let parsed = QuickArguments(arguments, flags: Self.quickFlags, options: Self.quickOptions) else { return nil }
        let values = parsed.values
        if let config = values["config"] { store.configPath = config }
        store.databasePath = values["database"]
        job = values["job"]
        status = values["status"]
        since = values["since"]
        until = values["until"]
        rule = values["rule"]
        if let text = values["limit"] {
            guard let limit = Int(text) else { return nil }
            self.limit = limit
        }
        attempts = parsed.flags.contains("attempts")
        remediations = parsed.flags.contains("remediations")
        json = parsed.flags.contains("json")
        csv = parsed.flags.contains("csv")
    }
}

enum StoreAccess {
    /// Stores the reports opened, held until the process exits, which it does right after
    /// the report: releasing one disposed of GRDB's dispatch queue (starting a thread to do
    /// it) and removed its observers (1.4M instructions of `warden history`'s 40M), all for
    /// nothing. A reader leaves nothing for SQLite to finish at close.
    private static let readers = Mutex<[HistoryStore]>([])

    static func openForReading(_ options: ConfigOptions) throws -> HistoryStore {
        try openForReading(options.location)
    }

    static func openForReading(_ location: StoreLocation) throws -> HistoryStore {
        do {
            let store = try HistoryStore.openForReading(path: location.daemonSettings().database)
            readers.withLock { $0.append(store) }
            return store
        } catch {
            throw FatalError(error.description)
        }
    }

    static func openForWriting(_ options: ConfigOptions) throws -> HistoryStore {
        let settings = options.daemonSettings()
        do {
            return try HistoryStore.openForWriting(path: settings.database, sync: settings.databaseSync)
        } catch {
            throw FatalError(error.description)
        }
    }
}


enum RunCSV {
    static let columns = ["id", "job", "plugin", "trigger", "scheduled_at", "started_at", "finished_at", "duration_ms", "status", "message", "error"]

    static func render(_ runs: [StoredRun]) -> String {
        var lines = [columns.joined(separator: ",")]
        for stored in runs {
            let run = stored.record
            let fields = [
                "\(stored.id)", run.job, run.plugin, run.trigger.description, ISOTime.string(run.scheduledAt),
                run.startedAt.map(ISOTime.string) ?? "", ISOTime.string(run.finishedAt),
                run.duration.map { String(format: "%.3f", $0.seconds * 1000) } ?? "", run.status.rawValue,
                run.message, run.error ?? "",
            ]
            lines.append(fields.map(quote).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// RFC 4180: quote fields holding a comma, quote or line break; double inner quotes.
    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

enum RunTable {
    static func render(_ runs: [StoredRun], attempts: Bool) -> String {
        guard !runs.isEmpty else { return "no runs match" }
        var rows = [["ID", "TIME", "JOB", "STATUS", "TRIES", "DURATION", "MESSAGE"]]
        for stored in runs {
            let run = stored.record
            rows.append([
                "\(stored.id)", ISOTime.local(run.scheduledAt), run.job, run.status.rawValue,
                run.status == .skipped ? "-" : "\(stored.attemptCount)",
                run.duration.map(Self.milliseconds) ?? "-",
                Self.oneLine(run.error.map { "\(run.message) (\($0))" } ?? run.message),
            ])
            if attempts {
                for attempt in run.attempts {
                    rows.append([
                        "", "  attempt \(attempt.number)", "waited \(Self.milliseconds(attempt.wait))", attempt.outcome.rawValue,
                        "", Self.milliseconds(attempt.duration), Self.oneLine(attempt.error ?? attempt.message),
                    ])
                }
            }
        }
        return TextTable.render(rows)
    }

    /// `%.1fms` below 10 ms, `%.0fms` above, rounded as printf rounds, without `String(format:)`
    /// (Foundation's formatter was a third of rendering 50 rows).
    static func milliseconds(_ duration: Duration) -> String {
        let value = duration.seconds * 1000
        guard value < 10 else { return "\(Int(value.rounded(.toNearestOrEven)))ms" }
        let tenths = Int((value * 10).rounded(.toNearestOrEven))
        return "\(tenths / 10).\(tenths % 10)ms"
    }

    /// By byte, not Character: `\r\n` is one Character and would otherwise stay. (Foundation's
    /// `replacingOccurrences` compiled a regular expression per call, per cell; appending
    /// mapped scalars one by one was still a third of rendering 50 rows.)
    static func oneLine(_ text: String) -> String {
        let line = text.utf8.contains(UInt8(ascii: "\n"))
            ? String(decoding: text.utf8.map { $0 == UInt8(ascii: "\n") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            : text
        // At most 100 bytes are at most 100 Characters: counting them is for longer text only.
        return line.utf8.count > 100 && line.count > 100 ? String(line.prefix(99)) + "…" : line
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
enum TextTable {
    static func render(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], visibleWidth(cell)) }
        }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - visibleWidth(cell))
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Characters on screen: ANSI colour sequences (`ESC [ digits ; … m`) take none.
    static func visibleWidth(_ cell: String) -> Int {
        guard cell.unicodeScalars.contains("\u{1B}") else { return cell.count }
        var shown = String.UnicodeScalarView()
        var scalars = cell.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            if scalar == "\u{1B}", scalars.first == "[" {
                let body = scalars.dropFirst().prefix { $0 == ";" || ("0"..."9").contains($0) }
                if body.endIndex < scalars.endIndex, scalars[body.endIndex] == "m" {
                    scalars = scalars[scalars.index(after: body.endIndex)...]
                    continue
                }
            }
            shown.append(scalar)
        }
        return String(shown).count
    }
}
