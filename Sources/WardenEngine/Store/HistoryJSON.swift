import Foundation
import WardenPluginKit

/// Times as Warden writes them: RFC 3339 in UTC with milliseconds for JSON, local wall-clock
/// time for tables.
public enum ISOTime {
    /// `2026-11-24T10:00:00.123Z`: what `ISO8601DateFormatter` writes with internet date-time
    /// and fractional seconds (a test holds the two together), computed directly. The formatter
    /// opens ICU's calendar data first, which was a quarter of `warden history`'s whole run.
    public static func string(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (days, dayMilliseconds) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        let (day, dayRemainder) = dayMilliseconds < 0 ? (days - 1, dayMilliseconds + 86_400_000) : (days, dayMilliseconds)
        let civil = CivilDate(daysSinceEpoch: Int(day))
        let seconds = Int(dayRemainder / 1000)
        return compose([(civil.year, 4), (civil.month, 2), (civil.day, 2), (seconds / 3600, 2), (seconds / 60 % 60, 2),
                        (seconds % 60, 2), (Int(dayRemainder % 1000), 3)], separators: "--T::.Z")
    }

    /// `2026-11-24 10:00:00` in the host's time zone (`TZ`, else `/etc/localtime`), as the CLI's
    /// tables show times: what a `yyyy-MM-dd HH:mm:ss` DateFormatter writes, from `localtime_r`.
    /// A DateFormatter per table row loaded ICU's calendar and zone data, the larger part of
    /// `warden history`'s run.
    public static func local(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return string(date) }
        return compose([(Int(parts.tm_year) + 1900, 4), (Int(parts.tm_mon) + 1, 2), (Int(parts.tm_mday), 2), (Int(parts.tm_hour), 2),
                        (Int(parts.tm_min), 2), (Int(parts.tm_sec), 2)], separators: "-- ::")
    }

    private static func fits(_ value: Int, _ width: Int) -> Bool {
        var limit = 1
        for _ in 0..<width { limit *= 10 }
        return value >= 0 && value < limit
    }

    /// Zero-padded fields, each followed by its separator (the last one's may be absent),
    /// written as bytes into the string: interpolating padded strings was ~13,000
    /// instructions a time, a tenth of `warden history --json`'s own work.
    private static func compose(_ fields: [(value: Int, width: Int)], separators: StaticString) -> String {
        // A year past 9999 or before 0 never comes from the store; keep them right anyway.
        guard fields.allSatisfy({ fits($0.value, $0.width) }) else {
            return zip(fields.indices, fields).map { index, field in
                let digits = String(field.value)
                let padded = String(repeating: "0", count: max(0, field.width - digits.count)) + digits
                return index < separators.utf8CodeUnitCount ? padded + String(UnicodeScalar(separators.utf8Start[index])) : padded
            }.joined()
        }
        let length = fields.reduce(0) { $0 + $1.width } + separators.utf8CodeUnitCount
        return String(unsafeUninitializedCapacity: length) { buffer in
            var at = 0
            for (index, field) in fields.enumerated() {
                var value = field.value
                for position in stride(from: at + field.width - 1, through: at, by: -1) {
                    buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                at += field.width
                if index < separators.utf8CodeUnitCount {
                    buffer[at] = separators.utf8Start[index]
                    at += 1
                }
            }
            return at
        }
    }
}

/// One JSON shape for a run and for a remediation record, whoever prints it: the CLI's
/// `--json` outputs and the HTTP API.
public enum HistoryJSON {
    public static func run(_ stored: StoredRun, attempts includeAttempts: Bool = false) -> JSONValue {
        let run = stored.record
        var object: JSONObject = [
            "id": .int(Int(stored.id)),
            "job": .string(run.job),
            "plugin": .string(run.plugin),
            "trigger": .string(run.trigger.description),
            "scheduled_at": .string(ISOTime.string(run.scheduledAt)),
            "started_at": run.startedAt.map { .string(ISOTime.string($0)) } ?? .null,
            "finished_at": .string(ISOTime.string(run.finishedAt)),
            "duration_ms": run.duration.map { .double(($0.seconds * 1000 * 1000).rounded() / 1000) } ?? .null,
            "status": .string(run.status.rawValue),
            "attempts": .int(stored.attemptCount),
            "message": .string(run.message),
            "error": run.error.map(JSONValue.string) ?? .null,
            "retry": .bool(run.retry),
            "data": run.data,
            "config_hash": .string(run.configHash),
        ]
        if includeAttempts {
            object["attempt_details"] = .array(run.attempts.map { attempt in
                [
                    "number": .int(attempt.number),
                    "wait_ms": .double((attempt.wait.seconds * 1000 * 1000).rounded() / 1000),
                    "started_at": .string(ISOTime.string(attempt.startedAt)),
                    "duration_ms": .double((attempt.duration.seconds * 1000 * 1000).rounded() / 1000),
                    "outcome": .string(attempt.outcome.rawValue),
                    "retry": .bool(attempt.retry),
                    "message": .string(attempt.message),
                    "error": attempt.error.map(JSONValue.string) ?? .null,
                ]
            })
        }
        return .object(object)
    }

    public static func remediation(_ record: RemediationRecord) -> JSONValue {
        [
            "id": .int(Int(record.id ?? 0)),
            "rule": .string(record.rule),
            "job": .string(record.job),
            "trigger": .string(record.trigger),
            "trigger_run_ids": .array(record.triggerRuns.map { .int(Int($0)) }),
            "step": record.step.map(JSONValue.int) ?? .null,
            "plugin": record.plugin.map(JSONValue.string) ?? .null,
            "params": record.parameters ?? .null,
            "started_at": .string(ISOTime.string(record.startedAt)),
            "finished_at": record.finishedAt.map { .string(ISOTime.string($0)) } ?? .null,
            "outcome": .string(record.outcome.rawValue),
            "dry_run": .bool(record.dryRun),
            "suppressed_reason": record.suppressedReason.map(JSONValue.string) ?? .null,
            "message": record.message.map(JSONValue.string) ?? .null,
            "error": record.error.map(JSONValue.string) ?? .null,
            "data": record.data ?? .null,
            "context": record.context ?? .null,
            "verification": record.verification.map { .string($0.rawValue) } ?? .null,
            "verification_run_id": record.verificationRunID.map { .int(Int($0)) } ?? .null,
            "state": record.state,
        ]
    }
}
