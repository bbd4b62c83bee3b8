import Foundation
import WardenPluginKit
import Yams

typealias MappingEntry = (key: String, keyNode: Node, value: Node)

extension [MappingEntry] {
    func value(for key: String) -> Node? {
        first { $0.key == key }?.value
    }
}

/// Typed reads of YAML nodes; each failure becomes a problem at the node's position.
extension ConfigReader {
    mutating func problem(at node: Node?, _ message: String) {
        problems.append(ConfigProblem(location: location(of: node), message: Self.shortened(message)))
    }

    /// Messages quote what they refuse: a quoted value of kilobytes is cut to an excerpt, so an
    /// error stays one readable line.
    static func shortened(_ message: String) -> String {
        guard message.utf8.count > 600 else { return message }
        let parts = message.split(separator: "`", omittingEmptySubsequences: false)
        let cut = parts.enumerated().map { index, part in index.isMultiple(of: 2) ? String(part) : excerpt(String(part)) }
        let joined = cut.joined(separator: "`")
        return joined.utf8.count > 1_000 ? excerpt(joined, limit: 1_000) : joined
    }

    func location(of node: Node?) -> ConfigLocation {
        let mark = node?.mark
        return ConfigLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func syntaxProblem(_ error: YamlError, text: String) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at \($0.mark))" } ?? ""
            problems.append(ConfigProblem(location: ConfigLocation(file: file, line: mark.line, column: mark.column), message: "invalid YAML: \(problem)\(detail)"))
        case .duplicatedKeysInMapping(let duplicates, let context):
            problems.append(ConfigProblem(
                location: ConfigLocation(file: file, line: context.mark.line, column: context.mark.column),
                message: "duplicate key \(duplicates.map { "`\($0)`" }.joined(separator: ", ")) in this mapping: each key may appear once"
            ))
        case .reader(let problem, let offset, _, _):
            let prefix = offset.map { String(text.utf8.prefix($0)) ?? "" } ?? ""
            let lines = prefix.split(separator: "\n", omittingEmptySubsequences: false)
            problems.append(ConfigProblem(
                location: ConfigLocation(file: file, line: lines.count, column: (lines.last?.count ?? 0) + 1),
                message: "cannot read the config: \(problem)"
            ))
        default:
            problems.append(ConfigProblem(location: ConfigLocation(file: file, line: 1, column: 1), message: "invalid YAML: \(error)"))
        }
    }

    mutating func mapping(_ node: Node, what: String) -> [MappingEntry]? {
        guard case .mapping(let mapping) = node else {
            problem(at: node, "\(what) must be a mapping (`key: value` lines), got \(describe(node))")
            return nil
        }
        var entries: [MappingEntry] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                problem(at: key, "keys in \(what) must be plain names, got \(describe(key))")
                continue
            }
            entries.append((scalar.string, key, value))
        }
        return entries
    }

    mutating func checkKeys(_ entries: [MappingEntry], allowed: [String], in what: String) {
        for entry in entries where !allowed.contains(entry.key) {
            var message = "unknown key `\(entry.key)` in \(what)"
            if let near = NameSuggester.nearest(to: entry.key, among: allowed) {
                message += " — did you mean `\(near)`?"
            } else {
                message += ": expected one of \(allowed.map { "`\($0)`" }.joined(separator: ", "))"
            }
            problem(at: entry.keyNode, message)
        }
    }

    func isNull(_ node: Node) -> Bool {
        if case .scalar = node { return node.tagName == .null }
        return false
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch node.tagName {
            case .null: return "nothing (null)"
            case .bool: return "the boolean `\(scalar.string)`"
            case .int, .float: return "the number `\(scalar.string)`"
            default: return "the text `\(scalar.string)`"
            }
        }
    }

    mutating func string(_ node: Node, what: String) -> String? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            problem(at: node, "\(what): expected text, got \(describe(node))")
            return nil
        }
        return scalar.string
    }

    mutating func stringList(_ node: Node, what: String) -> [String]? {
        guard case .sequence(let sequence) = node else {
            problem(at: node, "\(what): expected a list of text, got \(describe(node))")
            return nil
        }
        var items: [String] = []
        for item in sequence {
            guard let text = string(item, what: what) else { return nil }
            items.append(text)
        }
        return items
    }

    mutating func integer(_ node: Node, what: String, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar = node, node.tagName == .int, let value = node.int else {
            problem(at: node, "\(what): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            problem(at: node, "\(what): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    mutating func boolean(_ node: Node, what: String) -> Bool? {
        guard case .scalar = node, node.tagName == .bool, let value = node.bool else {
            problem(at: node, "\(what): expected true or false, got \(describe(node))")
            return nil
        }
        return value
    }

    /// A value as an error message may quote it: long ones are cut, so a hostile 5 MB name
    /// does not become a 5 MB message.
    static func excerpt(_ text: String, limit: Int = 64) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }

    /// A duration as text (`250ms`, `30s`, `1h30m`, `1d`); a bare number means seconds.
    mutating func duration(_ node: Node, what: String, positive: Bool) -> Duration? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            problem(at: node, "\(what): expected a duration such as 30s, 5m or 1h30m, got \(describe(node))")
            return nil
        }
        do {
            let value = try DurationText.parse(scalar.string)
            if positive && value <= .zero {
                problem(at: node, "\(what): expected a duration greater than zero, got `\(scalar.string)`")
                return nil
            }
            return value
        } catch {
            problem(at: node, "\(what): \(error.description)")
            return nil
        }
    }
}

extension Node {
    /// The resolved tag (`Tag.name` is internal to Yams; its description is the name).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.description) }
}
