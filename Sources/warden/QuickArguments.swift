/// A command line of long options read without ArgumentParser, for the reports scripts run
/// most (`HistoryRequest`). It reads only the plainest spellings — `--name value`,
/// `--name=value`, `--flag`, each name once — and declines everything else (help, short names,
/// `--`, a positional, an unknown name, a value that starts with `-`, an empty value), which
/// then goes to ArgumentParser as before: its answer, help and errors stay the only ones.
struct QuickArguments {
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []

    /// nil: not a command line this reads (see above). Names are given without their `--`.
    init?(_ arguments: [String], flags knownFlags: Set<String>, options knownOptions: Set<String>) {
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else { return nil }
            let body = argument.dropFirst(2)
            let name: String
            var value: String?
            if let equals = body.firstIndex(of: "=") {
                name = String(body[..<equals])
                value = String(body[body.index(after: equals)...])
            } else {
                name = String(body)
            }
            guard !values.keys.contains(name), !flags.contains(name) else { return nil }
            if knownFlags.contains(name) {
                guard value == nil else { return nil }
                flags.insert(name)
            } else if knownOptions.contains(name) {
                if value == nil, index < arguments.endIndex {
                    value = arguments[index]
                    index += 1
                }
                guard let value, !value.isEmpty, !value.hasPrefix("-") else { return nil }
                values[name] = value
            } else {
                return nil
            }
        }
    }
}
