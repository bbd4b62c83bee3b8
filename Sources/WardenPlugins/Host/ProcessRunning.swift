import Foundation
import WardenPluginKit

/// Whether a process runs: by name, by a regular expression over the full command line, or
/// by a pid file; with count, pids and resident memory.
public struct ProcessRunningPlugin: Plugin {
    public let spec = PluginSpec(
        name: "process_running",
        description: "Find processes by name, command-line regex or pid file; count, pids and RSS; fails outside min/max count.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "name": ["type": "string", "description": "Exact process name (/proc/PID/comm, at most 15 characters).", "minLength": 1],
                "pattern": ["type": "string", "description": "Regular expression matched against the full command line.", "minLength": 1],
                "pid_file": ["type": "string", "description": "A pid file; the process it names must be alive.", "pattern": "^/"],
                "min_count": ["type": "integer", "description": "Fail when fewer processes match.", "default": 1, "minimum": 0],
                "max_count": ["type": "integer", "description": "Fail when more processes match (optional).", "minimum": 0],
            ],
            "additionalProperties": false,
        ]
    )

    public init() {}

    struct Found {
        var pid: Int
        var name: String
        var commandLine: String
        var rssBytes: Int
    }

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let selectors = ["name", "pattern", "pid_file"].filter { parameters[$0] != nil }
        guard selectors.count == 1 else {
            throw PluginError("give exactly one of `name`, `pattern` or `pid_file` (got \(selectors.isEmpty ? "none" : selectors.joined(separator: ", ")))")
        }
        let minimum = try parameters.required("min_count", \.intValue)
        let maximum = parameters["max_count"]?.intValue
        var found: [Found] = []
        var described: String
        if let pidFile = parameters["pid_file"]?.stringValue {
            described = "pid file \(pidFile)"
            let text = (try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingWhitespace() ?? ""
            if let pid = Int(text), let process = Self.read(pid) { found = [process] }
        } else {
            let regex: NSRegularExpression?
            if let pattern = parameters["pattern"]?.stringValue {
                described = "command line /\(pattern)/"
                do { regex = try NSRegularExpression(pattern: pattern) } catch {
                    throw PluginError("invalid `pattern`: \(error.localizedDescription)")
                }
            } else {
                described = "name \(parameters["name"]?.stringValue ?? "")"
                regex = nil
            }
            let own = Int(getpid())
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int(entry), pid != own, let process = Self.read(pid) else { continue }
                if let regex {
                    let range = NSRange(process.commandLine.startIndex..., in: process.commandLine)
                    if regex.firstMatch(in: process.commandLine, range: range) != nil { found.append(process) }
                } else if process.name == parameters["name"]?.stringValue {
                    found.append(process)
                }
            }
        }
        found.sort { $0.pid < $1.pid }
        let rss = found.reduce(0) { $0 + $1.rssBytes }
        let data: JSONValue = [
            "count": .int(found.count),
            "pids": .array(found.map { .int($0.pid) }),
            "rss_bytes": .int(rss),
            "processes": .array(found.prefix(20).map { ["pid": .int($0.pid), "name": .string($0.name), "rss_bytes": .int($0.rssBytes)] }),
        ]
        let summary = "\(found.count) process\(found.count == 1 ? "" : "es") for \(described), \(ByteCount.format(UInt64(rss))) resident"
        if found.count < minimum {
            return PluginResult(success: false, data: data, message: summary, error: "\(found.count) running, expected at least \(minimum)")
        }
        if let maximum, found.count > maximum {
            return PluginResult(success: false, data: data, message: summary, error: "\(found.count) running, expected at most \(maximum)")
        }
        return .ok(data, message: summary)
    }

    /// A live (not zombie) process's name, command line and RSS; nil when gone.
    static func read(_ pid: Int) -> Found? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let name = String(stat[stat.index(after: open)..<close])
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        guard rest.count > 22, rest[0] != "Z" else { return nil }
        let rssPages = Int(rest[21]) ?? 0  // field 24 of stat; `rest` starts at field 3
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let commandLine = String(decoding: raw.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self).trimmingWhitespace()
        return Found(pid: pid, name: name, commandLine: commandLine, rssBytes: rssPages * Int(sysconf(Int32(_SC_PAGESIZE))))
    }
}
