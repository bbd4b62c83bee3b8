import Foundation

/// Resolves `${env:NAME}` and `${file:/path}` inside config strings at load time.
///
/// The resolved values are returned alongside the text so that the engine can scrub them
/// from everything it stores or logs; the unresolved text is what gets hashed and shown.
struct SecretResolver: Sendable {
    struct Resolved {
        var text: String
        var secrets: [String]
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    var environment: [String: String]
    /// A secret file bigger than this is refused: it is certainly not a password.
    static let maximumFileSize = 64 * 1024

    func resolve(_ text: String) -> Result<Resolved, Failure> {
        // Most values hold no `$` at all: a byte scan, not Foundation's substring search.
        guard text.utf8.contains(UInt8(ascii: "$")), text.contains("${") else { return .success(Resolved(text: text, secrets: [])) }
        var output = ""
        var secrets: [String] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                return .failure(Failure(description: "unterminated `${` in a value: expected `${env:NAME}` or `${file:/path}`"))
            }
            let reference = rest[open.upperBound..<close]
            switch lookup(reference) {
            case .success(let value):
                output += value
                secrets.append(value)
            case .failure(let failure):
                return .failure(failure)
            }
            rest = rest[rest.index(after: close)...]
        }
        output += rest
        return .success(Resolved(text: output, secrets: secrets))
    }

    private func lookup(_ reference: Substring) -> Result<String, Failure> {
        if reference.hasPrefix("env:") {
            let name = String(reference.dropFirst(4))
            guard !name.isEmpty else { return .failure(Failure(description: "`${env:}` needs a variable name")) }
            guard let value = environment[name] else {
                return .failure(Failure(description: "environment variable `\(name)` (from `${env:\(name)}`) is not set"))
            }
            return .success(value)
        }
        if reference.hasPrefix("file:") {
            let path = String(reference.dropFirst(5))
            guard path.hasPrefix("/") else {
                return .failure(Failure(description: "`${file:\(path)}` needs an absolute path"))
            }
            let data: Data
            switch RegularFile.read(path, limit: Self.maximumFileSize) {
            case .success(let contents): data = contents
            case .failure(let failure):
                return .failure(Failure(description: "cannot read secret file `\(path)` (from `${file:…}`): \(failure.reason)"))
            }
            // Files written with `echo` end in a newline that is not part of the secret.
            var value = String(decoding: data, as: UTF8.self)
            while value.hasSuffix("\n") || value.hasSuffix("\r") { value.removeLast() }
            return .success(value)
        }
        return .failure(Failure(description: "unknown reference `${\(reference)}`: expected `${env:NAME}` or `${file:/path}`"))
    }
}
