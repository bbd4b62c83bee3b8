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

    /// Exit codes scripts can rely on: 0 success, 1 the plugin reported failure,
    /// 2 usage or validation error (ArgumentParser's own default would be 64).
    static func main() async {
        // What scripts and packaging call most: answered before the argument parser builds its
        // command tree, which took two thirds of the 9 ms of CPU `--version` cost (perf).
        if CommandLine.arguments.dropFirst().elementsEqual(["--version"]) {
            print(WardenVersion.current)
            return
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let usage as UsageError {
            printError("warden: \(usage.description)")
            Foundation.exit(ExitStatus.usage)
        } catch let failure as ConfigFailure {
            for problem in failure.error.problems { printError(problem.description) }
            Foundation.exit(ExitStatus.pluginFailed)
        } catch let fatal as FatalError {
            printError("warden: \(fatal.description)")
            Foundation.exit(ExitStatus.pluginFailed)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.usage)
            }
            self.exit(withError: error)
        }
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
