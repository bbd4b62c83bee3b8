/// Compact JSON text, byte for byte what `JSONEncoder` writes with `.sortedKeys` and
/// `.withoutEscapingSlashes` (a test holds the two together), without going through
/// `Encodable`: every run's data and conditions are written this way before they are stored,
/// and the encoder cost about 37,000 instructions per small object (callgrind, BENCHMARKS.md).
/// Bytes are gathered in an array and made a String once: appending each piece to a String
/// was most of the 11,000 instructions a check's small object still cost.
///
/// `pretty` adds `.prettyPrinted`'s layout (two-space indents, `" : "`, an empty container
/// written across two lines), again byte for byte: `warden history --json` spent 40% of its
/// instructions in the encoder's per-value protocol-conformance lookups (callgrind).
enum JSONTextWriter {
    static func text(of value: JSONValue, pretty: Bool = false) -> String {
        var writer = Writer(pretty: pretty)
        writer.bytes.reserveCapacity(pretty ? 4096 : 128)
        writer.write(value, depth: 0)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    private struct Writer {
        let pretty: Bool
        var bytes: [UInt8] = []

        mutating func write(_ value: JSONValue, depth: Int) {
            switch value {
            case .null: bytes.append(contentsOf: "null".utf8)
            case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
            case .int(let number): bytes.append(contentsOf: String(number).utf8)
            case .double(let number): JSONTextWriter.writeNumber(number, to: &bytes)
            case .string(let string): JSONTextWriter.writeString(string, to: &bytes)
            case .array(let items):
                open(UInt8(ascii: "["))
                for (index, item) in items.enumerated() {
                    separate(first: index == 0, depth: depth + 1)
                    write(item, depth: depth + 1)
                }
                close(UInt8(ascii: "]"), depth: depth)
            case .object(let members):
                open(UInt8(ascii: "{"))
                // JSONEncoder's `.sortedKeys` compares keys as Strings do.
                for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                    separate(first: index == 0, depth: depth + 1)
                    JSONTextWriter.writeString(member.key, to: &bytes)
                    if pretty {
                        bytes.append(contentsOf: " : ".utf8)
                    } else {
                        bytes.append(UInt8(ascii: ":"))
                    }
                    write(member.value, depth: depth + 1)
                }
                close(UInt8(ascii: "}"), depth: depth)
            }
        }

        private mutating func open(_ bracket: UInt8) {
            bytes.append(bracket)
            if pretty { bytes.append(UInt8(ascii: "\n")) }
        }

        private mutating func separate(first: Bool, depth: Int) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            guard pretty else { return }
            if !first { bytes.append(UInt8(ascii: "\n")) }
            indent(depth)
        }

        private mutating func close(_ bracket: UInt8, depth: Int) {
            if pretty {
                bytes.append(UInt8(ascii: "\n"))
                indent(depth)
            }
            bytes.append(bracket)
        }

        private mutating func indent(_ depth: Int) {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
        }
    }

    /// Non-finite numbers have no JSON form: null, as `jsonText` always wrote them.
    fileprivate static func writeNumber(_ number: Double, to bytes: inout [UInt8]) {
        guard number.isFinite else { return bytes.append(contentsOf: "null".utf8) }
        let digits = number.description.utf8
        // `5.0` is written `5`, as JSONEncoder writes it.
        if digits.count > 2, digits.suffix(2).elementsEqual(".0".utf8) {
            bytes.append(contentsOf: digits.dropLast(2))
        } else {
            bytes.append(contentsOf: digits)
        }
    }

    fileprivate static func writeString(_ string: String, to bytes: inout [UInt8]) {
        var string = string
        string.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            // Most strings (keys, plugin messages) need no escape: copied at once, where a
            // byte at a time was most of the writer's cost.
            if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(contentsOf: utf8)
            } else {
                for byte in utf8 { escape(byte, to: &bytes) }
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    private static func escape(_ byte: UInt8, to bytes: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
        case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
        case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
        case 0x0C: bytes.append(contentsOf: #"\f"#.utf8)
        case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
        case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
        case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
        case 0..<0x20:
            bytes.append(contentsOf: #"\u00"#.utf8)
            bytes.append(hexDigits[Int(byte >> 4)])
            bytes.append(hexDigits[Int(byte & 0xF)])
        default: bytes.append(byte)
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
