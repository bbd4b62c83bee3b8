import WardenPluginKit

/// A job's `expect:` condition, Gatus-style: a small expression over a plugin's result.
///
/// `data.status_code == 200`, `data.response_time < 0.5`, `data.state in ["ok", "warning"]`,
/// `len(data.items) > 0`, `has(data.error) == false`, `not success or retry`.
/// Operators `== != < <= > >= in and or not`, literals (numbers, strings, true, false, null,
/// lists), dotted paths with `[n]` indexing from `data`, `success`, `message`, `error`,
/// `retry`, and the functions `len` and `has`. Parsed once at config load; evaluation walks
/// the tree over the result without copying it.
public struct Expectation: Sendable, Hashable, CustomStringConvertible {
    public let description: String
    let root: Expr
    /// What the run is when this condition fails (`expect: {condition: …, severity: warning}`).
    public var severity: Severity = .critical

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// 0-based character offset in the expression.
        public let offset: Int
        public let message: String
        public var description: String { message }
    }

    public init(_ text: String) throws(ParseError) {
        var parser = ExpressionParser(text)
        root = try parser.parseAll()
        description = text
    }

    /// Evaluates against a result. Anything but `true` counts as the condition failing.
    public func evaluate(_ result: PluginResult) -> (passed: Bool, value: JSONValue) {
        let context = EvaluationContext(result: result)
        let value = root.evaluate(context)
        return (value == .bool(true), Self.leftValue(root, context) ?? value)
    }

    /// For a comparison, the left side's value: what `explain` shows next to the condition.
    private static func leftValue(_ expr: Expr, _ context: EvaluationContext) -> JSONValue? {
        if case .binary(_, let left, _) = expr { return left.evaluate(context) }
        return nil
    }
}

indirect enum Expr: Sendable, Hashable {
    case literal(JSONValue)
    case path(root: String, steps: JSONPath)
    case list([Expr])
    case not(Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case binary(BinaryOperator, Expr, Expr)
    case length(Expr)
    case has(Expr)

    enum BinaryOperator: String, Sendable, Hashable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", isIn = "in"
    }

    static let roots = ["data", "success", "message", "error", "retry"]
}

struct EvaluationContext {
    let result: PluginResult

    func root(_ name: String) -> JSONValue? {
        switch name {
        case "data": return result.data
        case "success": return .bool(result.success)
        case "message": return .string(result.message)
        case "error": return result.error.map(JSONValue.string)
        case "retry": return .bool(result.retry)
        default: return nil
        }
    }
}

extension Expr {
    /// Missing paths evaluate to null; type mismatches in comparisons to false.
    func evaluate(_ context: EvaluationContext) -> JSONValue {
        switch self {
        case .literal(let value):
            return value
        case .path:
            return resolve(context) ?? .null
        case .list(let items):
            return .array(items.map { $0.evaluate(context) })
        case .not(let inner):
            return .bool(inner.evaluate(context) != .bool(true))
        case .and(let left, let right):
            return .bool(left.evaluate(context) == .bool(true) && right.evaluate(context) == .bool(true))
        case .or(let left, let right):
            return .bool(left.evaluate(context) == .bool(true) || right.evaluate(context) == .bool(true))
        case .length(let inner):
            switch inner.evaluate(context) {
            case .array(let items): return .int(items.count)
            case .object(let members): return .int(members.count)
            case .string(let text): return .int(text.count)
            default: return .int(0)
            }
        case .has(let inner):
            if case .path = inner { return .bool(inner.resolve(context) != nil) }
            return .bool(inner.evaluate(context) != .null)
        case .binary(let op, let left, let right):
            return .bool(Self.compare(op, left.evaluate(context), right.evaluate(context)))
        }
    }

    /// The value a path points at, or nil when any step is missing.
    func resolve(_ context: EvaluationContext) -> JSONValue? {
        guard case .path(let root, let path) = self, let start = context.root(root) else { return nil }
        return path.resolve(in: start)
    }

    static func compare(_ op: BinaryOperator, _ left: JSONValue, _ right: JSONValue) -> Bool {
        switch op {
        case .equal: return equal(left, right)
        case .notEqual: return !equal(left, right)
        case .isIn:
            if case .array(let items) = right { return items.contains { equal(left, $0) } }
            if case .string(let haystack) = right, case .string(let needle) = left { return haystack.contains(needle) }
            return false
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order: Int
            if let a = left.doubleValue, let b = right.doubleValue, left.isNumber, right.isNumber {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else if case .string(let a) = left, case .string(let b) = right {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else {
                return false
            }
            switch op {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        }
    }

    /// Numbers compare by value (200 == 200.0); everything else structurally.
    static func equal(_ left: JSONValue, _ right: JSONValue) -> Bool {
        if left.isNumber && right.isNumber { return left.doubleValue == right.doubleValue }
        return left == right
    }
}

extension JSONValue {
    var isNumber: Bool {
        switch self {
        case .int, .double: return true
        default: return false
        }
    }
}

/// Recursive descent over a tiny token stream.
struct ExpressionParser {
    enum Token: Equatable {
        case number(JSONValue), string(String), identifier(String), symbol(String), end
    }

    private let characters: [Character]
    private var position = 0
    private var token: Token = .end
    private var tokenStart = 0
    /// Nesting and size bounds: the parser, the evaluator and the tree's teardown all recurse,
    /// so a hostile condition must be refused before it can exhaust the stack.
    private var depth = 0
    private var values = 0
    static let maximumDepth = 64
    static let maximumValues = 1_000

    init(_ text: String) {
        characters = Array(text)
    }

    mutating func parseAll() throws(Expectation.ParseError) -> Expr {
        try advance()
        guard token != .end else { throw error("empty condition: expected an expression such as `data.status_code == 200`") }
        let expr = try parseOr()
        guard token == .end else { throw error("unexpected \(describe(token)) after a complete expression") }
        return expr
    }

    private func error(_ message: String) -> Expectation.ParseError {
        Expectation.ParseError(offset: tokenStart, message: message)
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case .number(let value): return "number `\(value.jsonText())`"
        case .string(let text): return "string \"\(text)\""
        case .identifier(let name): return "`\(name)`"
        case .symbol(let symbol): return "`\(symbol)`"
        case .end: return "end of the condition"
        }
    }

    private mutating func parseOr() throws(Expectation.ParseError) -> Expr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("the condition nests deeper than \(Self.maximumDepth) levels") }
        var left = try parseAnd()
        while token == .identifier("or") {
            try advance()
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws(Expectation.ParseError) -> Expr {
        var left = try parseNot()
        while token == .identifier("and") {
            try advance()
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws(Expectation.ParseError) -> Expr {
        if token == .identifier("not") {
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maximumDepth else { throw error("the condition nests deeper than \(Self.maximumDepth) levels") }
            try advance()
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws(Expectation.ParseError) -> Expr {
        let left = try parseValue()
        let op: Expr.BinaryOperator?
        switch token {
        case .symbol(let symbol): op = Expr.BinaryOperator(rawValue: symbol)
        case .identifier("in"): op = .isIn
        default: op = nil
        }
        guard let op else { return left }
        try advance()
        return .binary(op, left, try parseValue())
    }

    private mutating func parseValue() throws(Expectation.ParseError) -> Expr {
        values += 1
        guard values <= Self.maximumValues else { throw error("the condition has more than \(Self.maximumValues) values") }
        switch token {
        case .number(let value):
            try advance()
            return .literal(value)
        case .string(let text):
            try advance()
            return .literal(.string(text))
        case .symbol("("):
            try advance()
            let inner = try parseOr()
            try expect(")")
            return inner
        case .symbol("["):
            try advance()
            var items: [Expr] = []
            if token != .symbol("]") {
                items.append(try parseOr())
                while token == .symbol(",") {
                    try advance()
                    items.append(try parseOr())
                }
            }
            try expect("]")
            // A list of literals is built once, here, not on every evaluation.
            let literals = items.compactMap { item -> JSONValue? in
                if case .literal(let value) = item { return value }
                return nil
            }
            return literals.count == items.count ? .literal(.array(literals)) : .list(items)
        case .identifier(let name):
            switch name {
            case "true": try advance(); return .literal(.bool(true))
            case "false": try advance(); return .literal(.bool(false))
            case "null": try advance(); return .literal(.null)
            case "len", "has":
                try advance()
                try expect("(")
                let argumentStart = tokenStart
                let argument = try parseOr()
                try expect(")")
                if name == "has", case .path = argument {} else if name == "has" {
                    throw Expectation.ParseError(offset: argumentStart, message: "has() takes a path such as `data.error`")
                }
                return name == "len" ? .length(argument) : .has(argument)
            default:
                guard Expr.roots.contains(name) else {
                    let hint = NameSuggester.nearest(to: name, among: Expr.roots + ["len", "has"]).map { " — did you mean `\($0)`?" } ?? ""
                    throw error("unknown name `\(name)`: a path starts with \(Expr.roots.joined(separator: ", "))\(hint)")
                }
                try advance()
                return .path(root: name, steps: try parseSteps())
            }
        default:
            throw error("expected a value, a path or `(`, got \(describe(token))")
        }
    }

    private mutating func parseSteps() throws(Expectation.ParseError) -> JSONPath {
        var steps: [JSONPath.Step] = []
        while true {
            if token == .symbol(".") {
                // Keys may be any word, including ones that are keywords elsewhere.
                guard case .identifier(let key) = try nextRaw() else { throw error("expected a key after `.`") }
                steps.append(.key(key))
                try advance()
            } else if token == .symbol("[") {
                try advance()
                switch token {
                case .number(.int(let index)): steps.append(.index(index))
                case .string(let key): steps.append(.key(key))
                default: throw error("expected an index such as [0] or a key such as [\"name\"]")
                }
                try advance()
                try expect("]")
            } else {
                return JSONPath(steps)
            }
        }
    }

    private mutating func expect(_ symbol: String) throws(Expectation.ParseError) {
        guard token == .symbol(symbol) else { throw error("expected `\(symbol)`, got \(describe(token))") }
        try advance()
    }

    private mutating func nextRaw() throws(Expectation.ParseError) -> Token {
        try advance()
        return token
    }

    private mutating func advance() throws(Expectation.ParseError) {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
        tokenStart = position
        guard position < characters.count else {
            token = .end
            return
        }
        let character = characters[position]
        if character.isNumber || (character == "-" && position + 1 < characters.count && characters[position + 1].isNumber) {
            var end = position + 1
            while end < characters.count, characters[end].isNumber || characters[end] == "." || characters[end] == "e" || characters[end] == "E" {
                end += 1
            }
            let text = String(characters[position..<end])
            position = end
            if let integer = Int(text) {
                token = .number(.int(integer))
            } else if let double = Double(text), double.isFinite {
                token = .number(.double(double))
            } else {
                throw error("invalid number `\(text)`")
            }
        } else if character == "\"" || character == "'" {
            var end = position + 1
            var text = ""
            while end < characters.count, characters[end] != character {
                if characters[end] == "\\", end + 1 < characters.count { end += 1 }
                text.append(characters[end])
                end += 1
            }
            guard end < characters.count else { throw error("unterminated string") }
            position = end + 1
            token = .string(text)
        } else if character.isLetter || character == "_" {
            var end = position + 1
            while end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "_" || characters[end] == "-" {
                end += 1
            }
            token = .identifier(String(characters[position..<end]))
            position = end
        } else {
            let two = position + 1 < characters.count ? String(characters[position...position + 1]) : ""
            if ["==", "!=", "<=", ">="].contains(two) {
                token = .symbol(two)
                position += 2
            } else if "<>()[],.".contains(character) {
                token = .symbol(String(character))
                position += 1
            } else if character == "=" {
                throw error("`=` is not a comparison: use `==`")
            } else {
                throw error("unexpected character `\(character)`")
            }
        }
    }
}
