/// Compact JSON text, byte for byte what `JSONEncoder` writes with `.sortedKeys` and
/// `.withoutEscapingSlashes` (a test holds the two together), without going through
/// `Encodable`: every run's data and conditions are written this way before they are stored,
/// and the encoder cost about 37,000 instructions per small object (callgrind, BENCHMARKS.md).
enum JSONTextWriter {
    static func write(_ value: JSONValue, to text: inout String) {
        switch value {
        case .null: text += "null"
        case .bool(let flag): text += flag ? "true" : "false"
        case .int(let number): text += String(number)
        case .double(let number): writeNumber(number, to: &text)
        case .string(let string): writeString(string, to: &text)
        case .array(let items):
            text += "["
            for (index, item) in items.enumerated() {
                if index > 0 { text += "," }
                write(item, to: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            // JSONEncoder's `.sortedKeys` compares keys as Strings do.
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                writeString(key, to: &text)
                text += ":"
                write(members[key]!, to: &text)
            }
            text += "}"
        }
    }

    /// Non-finite numbers have no JSON form: null, as `jsonText` always wrote them.
    private static func writeNumber(_ number: Double, to text: inout String) {
        guard number.isFinite else {
            text += "null"
            return
        }
        var digits = number.description
        if digits.hasSuffix(".0") { digits.removeLast(2) }
        text += digits
    }

    private static func writeString(_ string: String, to text: inout String) {
        text += "\""
        var plainStart = string.utf8.startIndex
        let utf8 = string.utf8
        var index = plainStart
        while index != utf8.endIndex {
            let byte = utf8[index]
            let escape: String?
            switch byte {
            case UInt8(ascii: "\""): escape = "\\\""
            case UInt8(ascii: "\\"): escape = "\\\\"
            case 0x08: escape = "\\b"
            case 0x0C: escape = "\\f"
            case 0x0A: escape = "\\n"
            case 0x0D: escape = "\\r"
            case 0x09: escape = "\\t"
            case 0..<0x20:
                let hex = String(byte, radix: 16)
                escape = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escape = nil
            }
            if let escape {
                text += string[plainStart..<index]
                text += escape
                plainStart = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        text += string[plainStart..<utf8.endIndex]
        text += "\""
    }
}
