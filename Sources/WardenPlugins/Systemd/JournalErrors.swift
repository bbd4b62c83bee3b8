import CSystemd
import Dispatch
import Foundation
import WardenPluginKit

/// How many journal entries at priority err or worse a unit (or a syslog identifier) logged
/// recently, with the last few messages, read through the sd-journal API.
public struct JournalErrorsPlugin: Plugin {
    public let spec = PluginSpec(
        name: "journal_errors",
        description: "Count journal entries at priority ≤ err (configurable) for a unit or identifier since a time; returns the last N messages; fails above max_count.",
        category: .diagnostic,
        parameters: [
            "type": "object",
            "properties": [
                "unit": ["type": "string", "description": "Only entries of this unit (_SYSTEMD_UNIT), e.g. nginx.service.", "minLength": 1],
                "identifier": ["type": "string", "description": "Only entries with this SYSLOG_IDENTIFIER.", "minLength": 1],
                "since": JSONSchema.duration("How far back, e.g. 15m, 1h, 1d.", default: "1h"),
                "priority": ["type": "integer", "description": "The least severe priority counted (0 emerg … 3 err … 7 debug).", "default": 3, "minimum": 0, "maximum": 7],
                "limit": ["type": "integer", "description": "How many of the newest messages are returned.", "default": 10, "minimum": 0, "maximum": 1000],
                "max_count": ["type": "integer", "description": "Fail when more entries than this match.", "default": 0, "minimum": 0],
            ],
            "additionalProperties": false,
        ]
    )

    public init() {}

    struct Entry: Sendable {
        var time: Date
        var priority: Int
        var message: String
        var unit: String?
    }

    public func execute(_ parameters: JSONObject, context: PluginContext) async throws -> PluginResult {
        let since = try parameters.duration("since")
        let unit = parameters["unit"]?.stringValue
        let identifier = parameters["identifier"]?.stringValue
        let priority = parameters["priority"]?.intValue ?? 3
        let limit = parameters["limit"]?.intValue ?? 10
        let maxCount = parameters["max_count"]?.intValue ?? 0
        let start = Date().addingTimeInterval(-since.seconds)
        // sd-journal blocks and is not thread-safe: one handle, on one Dispatch thread.
        let read: Result<(count: Int, last: [Entry]), PluginError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.read(unit: unit, identifier: identifier, priority: priority, since: start, keep: limit))
            }
        }
        let (count, last) = try read.get()
        let formatter = ISO8601DateFormatter()
        let scope = [unit.map { "unit \($0)" }, identifier.map { "identifier \($0)" }].compactMap { $0 }.joined(separator: ", ")
        let data: JSONValue = [
            "count": .int(count),
            "messages": .array(last.reversed().map {
                ["time": .string(formatter.string(from: $0.time)), "priority": .int($0.priority), "message": .string($0.message), "unit": $0.unit.map(JSONValue.string) ?? .null]
            }),
        ]
        let summary = "\(count) entr\(count == 1 ? "y" : "ies") at priority ≤ \(priority) in the last \(since.wardenFormatted)\(scope.isEmpty ? "" : " for " + scope)"
        guard count <= maxCount else {
            return PluginResult(success: false, data: data, message: summary, error: "\(count) entries, at most \(maxCount) expected; latest: \(last.last?.message ?? "")")
        }
        return .ok(data, message: summary)
    }

    static func read(unit: String?, identifier: String?, priority: Int, since: Date, keep: Int) -> Result<(count: Int, last: [Entry]), PluginError> {
        var journal: OpaquePointer?
        let opened = warden_sd_journal_open(&journal, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard opened >= 0, let journal else {
            return .failure(PluginError("cannot open the journal: \(String(cString: strerror(-opened)))", retry: true))
        }
        defer { warden_sd_journal_close(journal) }
        func match(_ text: String) { _ = text.withCString { warden_sd_journal_add_match(journal, $0, 0) } }
        // Matches on the same field are ORed; a conjunction ANDs the groups.
        for level in 0...priority { match("PRIORITY=\(level)") }
        if let unit {
            warden_sd_journal_add_conjunction(journal)
            match("_SYSTEMD_UNIT=\(unit)")
        }
        if let identifier {
            warden_sd_journal_add_conjunction(journal)
            match("SYSLOG_IDENTIFIER=\(identifier)")
        }
        _ = warden_sd_journal_seek_realtime_usec(journal, UInt64(since.timeIntervalSince1970 * 1e6))
        var count = 0
        var last: [Entry] = []
        while warden_sd_journal_next(journal) > 0 {
            var usec: UInt64 = 0
            _ = warden_sd_journal_get_realtime_usec(journal, &usec)
            guard Double(usec) / 1e6 >= since.timeIntervalSince1970 else { continue }
            count += 1
            guard keep > 0 else { continue }
            last.append(Entry(
                time: Date(timeIntervalSince1970: Double(usec) / 1e6),
                priority: Int(field(journal, "PRIORITY") ?? "") ?? priority,
                message: field(journal, "MESSAGE") ?? "",
                unit: field(journal, "_SYSTEMD_UNIT")
            ))
            if last.count > keep { last.removeFirst() }
        }
        return .success((count, last))
    }

    /// A field's value (`FIELD=value` without `FIELD=`), at most 4 KiB of it.
    static func field(_ journal: OpaquePointer, _ name: String) -> String? {
        var pointer: UnsafeRawPointer?
        var length = 0
        guard name.withCString({ warden_sd_journal_get_data(journal, $0, &pointer, &length) }) >= 0, let pointer else { return nil }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length).dropFirst(name.utf8.count + 1).prefix(4096)
        return String(decoding: bytes, as: UTF8.self)
    }
}
