import Foundation
import WardenPluginKit

/// Finds the runbooks (Markdown files in `daemon.runbooks`) that best match keywords, so a
/// rule can attach "what to do" to a remediation record as a context step.
public struct RunbookSearchPlugin: Plugin {
    public let spec = PluginSpec(
        name: "runbook.search",
        description: "Search the runbook directory (daemon.runbooks, Markdown) for keywords; returns the best matches with title and snippet.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "query": ["type": "string", "description": "Keywords, e.g. \"nginx 502 upstream\".", "minLength": 1, "maxLength": 512],
                "limit": ["type": "integer", "description": "Most matches returned.", "default": 3, "minimum": 1, "maximum": 50],
            ],
            "required": ["query"],
            "additionalProperties": false,
        ]
    )

    public init() {}

    struct Match {
        var path: String
        var title: String
        var snippet: String
        var score: Double
    }

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let query = try parameters.required("query", \.stringValue)
        let limit = parameters["limit"]?.intValue ?? 3
        let directory = context.limits.runbooks
        let keywords = Set(query.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init).filter { $0.count > 1 })
        guard !keywords.isEmpty else { throw PluginError("the query has no keywords") }
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else {
            throw PluginError("cannot read the runbook directory \(directory) (daemon.runbooks)")
        }
        var matches: [Match] = []
        var scanned = 0
        while let relative = enumerator.nextObject() as? String {
            guard relative.hasSuffix(".md"), scanned < 10_000 else { continue }
            scanned += 1
            let path = (directory as NSString).appendingPathComponent(relative)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            if let match = Self.score(text, path: path, keywords: keywords) { matches.append(match) }
        }
        let best = matches.sorted { ($0.score, $1.path) > ($1.score, $0.path) }.prefix(limit)
        let data: JSONValue = [
            "query": .string(query), "searched": .int(scanned),
            "matches": .array(best.map { ["path": .string($0.path), "title": .string($0.title), "snippet": .string($0.snippet), "score": .double($0.score)] }),
        ]
        guard let top = best.first else {
            return PluginResult(success: false, data: data, message: "no runbook matches \"\(query)\" (\(scanned) searched)", error: "no match")
        }
        return .ok(data, message: "\(best.count) runbook\(best.count == 1 ? "" : "s") for \"\(query)\"; best: \(top.title)")
    }

    /// Keyword hits, with the title counting three times; the snippet is the first line with a hit.
    static func score(_ text: String, path: String, keywords: Set<String>) -> Match? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let title = lines.first { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)).trimmingWhitespace() }
            ?? ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        func words(_ line: Substring) -> [String] {
            line.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
        }
        var score = Double(words(Substring(title)).filter(keywords.contains).count * 3)
        var snippet: String?
        var matched = Set(words(Substring(title)).filter(keywords.contains))
        for line in lines {
            let hits = words(line).filter(keywords.contains)
            guard !hits.isEmpty else { continue }
            score += Double(hits.count)
            matched.formUnion(hits)
            if snippet == nil && !line.hasPrefix("#") { snippet = String(line).trimmingWhitespace() }
        }
        guard score > 0 else { return nil }
        // Covering more of the keywords beats repeating one of them.
        score *= Double(matched.count) / Double(keywords.count)
        return Match(path: path, title: title, snippet: String((snippet ?? title).prefix(240)), score: (score * 100).rounded() / 100)
    }
}
