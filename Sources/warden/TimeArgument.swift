import Foundation
import WardenEngine
import WardenPluginKit

/// A point in time on the command line: a duration meaning "that long ago" (`1h`, `30m`),
/// an ISO-8601 timestamp (`2026-11-24T10:00:00Z`), or a local `2026-11-24 10:00[:00]`.
enum TimeArgument {
    static func parse(_ text: String, option: String, now: Date = Date()) throws -> Date {
        if let ago = try? DurationText.parse(text) {
            return now.addingTimeInterval(-ago.seconds)
        }
        let iso = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            iso.formatOptions = options
            if let date = iso.date(from: text) { return date }
        }
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.timeZone = .current
        for format in ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd"] {
            local.dateFormat = format
            if let date = local.date(from: text) { return date }
        }
        throw UsageError("\(option) `\(text)`: expected a duration ago (1h, 30m, 7d) or a time (2026-11-24T10:00:00Z, 2026-11-24 10:00)")
    }
}
