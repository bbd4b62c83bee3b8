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
    }
}
