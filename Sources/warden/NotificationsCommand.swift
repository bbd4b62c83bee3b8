import ArgumentParser
import Foundation
import WardenEngine
import WardenPluginKit
import WardenPluginSupport

/// `warden notifications`: what was sent, what is waiting, what failed.
struct NotificationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications",
        abstract: "Recent notifications from the outbox: delivered, pending (with their attempts) and expired.",
        discussion: "Works while the daemon runs. Undelivered notifications survive restarts and go out in order per notifier."
    )

    @OptionGroup var config: ConfigOptions

    @Flag(help: "Only those still waiting to be delivered.")
    var pending = false

    @Flag(help: "Only those that failed at least once or expired.")
    var failed = false

    @Option(help: "At most this many, newest first.")
    var limit = 50

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let store = try StoreAccess.openForReading(config)
        let entries: [OutboxEntry]
        do {
            entries = try store.outbox(state: pending ? .pending : nil, failedOnly: failed, limit: limit)
        } catch {
            throw FatalError(store.describeReadFailure(error))
        }
        if json {
            print(JSONValue.array(entries.map(Self.encode)).jsonText(pretty: true))
            return
        }
        guard !entries.isEmpty else {
            print(pending || failed ? "nothing \(pending ? "pending" : "failed")" : "no notifications yet")
            return
        }
        var rows = [["ID", "CREATED", "NOTIFIER", "EVENT", "JOB/RULE", "STATE", "ATTEMPTS", "LAST"]]
        for entry in entries {
            rows.append([
                "\(entry.id)", ISOTime.local(entry.createdAt), entry.notifier, entry.event.kind.rawValue,
                entry.event.job ?? entry.event.rule ?? "-", entry.state.rawValue, "\(entry.attempts)",
                entry.state == .delivered ? (entry.answer ?? "") : (entry.lastError ?? "-"),
            ])
        }
        print(TextTable.render(rows))
    }

    static func encode(_ entry: OutboxEntry) -> JSONValue {
        [
            "id": .int(Int(entry.id)), "notifier": .string(entry.notifier), "event": entry.event.payload,
            "created_at": .string(ISOTime.string(entry.createdAt)), "state": .string(entry.state.rawValue),
            "attempts": .int(entry.attempts), "next_attempt_at": .string(ISOTime.string(entry.nextAttemptAt)),
            "last_error": entry.lastError.map(JSONValue.string) ?? .null, "answer": entry.answer.map(JSONValue.string) ?? .null,
            "finished_at": entry.finishedAt.map { .string(ISOTime.string($0)) } ?? .null,
        ]
    }
}

/// `warden notify test NOTIFIER`: one message now, and what the receiver answered.
struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Send notifications by hand.",
        subcommands: [Test.self]
    )

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "Send a test message through a notifier and show what the receiver answered (exit 1 if it did not take it)."
        )

        @OptionGroup var config: ConfigOptions
        @OptionGroup var loading: PluginLoadingOptions

        @Argument(help: "The notifier's name under `notifiers:`.")
        var name: String

        func run() async throws {
            let settings = config.daemonSettings()
            let runtime = try await CommandRuntime.load(
                directories: loading.directories(default: settings.pluginDirectories),
                level: loading.level(default: .warning)
            )
            let loaded = try runtime.loadConfig(config)
            guard let notifier = loaded.notifiers.first(where: { $0.name == name }) else {
                let hint = NameSuggester.nearest(to: name, among: loaded.notifiers.map(\.name)).map { " — did you mean `\($0)`?" } ?? ""
                throw UsageError("no notifier `\(name)` in \(config.configPath)\(hint)")
            }
            let client = SharedHTTPClient.make()
            let result = await NotificationSender.test(notifier, httpClient: client, runCommand: ContainedCommand.run)
            try? await client.shutdown()
            switch result {
            case .success(let answer):
                print("delivered to \(name) (\(notifier.typeName)): \(answer)")
            case .failure(let error):
                print("not delivered to \(name) (\(notifier.typeName)): \(error)")
                throw ExitCode(ExitStatus.pluginFailed)
            }
        }
    }
}

/// Notification commands (`exec` notifiers, curl for `email`) contained like custom plugins:
/// their own session, the whole process group killed at the timeout, output bounded.
enum ContainedCommand {
    static func run(_ executable: String, arguments: [String], environment: [String: String], input: Data, timeout: Duration) async throws -> (status: Int32, output: String) {
        let outcome = try await ContainedProcess.run(.init(
            executable: executable, arguments: arguments, environment: environment, standardInput: Array(input),
            outputLimit: 64 << 10, timeout: timeout
        ))
        let output = String(decoding: outcome.standardOutput + outcome.standardError, as: UTF8.self).prefix(2_000)
        if outcome.timedOut { return (124, "timed out after \(timeout.components.seconds)s; its process group was killed") }
        switch outcome.termination {
        case .exited(let code): return (code, String(output))
        case .signaled(let signal): return (128 + signal, "killed by signal \(signal)")
        }
    }
}
