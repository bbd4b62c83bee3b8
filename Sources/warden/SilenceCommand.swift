import ArgumentParser
import Foundation
import WardenEngine
import WardenPluginKit

struct SilenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silence",
        abstract: "Suppress remediation for a job or rule for a while (checks keep running).",
        subcommands: [Add.self, List.self, Remove.self],
        defaultSubcommand: List.self
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a silence; the running daemon honours it at once.")

        @OptionGroup var config: ConfigOptions

        @Option(help: "A job name or glob.")
        var job: String?

        @Option(help: "A rule name or glob.")
        var rule: String?

        @Option(name: .customLong("for"), help: "How long, e.g. 30m, 2h.")
        var length: String

        @Option(help: "Why (shown in every suppressed remediation).")
        var reason: String

        @Flag(help: "Print the silence as JSON.")
        var json = false

        @Flag(help: "Suppress remediation only: failures of the silenced jobs are still notified.")
        var keepNotifying = false

        @Flag(help: "Add it even if no job or rule of the config matches (ahead of a config change).")
        var force = false

        func validate() throws {
            if job == nil && rule == nil { throw ValidationError("give --job or --rule (or both)") }
            if reason.trimmingWhitespace().isEmpty { throw ValidationError("--reason must not be empty") }
        }

        func run() async throws {
            if !force {
                try ConfigNames.require(job, kind: "job", in: config)
                try ConfigNames.require(rule, kind: "rule", in: config)
            }
            let length: Duration
            do { length = try DurationText.parse(self.length) } catch { throw UsageError("--for: \(error.description)") }
            guard length > .zero else { throw UsageError("--for must be greater than zero") }
            let store = try StoreAccess.openForWriting(config)
            let now = Date()
            let id: Int64
            do {
                id = try store.addSilence(job: job, rule: rule, reason: reason, until: now.addingTimeInterval(length.seconds), now: now, keepNotifying: keepNotifying)
                try store.close()
            } catch {
                throw FatalError("adding the silence to \(store.path): \(error)")
            }
            let silence = Silence(id: id, job: job, rule: rule, reason: reason, createdAt: now, until: now.addingTimeInterval(length.seconds), keepsNotifying: keepNotifying)
            print(json ? SilenceJSON.encode(silence).jsonText(pretty: true) : "silence #\(id) until \(ISOTime.local(silence.until))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show silences in force (--all: also expired ones).")

        @OptionGroup var config: ConfigOptions

        @Flag(help: "Include expired silences.")
        var all = false

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            let store = try StoreAccess.openForReading(config)
            let silences: [Silence]
            do { silences = try store.silences(activeAt: all ? nil : Date()) } catch { throw FatalError("reading \(store.path): \(error)") }
            if json {
                print(JSONValue.array(silences.map(SilenceJSON.encode)).jsonText(pretty: true))
            } else if silences.isEmpty {
                print("no silences in force")
            } else {
                var rows = [["ID", "JOB", "RULE", "UNTIL", "REASON"]]
                for silence in silences {
                    rows.append(["\(silence.id)", silence.job ?? "-", silence.rule ?? "-", ISOTime.local(silence.until), silence.reason])
                }
                print(TextTable.render(rows))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "End a silence now.")

        @OptionGroup var config: ConfigOptions

        @Argument(help: "The silence's id (see `warden silence list`).")
        var id: Int64

        func run() async throws {
            let store = try StoreAccess.openForWriting(config)
            let removed: Bool
            do { removed = try store.removeSilence(id: id) } catch { throw FatalError("removing the silence: \(error)") }
            try? store.close()
            guard removed else { throw UsageError("no silence #\(id)") }
            print("silence #\(id) removed")
        }
    }
}

enum SilenceJSON {
    static func encode(_ silence: Silence) -> JSONValue {
        [
            "id": .int(Int(silence.id)), "job": silence.job.map(JSONValue.string) ?? .null,
            "rule": silence.rule.map(JSONValue.string) ?? .null, "reason": .string(silence.reason),
            "created_at": .string(ISOTime.string(silence.createdAt)), "until": .string(ISOTime.string(silence.until)),
            "keeps_notifying": .bool(silence.keepsNotifying),
        ]
    }
}

/// Checks that a name (or, with `glob`, a pattern) given on the command line matches something
/// in the config, so a typo never silences or resets nothing while looking as if it worked.
enum ConfigNames {
    static func require(_ pattern: String?, kind: String, in options: ConfigOptions, glob: Bool = true) throws {
        guard let pattern else { return }
        guard let names = ConfigLoader.names(path: options.configPath) else {
            throw UsageError("cannot read the \(kind) names of \(options.configPath) to check `\(pattern)`; pass --config, or --force to use it anyway")
        }
        let defined = kind == "job" ? names.jobs : names.rules
        guard !defined.contains(where: { glob ? fnmatch(pattern, $0, 0) == 0 : pattern == $0 }) else { return }
        var message = "no \(kind) in \(options.configPath) matches `\(pattern)`"
        if let near = NameSuggester.nearest(to: pattern, among: defined) { message += " — did you mean `\(near)`?" }
        throw UsageError(message + " (--force to use it ahead of a config change)")
    }
}
