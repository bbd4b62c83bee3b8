import Testing
@testable import WardenPlugins

/// The Monitoring Plugins Development Guidelines' output format as a table: each row the
/// plugin's bytes and what the guidelines (and nagiosplugin's Range) make of them.
@Suite("Nagios output against the guidelines")
struct NagiosGuidelineTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var output: String
        var longOutput: String
        var labels: [String]
        var problems: Int = 0
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "text only", text: "OK - all fine\n", output: "OK - all fine", longOutput: "", labels: []),
        Row(name: "text and perfdata", text: "DISK OK | /=2643MB;5948;5958;0;5968\n", output: "DISK OK", longOutput: "", labels: ["/"]),
        Row(name: "several items, quoted label with a space",
            text: "OK | 'in use'=5;10;20 time=0.2s\n", output: "OK", longOutput: "", labels: ["in use", "time"]),
        Row(name: "long output, perfdata on a later line",
            text: "OK - 3 disks | /=10%;80;90\n/data fine\n/home fine | /data=20%;80;90\n/home=30%;80;90\n",
            output: "OK - 3 disks", longOutput: "/data fine\n/home fine ", labels: ["/", "/data", "/home"]),
        Row(name: "CR LF: the issue's example",
            text: "OK - 2 disks fine | /=10%;80;90\r\nfree=5 GB on /data\r\n",
            output: "OK - 2 disks fine", longOutput: "free=5 GB on /data", labels: ["/"]),
        Row(name: "CR LF without perfdata on the first line",
            text: "WARNING - slow\r\nfirst detail\r\nsecond detail | t=5s;1;2\r\n",
            output: "WARNING - slow", longOutput: "first detail\nsecond detail ", labels: ["t"]),
        Row(name: "CR LF and LF mixed", text: "OK\r\nline one\nline two\r\n", output: "OK", longOutput: "line one\nline two", labels: []),
        Row(name: "an inverted range is a problem on that item, the others stay",
            text: "OK | a=5;20:10 b=1;2;3\n", output: "OK", longOutput: "", labels: ["b"], problems: 1),
        Row(name: "an inverted critical range, with @", text: "OK | a=5;;@9:3\n", output: "OK", longOutput: "", labels: [], problems: 1),
        Row(name: "a value that is not a number", text: "OK | a=fast\n", output: "OK", longOutput: "", labels: [], problems: 1),
        Row(name: "U: undetermined", text: "UNKNOWN | a=U;1;2\n", output: "UNKNOWN", longOutput: "", labels: ["a"]),
    ]

    @Test(arguments: rows)
    func parsesAsTheGuidelinesSay(_ row: Row) {
        let parsed = NagiosOutput(parsing: row.text)
        #expect(parsed.output == row.output)
        #expect(parsed.longOutput == row.longOutput)
        #expect(parsed.perfdata.map(\.label) == row.labels)
        #expect(parsed.perfdataProblems.count == row.problems, "\(parsed.perfdataProblems)")
    }

    @Test func crlfGivesTheSameResultAsLF() {
        let lf = "OK - 2 disks fine | /=10%;80;90\nfree=5 GB on /data\n"
        #expect(NagiosOutput(parsing: lf.replacingOccurrences(of: "\n", with: "\r\n")) == NagiosOutput(parsing: lf))
    }

    @Test func rangesFollowTheGuidelines() throws {
        #expect(try ThresholdRange.parse("10:20").get().end == 20)
        #expect(try ThresholdRange.parse("10:10").get().start == 10, "start equal to end is allowed")
        guard case .failure(let why) = ThresholdRange.parse("20:10") else {
            Issue.record("20:10 was accepted")
            return
        }
        #expect(why.reason == "its start (20) is above its end (10)")
        #expect(NagiosOutput(parsing: "OK | a=5;20:10\n").perfdataProblems == ["`a=5;20:10`: warning range `20:10`: its start (20) is above its end (10)"])
    }
}
