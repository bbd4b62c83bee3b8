/// Strict RFC 8259 JSON text to `JSONValue`, without going through `Decodable`: reading a run's
/// stored data through `JSONDecoder` was 8% of `warden history --json`'s instructions, and
/// plugins parse every HTTP body they return as data.
///
/// It answers as `JSONDecoder` decoding a `JSONValue` does (a test holds the two together):
/// a number is an integer when its value is a whole number that fits `Int` (`5.0` and `1e2`
/// included), a fraction otherwise. Whatever it does not accept (malformed text, nesting
/// deeper than Foundation allows, invalid UTF-8) returns nil, and `JSONValue.parse` then asks
/// Foundation, for the same answer or the same error message.
enum JSONTextReader {
    /// Foundation's own limit: deeper text is an error there too.
    static let maximumDepth = 512

    static func value(of bytes: some Collection<UInt8>) -> JSONValue? {
        let contiguous = bytes.withContiguousStorageIfAvailable { parse($0) }
        return contiguous ?? Array(bytes).withUnsafeBufferPointer { parse($0) }
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var cursor = Cursor(bytes: buffer)
        guard let value = cursor.value(depth: 0) else { return nil }
        cursor.skipWhitespace()
        // Not `atEnd ? value : nil`: that `nil` would be JSONValue's own nil literal, `.null`.
        guard cursor.atEnd else { return nil }
        return value
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        var atEnd: Bool { index == bytes.count }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) -> JSONValue? {
            skipWhitespace()
            guard index < bytes.count, depth < JSONTextReader.maximumDepth else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth + 1)
            case UInt8(ascii: "["): return array(depth: depth + 1)
            case UInt8(ascii: "\""): return string().map(JSONValue.string)
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number()
            }
        }

        private mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { return nil }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
            index += count
            return value
        }

        /// Skips whitespace and consumes `byte` if it comes next.
        private mutating func take(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        private mutating func array(depth: Int) -> JSONValue? {
            index += 1
            var items: [JSONValue] = []
            if take(UInt8(ascii: "]")) { return .array(items) }
            while true {
                guard let item = value(depth: depth) else { return nil }
                items.append(item)
                if take(UInt8(ascii: "]")) { return .array(items) }
                guard take(UInt8(ascii: ",")) else { return nil }
            }
        }

        private mutating func object(depth: Int) -> JSONValue? {
            index += 1
            var members: [String: JSONValue] = [:]
            if take(UInt8(ascii: "}")) { return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string(), take(UInt8(ascii: ":")) else { return nil }
                // A repeated key: left to Foundation, whose answer is the one to keep.
                guard let member = value(depth: depth), members.updateValue(member, forKey: key) == nil else { return nil }
                if take(UInt8(ascii: "}")) { return .object(members) }
                guard take(UInt8(ascii: ",")) else { return nil }
            }
        }

        /// At the opening quote; returns the unescaped string and moves past the closing one.
        private mutating func string() -> String? {
            index += 1
            let start = index
            // The common case: no escapes, a slice of the text as it is.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { return nil }
                index += 1
            }
            var unescaped = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: unescaped, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
                    case UInt8(ascii: "b"): unescaped.append(0x08)
                    case UInt8(ascii: "f"): unescaped.append(0x0C)
                    case UInt8(ascii: "n"): unescaped.append(0x0A)
                    case UInt8(ascii: "r"): unescaped.append(0x0D)
                    case UInt8(ascii: "t"): unescaped.append(0x09)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { return nil }
                        unescaped.append(contentsOf: String(Character(scalar)).utf8)
                    default: return nil
                    }
                case 0..<0x20: return nil
                default: unescaped.append(byte)
                }
            }
            return nil
        }

        /// After `\u`: four hex digits, or a surrogate pair written as two escapes.
        private mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let high = hexQuad() else { return nil }
            guard (0xD800...0xDBFF).contains(high) else { return Unicode.Scalar(high) }
            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else { return nil }
            index += 2
            guard let low = hexQuad(), (0xDC00...0xDFFF).contains(low) else { return nil }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        }

        private mutating func hexQuad() -> UInt32? {
            guard bytes.count - index >= 4 else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        private mutating func number() -> JSONValue? {
            let start = index
            let negative = bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            let integerStart = index
            guard let firstDigit = digit() else { return nil }
            if firstDigit != 0 { while digit() != nil {} }
            let integerDigits = bytes[integerStart..<index]
            var fractionDigits = bytes[index..<index]
            var exponent = 0
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                let fractionStart = index
                guard digit() != nil else { return nil }
                while digit() != nil {}
                fractionDigits = bytes[fractionStart..<index]
            }
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                index += 1
                var exponentNegative = false
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    exponentNegative = bytes[index] == UInt8(ascii: "-")
                    index += 1
                }
                guard let first = digit() else { return nil }
                exponent = Int(first)
                while let next = digit() { exponent = min(exponent * 10 + Int(next), 100_000) }
                if exponentNegative { exponent = -exponent }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            // A plain integer (`Int` refuses a fraction or an exponent), `Int.min` included.
            if let whole = Int(text) { return .int(whole) }
            // Foundation decodes `5.0`, `1e2` and `1.5e1` as integers: whole numbers, read
            // exactly from the digits (not through a Double, which rounds beyond 2^53).
            if let magnitude = Self.exactInteger(digits: Array(integerDigits) + fractionDigits, exponent: exponent - fractionDigits.count) {
                return .int(negative ? -magnitude : magnitude)
            }
            guard let number = Double(text), number.isFinite else { return nil }
            // Foundation reads a number too small for a Double (`1e-400`) as the integer 0.
            return number == 0 ? .int(0) : .double(number)
        }

        /// `digits × 10^exponent`, when that is a whole number within Int's range. The
        /// magnitude is what must fit, as in Foundation (`-9.223372036854775808e18` is a Double).
        private static func exactInteger(digits: [UInt8], exponent: Int) -> Int? {
            var digits = digits[...]
            var exponent = exponent
            while exponent < 0, digits.last == UInt8(ascii: "0") {
                digits.removeLast()
                exponent += 1
            }
            guard exponent >= 0 else { return nil }
            var value = 0
            for byte in digits {
                let (scaled, overflowScaling) = value.multipliedReportingOverflow(by: 10)
                let (next, overflowAdding) = scaled.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                guard !overflowScaling, !overflowAdding else { return nil }
                value = next
            }
            guard value != 0 else { return 0 }
            for _ in 0..<exponent {
                let (scaled, overflow) = value.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                value = scaled
            }
            return value
        }

        private mutating func digit() -> UInt8? {
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            index += 1
            return byte - UInt8(ascii: "0")
        }
    }
}
