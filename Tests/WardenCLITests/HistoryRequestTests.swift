import ArgumentParser
import Foundation
import Testing
@testable import warden

/// `warden history` read without ArgumentParser (`QuickArguments`) must mean exactly what
/// ArgumentParser reads, and leave it everything else.
@Suite("history's quick arguments")
struct HistoryRequestTests {
    static let plain: [[String]] = [
        [],
        ["--json"],
        ["--limit", "50", "--json"],
        ["--database", "/var/lib/warden/history.db", "--limit", "50", "--json"],
        ["--database=rel/history.db", "--limit=7", "--csv"],
        ["--config", "/etc/warden/warden.yaml", "--job", "web", "--since", "1h", "--limit", "50", "--json"],
        ["--status", "failing", "--until", "2026-11-24T10:00:00Z", "--attempts"],
        ["--status", "critical,timeout", "--job=db", "--since=7d"],
        ["--remediations", "--rule", "restart-web", "--status", "dry-run", "--json"],
        ["--job", "a=b", "--limit", "3"],
    ]

    @Test(arguments: plain)
    func readsWhatArgumentParserReads(_ arguments: [String]) throws {
        let parsed = try #require(try HistoryCommand.parseAsRoot(arguments) as? HistoryCommand)
        let quick = try #require(HistoryRequest(quickArguments: arguments))
        #expect(quick == parsed.request)
    }

    /// Help, short names, repeats, odd spellings and values ArgumentParser would refuse or read
    /// otherwise: declined, so that ArgumentParser answers them as it always has.
    @Test(arguments: [
        ["--help"], ["-h"], ["help"], ["--version"], ["--json", "--json"], ["--job", "a", "--job", "b"],
        ["--limit", "many"], ["--limit"], ["--job"], ["--job", "--json"], ["--job="], ["--since", "-1h"],
        ["--json=yes"], ["--", "--json"], ["web"], ["--jsn"], ["-j", "web"], ["--experimental-dump-help"],
    ])
    func leavesTheRestToArgumentParser(_ arguments: [String]) {
        #expect(HistoryRequest(quickArguments: arguments) == nil)
    }

    /// The quick reader's names are HistoryCommand's, kind for kind: an option added to the
    /// command and not here would be refused by the quick reader (declined, so slower, not
    /// wrong), one removed from the command and left here would be accepted without it.
    @Test func itsNamesAreTheCommandsNames() throws {
        struct Info: Decodable {
            struct Command: Decodable { var arguments: [Argument]? }
            struct Argument: Decodable {
                struct Name: Decodable { var kind: String; var name: String }
                var kind: String
                var names: [Name]?
            }
            var command: Command
        }
        let info = try JSONDecoder().decode(Info.self, from: Data(HistoryCommand._dumpHelp().utf8))
        var flags = Set<String>(), options = Set<String>()
        for argument in info.command.arguments ?? [] {
            for name in argument.names ?? [] where name.kind == "long" && !["help", "version"].contains(name.name) {
                if argument.kind == "flag" { flags.insert(name.name) } else if argument.kind == "option" { options.insert(name.name) }
            }
        }
        #expect(flags == HistoryRequest.quickFlags)
        #expect(options == HistoryRequest.quickOptions)
    }
}
