import ArgumentParser
import Foundation
import WardenEngine

@main
struct Warden: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "Monitoring and auto-remediation daemon for Linux hosts.",
        version: WardenVersion.current,
        subcommands: [PluginsCommand.self, ExecCommand.self]
    )

    /// Exit codes scripts can rely on: 0 success, 1 the plugin reported failure,
    /// 2 usage or validation error (ArgumentParser's own default would be 64).
    static func main() async {
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

/// A usage or validation problem found after parsing; printed as is, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
