import Synchronization

/// Decodes a `Decodable` type straight from a `JSONValue`, snake_case keys matched to the
/// type's camelCase ones as `JSONDecoder`'s `convertFromSnakeCase` does.
///
/// Plugins read their parameters through it on every run: encoding them to JSON text and
/// parsing that text again cost about a tenth of an HTTP check's instructions (callgrind,
/// BENCHMARKS.md). Numbers follow JSON Schema, as validation did: an integer is also a
/// double, and a double without a fractional part is also an integer.
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: JSONValue, codingPath: [any CodingKey] = []) {
        self.value = value
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: JSONValue].self) }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: Self.camelCased(members), codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch([JSONValue].self) }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(decoder: self) }

    func mismatch(_ type: Any.Type) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "expected \(type), found \(value.typeName)"))
    }

    /// The value as `T`: primitives read directly, anything else through its own `init(from:)`.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is JSONValue.Type: return value as! T
        case is String.Type:
            guard case .string(let text) = value else { throw mismatch(type) }
            return text as! T
        case is Bool.Type:
            guard case .bool(let flag) = value else { throw mismatch(type) }
            return flag as! T
        case is Double.Type:
            guard let number = value.doubleValue else { throw mismatch(type) }
            return number as! T
        case is Float.Type:
            guard let number = value.doubleValue else { throw mismatch(type) }
            return Float(number) as! T
        case let integer as any FixedWidthInteger.Type:
            guard let number = value.intValue, let exact = integer.init(exactly: number) else { throw mismatch(type) }
            return exact as! T
        case let dictionary as any StringKeyedDictionary.Type:
            // Like JSONDecoder: a dictionary's own keys are data, never converted.
            guard case .object(let members) = value else { throw mismatch(type) }
            return try dictionary.decode(members, codingPath: codingPath) as! T
        default:
            return try T(from: self)
        }
    }

    /// `service_url` → `serviceUrl`, as `JSONDecoder.KeyDecodingStrategy.convertFromSnakeCase`
    /// converts it: leading and trailing underscores stay, words after the first are capitalised.
    static func camelCased(_ members: [String: JSONValue]) -> [String: JSONValue] {
        guard members.keys.contains(where: { $0.utf8.contains(UInt8(ascii: "_")) }) else { return members }
        var converted: [String: JSONValue] = [:]
        converted.reserveCapacity(members.count)
        for (key, value) in members { converted[convertedKeys.camelCased(key)] = value }
        return converted
    }

    /// Parameter names are few and fixed by the schemas, and converting one costs more than
    /// looking it up (about 34,000 instructions per run for service_status's three keys).
    static let convertedKeys = KeyCache()

    final class KeyCache: Sendable {
        private let keys = Mutex<[String: String]>([:])
        /// Past this, keys are converted without being kept: a plugin decoding keys that come
        /// from its targets' answers must not grow the daemon.
        static let capacity = 4_096

        func camelCased(_ key: String) -> String {
            if let known = keys.withLock({ $0[key] }) { return known }
            let converted = JSONValueDecoder.camelCased(key)
            keys.withLock { keys in
                if keys.count < Self.capacity { keys[key] = converted }
            }
            return converted
        }
    }

    static func camelCased(_ key: String) -> String {
        guard let first = key.firstIndex(where: { $0 != "_" }) else { return key }
        let last = key.lastIndex(where: { $0 != "_" })!
        let words = key[first...last].split(separator: "_")
        guard words.count > 1 else { return key }
        var result = String(key[..<first])
        result += words[0].lowercased()
        for word in words.dropFirst() { result += word.prefix(1).uppercased() + word.dropFirst().lowercased() }
        result += key[key.index(after: last)...]
        return result
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.keys.compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func decoder(for key: Key) throws -> JSONValueDecoder {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for `\(key.stringValue)`"))
        }
        return JSONValueDecoder(value, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { try decoder(for: key).value == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder(for: key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(for: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { JSONValueDecoder(.object(members), codingPath: codingPath) }

    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(for: key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [JSONValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> JSONValueDecoder {
        let key = PathKey(currentIndex)
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath + [key], debugDescription: "the list has no more items"))
        }
        defer { currentIndex += 1 }
        return JSONValueDecoder(items[currentIndex], codingPath: codingPath + [key])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleValue: SingleValueDecodingContainer {
    let decoder: JSONValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.value == .null }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(type) }
}

private protocol StringKeyedDictionary {
    static func decode(_ members: [String: JSONValue], codingPath: [any CodingKey]) throws -> Self
}

extension Dictionary: StringKeyedDictionary where Key == String, Value: Decodable {
    fileprivate static func decode(_ members: [String: JSONValue], codingPath: [any CodingKey]) throws -> Self {
        try members.reduce(into: [:]) { result, member in
            result[member.key] = try JSONValueDecoder(member.value, codingPath: codingPath + [PathKey(member.key)]).decode(Value.self)
        }
    }
}

/// A list index or a dictionary key in a coding path.
private struct PathKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(_ index: Int) {
        stringValue = "\(index)"
        intValue = index
    }

    init(_ key: String) {
        stringValue = key
        intValue = nil
    }

    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { self.init(intValue) }
}
