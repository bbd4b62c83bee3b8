import Foundation
import Yams

/// What a config file may hold at most. Each bound, when passed, is a positioned error rather
/// than a crash, a hang or a daemon that takes minutes to refuse a reload (docs/configuration.md).
public enum ConfigLimits {
    /// The whole file. A config for hundreds of jobs is a few hundred KiB.
    public static let fileBytes = 4 << 20
    /// One value (a string, a key).
    public static let valueBytes = 64 << 10
    /// Values after YAML aliases are expanded: a "billion laughs" document stops here, and
    /// 10,000 jobs (about 150,000 values) pass.
    public static let values = 1_000_000
    /// Nesting of mappings and sequences.
    public static let depth = 64

    /// The text as UTF-8, or where its first invalid byte is.
    struct InvalidByte: Error {
        var line: Int
        var column: Int
    }

    static func decode(_ data: Data) -> Result<String, InvalidByte> {
        if let text = String(validating: data, as: UTF8.self) { return .success(text) }
        var parser = Unicode.UTF8.ForwardParser()
        var bytes = data.makeIterator()
        var line = 1, column = 1
        while true {
            switch parser.parseScalar(from: &bytes) {
            case .valid(let scalar):
                if scalar.count == 1 && scalar.first == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .error:
                return .failure(InvalidByte(line: line, column: column))
            case .emptyInput:
                return .failure(InvalidByte(line: line, column: column))
            }
        }
    }

    /// Walks the composed document as the reader will (aliases expanded), stopping at the
    /// first bound passed: the node and what is wrong.
    static func check(_ root: Node) -> (node: Node, message: String)? {
        var count = 0
        func walk(_ node: Node, depth: Int) -> (node: Node, message: String)? {
            count += 1
            if count > values {
                return (node, "the config expands to more than \(values) values (YAML aliases counted each time they are used)")
            }
            if depth > Self.depth { return (node, "values are nested more than \(Self.depth) levels deep") }
            switch node {
            case .scalar(let scalar):
                let size = scalar.string.utf8.count
                if size > valueBytes { return (node, "a value of \(size) bytes: at most \(valueBytes >> 10) KiB") }
            case .mapping(let mapping):
                for (key, value) in mapping {
                    if let found = walk(key, depth: depth + 1) ?? walk(value, depth: depth + 1) { return found }
                }
            case .sequence(let sequence):
                for item in sequence {
                    if let found = walk(item, depth: depth + 1) { return found }
                }
            case .alias:
                break
            }
            return nil
        }
        return walk(root, depth: 0)
    }
}
