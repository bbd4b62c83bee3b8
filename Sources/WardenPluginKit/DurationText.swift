/// Warden's one duration notation, for the config, the command line and every plugin
/// parameter marked `x-duration`: `250ms`, `30s`, `5m`, `1h30m`, `1d`, `2w`; a bare number
/// means seconds.
public enum DurationText {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let text: String
        public var description: String {
            "invalid duration `\(text)`: expected a number with a unit, e.g. 250ms, 30s, 5m, 1h30m, 1d, 2w"
        }
    }

    /// About 285,000 years: far past any sensible duration, far below Int64's range.
    public static let maximumMilliseconds = 9e15

    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000),
    ]

    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw ParseError(text: text) }
        // Every product is bounded before it is converted: a Double past Int64 traps.
        if let seconds = Double(trimmed) {
            guard seconds.isFinite, seconds >= 0, seconds * 1000 < maximumMilliseconds else { throw ParseError(text: text) }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        var rest = Substring(trimmed)
        var total: Int64 = 0
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let amount = Double(digits), amount.isFinite else { throw ParseError(text: text) }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix { $0.isLetter }
            // Longest suffix first so `ms` is not read as `m` followed by garbage.
            guard let unit = units.first(where: { $0.suffix == unitText }) else { throw ParseError(text: text) }
            rest = rest.dropFirst(unitText.count)
            let product = amount * Double(unit.milliseconds)
            guard product < maximumMilliseconds else { throw ParseError(text: text) }
            let (sum, overflow) = total.addingReportingOverflow(Int64(product.rounded()))
            guard !overflow, Double(sum) < maximumMilliseconds else { throw ParseError(text: text) }
            total = sum
        }
        return .milliseconds(total)
    }
}

extension Duration {
    /// `5s`, `0.5s`: for messages about timeouts given in seconds.
    public var formattedSeconds: String { seconds.formattedSeconds }

    /// `2s`, `1m30s`, `250ms`: the same notation `DurationText` reads.
    public var wardenFormatted: String {
        let (seconds, attoseconds) = components
        var milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds == 0 { return "0s" }
        if milliseconds % 1000 != 0 && milliseconds < 1000 { return "\(milliseconds)ms" }
        var parts: [String] = []
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if milliseconds >= size {
                parts.append("\(milliseconds / size)\(unit)")
                milliseconds %= size
            }
        }
        return parts.joined()
    }
}

extension Double {
    /// `20` rather than `20.0`, for numbers in messages; a fraction or a magnitude no Int
    /// holds exactly stays as it is.
    public var plainText: String {
        rounded() == self && abs(self) < 1e15 ? String(Int(self)) : String(self)
    }

    /// Seconds as `30s`, `0.5s`: for messages about durations and thresholds given in seconds.
    public var formattedSeconds: String { plainText + "s" }
}
