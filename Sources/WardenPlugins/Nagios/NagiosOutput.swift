import WardenPluginKit

/// Output of a Nagios / monitoring-plugins check, parsed per the Monitoring Plugins
/// Development Guidelines: `TEXT | PERFDATA` on the first line, long output on the
/// following lines, more perfdata after a `|` on any later line.
public struct NagiosOutput: Sendable, Hashable {
    public var output: String
    public var longOutput: String
    public var perfdata: [PerfdataItem]
    /// Perfdata items that could not be read, each with why (`'a'=5;20:10`: a range whose
    /// start is above its end). Skipped, and said.
    public var perfdataProblems: [String] = []

    public init(parsing text: String) {
        // A line ends at LF, CR LF (Windows agents, NSClient++, PowerShell) or CR. Swift reads
        // CR LF as one Character, so splitting on "\n" alone kept it whole.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let first = lines.first else {
            self.init(output: "", longOutput: "", perfdata: [])
            return
        }
        var perfText: [String] = []
        let (firstText, firstPerf) = Self.splitAtBar(first)
        if let firstPerf { perfText.append(firstPerf) }

        var longLines: [String] = []
        var inPerfdata = false
        for line in lines.dropFirst() {
            if inPerfdata {
                perfText.append(line)
            } else if let bar = line.firstIndex(of: "|") {
                let before = String(line[..<bar])
                if !before.trimmingWhitespace().isEmpty { longLines.append(before) }
                perfText.append(String(line[line.index(after: bar)...]))
                inPerfdata = true
            } else {
                longLines.append(line)
            }
        }
        let parsed = perfText.flatMap(PerfdataItem.parseEach)
        self.init(
            output: firstText.trimmingWhitespace(),
            longOutput: longLines.joined(separator: "\n"),
            perfdata: parsed.compactMap { try? $0.get() }
        )
        perfdataProblems = parsed.compactMap { result in
            if case .failure(let problem) = result { return problem.description }
            return nil
        }
    }

    public init(output: String, longOutput: String, perfdata: [PerfdataItem]) {
        self.output = output
        self.longOutput = longOutput
        self.perfdata = perfdata
    }

    private static func splitAtBar(_ line: String) -> (String, String?) {
        guard let bar = line.firstIndex(of: "|") else { return (line, nil) }
        return (String(line[..<bar]), String(line[line.index(after: bar)...]))
    }
}

/// One `'label'=value[UOM];[warn];[crit];[min];[max]` item.
public struct PerfdataItem: Sendable, Hashable {
    public var label: String
    /// nil when the plugin reported `U` (the value could not be determined).
    public var value: Double?
    public var unit: String
    public var warning: ThresholdRange?
    public var critical: ThresholdRange?
    public var minimum: Double?
    public var maximum: Double?

    /// Parses every item in a perfdata string; malformed items are skipped, not fatal.
    public static func parseAll(_ text: String) -> [PerfdataItem] {
        parseEach(text).compactMap { try? $0.get() }
    }

    /// Every item, or why it could not be read.
    public static func parseEach(_ text: String) -> [Result<PerfdataItem, PerfdataProblem>] {
        tokens(text).map { token in
            do throws(PerfdataProblem) { return .success(try PerfdataItem(parsing: token)) } catch { return .failure(error) }
        }
    }

    init(parsing token: String) throws(PerfdataProblem) {
        func problem(_ why: String) -> PerfdataProblem { PerfdataProblem(token: token, reason: why) }
        guard let equals = Self.labelEnd(token) else { throw problem("expected 'label'=value") }
        var label = String(token[..<equals])
        if label.hasPrefix("'"), label.hasSuffix("'"), label.count >= 2 {
            label = String(label.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
        }
        guard !label.isEmpty else { throw problem("the label is empty") }
        let fields = token[token.index(after: equals)...].split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        guard let valueField = fields.first, !valueField.isEmpty else { throw problem("the value is missing") }

        if valueField == "U" {
            value = nil
            unit = ""
        } else {
            let numberPart = valueField.prefix { $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }
            // "1e" style ambiguities: fall back to the longest prefix that parses.
            var parsed: (Double, Int)?
            var length = numberPart.count
            while length > 0, parsed == nil {
                if let number = Double(numberPart.prefix(length)) { parsed = (number, length) }
                length -= 1
            }
            guard let (number, used) = parsed else { throw problem("the value `\(valueField)` is not a number") }
            value = number
            unit = String(valueField.dropFirst(used))
        }
        self.label = label
        func field(_ index: Int) -> String? {
            index < fields.count && !fields[index].isEmpty ? fields[index] : nil
        }
        func range(_ index: Int, _ name: String) throws(PerfdataProblem) -> ThresholdRange? {
            guard let text = field(index) else { return nil }
            switch ThresholdRange.parse(text) {
            case .success(let range): return range
            case .failure(let why): throw problem("\(name) range `\(text)`: \(why)")
            }
        }
        warning = try range(1, "warning")
        critical = try range(2, "critical")
        minimum = field(3).flatMap(Double.init)
        maximum = field(4).flatMap(Double.init)
    }

    /// The `=` that ends the label; a quoted label may itself contain `=` and spaces.
    private static func labelEnd(_ token: String) -> String.Index? {
        if token.hasPrefix("'") {
            var index = token.index(after: token.startIndex)
            while index < token.endIndex {
                if token[index] == "'" {
                    let next = token.index(after: index)
                    if next < token.endIndex, token[next] == "'" {
                        index = token.index(after: next)
                        continue
                    }
                    return next < token.endIndex && token[next] == "=" ? next : nil
                }
                index = token.index(after: index)
            }
            return nil
        }
        return token.firstIndex(of: "=")
    }

    /// Splits on spaces outside single-quoted labels.
    static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "'" { quoted.toggle() }
            if character.isWhitespace && !quoted {
                if !current.isEmpty { tokens.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    public var json: JSONValue {
        [
            "label": .string(label),
            "value": value.map(JSONValue.double) ?? .null,
            "uom": .string(unit),
            "warn": warning?.json ?? .null,
            "crit": critical?.json ?? .null,
            "min": minimum.map(JSONValue.double) ?? .null,
            "max": maximum.map(JSONValue.double) ?? .null,
        ]
    }
}

/// A perfdata item that could not be read, and why.
public struct PerfdataProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var token: String
    public var reason: String
    public var description: String { "`\(token)`: \(reason)" }
}

/// A threshold range (`10`, `10:`, `~:10`, `10:20`, `@10:20`). A value alerts when it lies
/// outside `start...end`, or inside it when the range starts with `@`.
public struct ThresholdRange: Sendable, Hashable {
    public var raw: String
    public var start: Double
    public var end: Double
    public var alertInside: Bool

    /// The range, or why it is not one. The guidelines require start ≤ end: `20:10` is an
    /// error (nagiosplugin.Range refuses it too), not a range nothing can satisfy.
    public static func parse(_ text: String) -> Result<ThresholdRange, Invalid> {
        guard let range = ThresholdRange(text) else { return .failure(Invalid(reason: "not a range (expected e.g. 10, 10:, ~:10, 10:20, @10:20)")) }
        guard range.start <= range.end else { return .failure(Invalid(reason: "its start (\(range.start.plainText)) is above its end (\(range.end.plainText))")) }
        return .success(range)
    }

    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public init?(_ text: String) {
        var body = Substring(text)
        alertInside = body.hasPrefix("@")
        if alertInside { body = body.dropFirst() }
        let startValue: Double
        let endValue: Double
        if let colon = body.firstIndex(of: ":") {
            let left = body[..<colon], right = body[body.index(after: colon)...]
            if left == "~" {
                startValue = -.infinity
            } else if left.isEmpty {
                startValue = 0
            } else if let number = Double(left) {
                startValue = number
            } else {
                return nil
            }
            if right.isEmpty {
                endValue = .infinity
            } else if let number = Double(right) {
                endValue = number
            } else {
                return nil
            }
        } else {
            guard let number = Double(body) else { return nil }
            startValue = 0
            endValue = number
        }
        raw = text
        start = startValue
        end = endValue
    }

    public func alerts(_ value: Double) -> Bool {
        let inside = value >= start && value <= end
        return alertInside ? inside : !inside
    }

    public var json: JSONValue {
        [
            "raw": .string(raw),
            "start": start.isFinite ? .double(start) : .null,
            "end": end.isFinite ? .double(end) : .null,
            "alert_inside": .bool(alertInside),
        ]
    }
}
