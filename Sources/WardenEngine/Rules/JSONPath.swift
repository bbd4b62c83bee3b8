import WardenPluginKit

/// A path below a JSON value — keys and indexes, a negative index counting from the end —
/// and the one evaluator behind both `expect:` conditions (`data.items[0].name`) and rule
/// templates (`{{ run.data.items[0].name }}`), so both read a result the same way.
struct JSONPath: Sendable, Hashable {
    enum Step: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    var steps: [Step]

    init(_ steps: [Step]) {
        self.steps = steps
    }

    /// The template form below a root: `.a.b[0]`, `["a key"]`; nil when malformed.
    init?(parsing text: Substring) {
        var steps: [Step] = []
        var rest = text
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let key = rest.prefix { $0 != "." && $0 != "[" }
                guard !key.isEmpty else { return nil }
                steps.append(.key(String(key)))
                rest = rest.dropFirst(key.count)
            } else if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                let inside = rest[rest.index(after: rest.startIndex)..<close]
                if let index = Int(inside) {
                    steps.append(.index(index))
                } else if inside.count >= 2, inside.first == "\"", inside.last == "\"" {
                    steps.append(.key(String(inside.dropFirst().dropLast())))
                } else {
                    return nil
                }
                rest = rest[rest.index(after: close)...]
            } else {
                return nil
            }
        }
        self.steps = steps
    }

    /// The value the path points at, or nil when any step is missing or meets the wrong type.
    func resolve(in root: JSONValue) -> JSONValue? {
        var current = root
        for step in steps {
            switch (step, current) {
            case (.key(let key), .object(let members)):
                guard let next = members[key] else { return nil }
                current = next
            case (.index(let index), .array(let items)):
                let position = index >= 0 ? index : items.count + index
                guard items.indices.contains(position) else { return nil }
                current = items[position]
            default:
                return nil
            }
        }
        return current
    }
}
