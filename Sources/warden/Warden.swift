import ArgumentParser
import Foundation
import WardenEngine

@main
struct Warden: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "Monitoring and auto-remediation daemon for Linux hosts.",
        version: WardenVersion.current,
        subcommands: [
            RunCommand.self, CheckConfigCommand.self, HistoryCommand.self, StatsCommand.self, RunJobCommand.self,
            ExplainCommand.self, SilenceCommand.self, RuleCommand.self,
            StatusCommand.self, PluginsCommand.self, ExecCommand.self, NotificationsCommand.self, NotifyCommand.self,
        ]
    )

    /// The read-only reports, parsed as roots of their own when named first. ArgumentParser
    /// otherwise builds the whole tree and probes for `--generate-completion-script` by
    /// parsing two more commands, each uncached protocol-conformance lookup of which walks
    /// the binary's 12,000 conformance records: parsing `warden history` went 26.4M → 20.4M
    /// instructions (callgrind, BENCHMARKS.md). Each names `_superCommandName: "warden"`, so
    /// its usage and help read as they do under the tree, and the probe is skipped.
    /// `history`, `stats` and `explain` are synchronous: they run on the main thread, see
    /// `main()`.
    static let parsedDirectly: [any ParsableCommand.Type] = [
        HistoryCommand.self, StatsCommand.self, StatusCommand.self, ExplainCommand.self,
    ]

    /// Exit codes scripts can rely on: 0 success, 1 the plugin reported failure,
    /// 2 usage or validation error (ArgumentParser's own default would be 64).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // What scripts and packaging call most: answered before the argument parser builds its
        // command tree, which took two thirds of the 9 ms of CPU `--version` cost (perf).
        if arguments == ["--version"] {
            print(WardenVersion.current)
            return
        }
        // Before any SQLite connection opens (`HistoryStore.prepareProcess`).
        HistoryStore.prepareProcess()
        // The report scripts run most, read without ArgumentParser when its command line is
        // plain (`HistoryRequest`). Anything else, and a command line that fails validation,
        // goes through ArgumentParser; an error at run time is reported as it would be there.
        if arguments.first == HistoryCommand.configuration.commandName,
           let request = HistoryRequest(quickArguments: Array(arguments.dropFirst())), (try? request.validate()) != nil {
            do {
                try request.run()
            } catch {
                exit(handling: error, parsedAs: HistoryCommand.self)
            }
            return
        }
        // Not without arguments: a root given none answers with its help, not its error.
        if arguments.count > 1, let report = parsedDirectly.first(where: { $0.configuration.commandName == arguments[0] }),
           !arguments.contains(where: Self.needsTheWholeTree) {
            if let asynchronous = report as? any AsyncParsableCommand.Type {
                await parseAndRun(asynchronous, Array(arguments.dropFirst()))
            } else {
                // Not a call to an async function: that would hop to the global executor,
                // and the return to the main actor once more, each hop starting a thread
                // (four threads for `history`, about 2 ms of its 14).
                parseAndRunHere(report, Array(arguments.dropFirst()))
            }
        } else {
            await parseAndRun(Warden.self, arguments)
        }
    }

    /// A synchronous report, parsed and run on the calling (main) thread.
    static func parseAndRunHere<Root: ParsableCommand>(_ root: Root.Type, _ arguments: [String]) {
        do {
            var command = try root.parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(handling: error, parsedAs: root)
        }
    }

    /// ArgumentParser's own flags that only the root command answers (`--version`, the
    /// completion script, custom completions, the help dump).
    static func needsTheWholeTree(_ argument: String) -> Bool {
        argument == "--version" || argument.hasPrefix("--generate-completion-script")
            || argument.hasPrefix("---") || argument.hasPrefix("--experimental-dump-help")
    }

    static func parseAndRun<Root: AsyncParsableCommand>(_ root: Root.Type, _ arguments: [String]) async {
        do {
            var command = try root.parseAsRoot(arguments)
            // A cast to the concrete type compares metadata; one to the protocol is a lookup.
            if var parsed = command as? Root {
                try await parsed.run()
            } else if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(handling: error, parsedAs: root)
        }
    }

    /// Warden's own errors with their exit statuses; ArgumentParser's through `exit(reporting:)`.
    static func exit<Root: ParsableCommand>(handling error: any Error, parsedAs root: Root.Type) -> Never {
        switch error {
        case let usage as UsageError:
            printError("warden: \(usage.description)")
            Foundation.exit(ExitStatus.usage)
        case let failure as ConfigFailure:
            for problem in failure.error.problems { printError(problem.description) }
            Foundation.exit(ExitStatus.pluginFailed)
        case let fatal as FatalError:
            printError("warden: \(fatal.description)")
            Foundation.exit(ExitStatus.pluginFailed)
        case let exit as ExitCode:
            Foundation.exit(exit.rawValue)
        default:
            exit(reporting: error, parsedAs: root)
        }
    }

    /// ArgumentParser's `exit(withError:)` (help on stdout, errors on stderr), with exit
    /// status 2 for a usage error, and its hint naming the whole command for a report parsed
    /// directly: ArgumentParser leaves `_superCommandName` out of "See '… --help'".
    static func exit<Root: ParsableCommand>(reporting error: any Error, parsedAs root: Root.Type) -> Never {
        let status = root.exitCode(for: error)
        var text = root.fullMessage(for: error)
        if let superName = root.configuration._superCommandName, let name = root.configuration.commandName {
            text = text.replacingOccurrences(of: "See '\(name) ", with: "See '\(superName) \(name) ")
        }
        if status == .success {
            if !text.isEmpty { print(text) }
            Foundation.exit(ExitStatus.success)
        }
        if !text.isEmpty { printError(text) }
        Foundation.exit(status == .validationFailure ? ExitStatus.usage : status.rawValue)
    }
}

enum ExitStatus {
    static let success: Int32 = 0
    static let pluginFailed: Int32 = 1
    static let usage: Int32 = 2
}

/// A failure at run time (a database that cannot be opened, …); printed, exit status 1.
struct FatalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A usage or validation problem found after parsing; printed as is, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
