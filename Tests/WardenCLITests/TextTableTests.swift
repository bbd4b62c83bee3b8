import Foundation
import Testing
@testable import warden

@Suite("CLI tables")
struct TextTableTests {
    /// A coloured cell lines up with plain ones: its escape sequences take no width.
    @Test func colourTakesNoWidth() {
        let painted = StatusText.paint("critical", colour: true)
        #expect(painted != "critical")
        #expect(TextTable.visibleWidth(painted) == 8)
        #expect(TextTable.visibleWidth("\u{1B}[1;31mé\u{1B}[0m!") == 2)
        // An escape that is not a colour sequence is shown, and counted.
        #expect(TextTable.visibleWidth("\u{1B}[12x") == 5)
        let table = TextTable.render([["STATE", "JOB"], [painted, "web"], ["ok", "db"]])
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.map { TextTable.visibleWidth($0) } == [13, 13, 12])
    }

    @Test func oneLineFlattensEveryLineBreakAndCuts() {
        #expect(RunTable.oneLine("a\r\nb\nc") == "a\r b c")
        #expect(RunTable.oneLine(String(repeating: "x", count: 120)) == String(repeating: "x", count: 99) + "…")
        // 100 Characters of more than 100 bytes stay whole; 101 are cut.
        #expect(RunTable.oneLine(String(repeating: "é", count: 100)) == String(repeating: "é", count: 100))
        #expect(RunTable.oneLine(String(repeating: "é", count: 101)) == String(repeating: "é", count: 99) + "…")
        #expect(RunTable.oneLine("日本\n🚀") == "日本 🚀")
    }

    /// Durations read as printf wrote them (`%.1fms` below 10 ms, `%.0fms` above), except
    /// exactly on a decimal half, where the two may round either way.
    @Test func durationsReadAsPrintfWroteThem() {
        var random = SystemRandomNumberGenerator()
        let micros = [0, 40, 49, 51, 1_250, 9_940, 9_949, 9_951, 9_960, 9_999, 10_000, 10_499, 10_501, 123_456, 99_999_999]
            + (0..<2_000).map { _ in Int.random(in: 0...60_000_000, using: &random) }
        for micro in micros {
            let value = Double(micro) / 1000
            let onAHalf = value < 10 ? micro % 100 == 50 : micro % 1000 == 500
            guard !onAHalf else { continue }
            let printf = value < 10 ? String(format: "%.1fms", value) : String(format: "%.0fms", value)
            #expect(RunTable.milliseconds(.microseconds(micro)) == printf, "\(micro) µs")
        }
    }
}
