import ArgumentParser
import Foundation
import WardenEngine
import WardenPluginKit

struct RuleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rule",
        abstract: "Manage a rule's guard state.",
        subcommands: [Reset.self]
    )

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset",
            abstract: "Clear a rule's budget, cooldown and escalation (audited; shown by `warden explain`).",
            discussion: """
                Budget use and cooldown are counted from the rule's audit trail; a reset makes only \
                remediations after it count. The running daemon honours it at its next decision.
                """
        )

        @OptionGroup var config: ConfigOptions

        @Argument(help: "The rule's name.")
        var name: String

        @Option(help: "Why (kept in the audit trail).")
        var reason: String

        @Flag(help: "Reset a name the config does not define.")
        var force = false

        @Flag(help: "Print the reset as JSON.")
        var json = false

        func validate() throws {
            if reason.trimmingWhitespace().isEmpty { throw ValidationError("--reason must not be empty") }
        }

        func run() async throws {
            if !force { try ConfigNames.require(name, kind: "rule", in: config, glob: false) }
            let store = try StoreAccess.openForWriting(config)
            let now = Date()
            let id: Int64
            do {
                id = try store.resetRule(name, reason: reason, at: now)
                try store.close()
            } catch {
                throw FatalError("recording the reset in \(store.path): \(HistoryStore.describe(error)); nothing was reset")
            }
            if json {
                let output: JSONValue = ["id": .int(Int(id)), "rule": .string(name), "reason": .string(reason), "at": .string(ISOTime.string(now))]
                print(output.jsonText(pretty: true))
            } else {
                print("rule `\(name)` reset (#\(id)): its budget, cooldown and escalation start over at the daemon's next decision")
            }
        }
    }
}
