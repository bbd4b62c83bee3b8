import Foundation

/// A classic 5-field cron expression (`minute hour day-of-month month day-of-week`) with
/// lists, ranges, steps, month and day names, and the `@hourly`-style shorthands.
///
/// Fire times are found in the given time zone and are DST-correct the way Vixie cron is:
/// a wall-clock time skipped by a spring-forward transition fires once, at the transition;
/// a wall-clock time that occurs twice in a fall-back transition fires once — the first time,
/// or the second when the schedule began watching after the first (a daemon started inside
/// the repeated hour) — unless the hour field is a wildcard (`*/15 * * * *` keeps its rhythm
/// through the repeat).
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public let description: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    /// 0 = Sunday … 6 = Saturday (7 is accepted as Sunday and folded to 0).
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool
    let hourWildcard: Bool

    private static let shorthands: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(_ text: String) throws(ParseError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let expanded = Self.shorthands[trimmed.lowercased()] ?? trimmed
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "invalid cron expression `\(text)`: expected 5 fields (minute hour day-of-month month day-of-week), got \(fields.count)")
        }
        description = trimmed
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31)
        months = try Self.field(fields[3], name: "month", range: 1...12, names: Self.monthNames, nameBase: 1)
        let weekdays = try Self.field(fields[4], name: "day-of-week", range: 0...7, names: Self.dayNames, nameBase: 0)
        daysOfWeek = Set(weekdays.map { $0 % 7 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
        hourWildcard = fields[1].hasPrefix("*")
    }

    private static func field(
        _ text: String, name: String, range: ClosedRange<Int>, names: [String] = [], nameBase: Int = 0
    ) throws(ParseError) -> Set<Int> {
        func value(_ token: Substring) throws(ParseError) -> Int {
            if let number = Int(token), range.contains(number) { return number }
            if let index = names.firstIndex(of: token.lowercased()) { return index + nameBase }
            let allowed = names.isEmpty ? "" : " or a name (\(names.first!)…\(names.last!))"
            throw ParseError(description: "invalid \(name) `\(token)` in cron field `\(text)`: expected \(range.lowerBound)-\(range.upperBound)\(allowed)")
        }
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, let base = pieces.first, !base.isEmpty else {
                throw ParseError(description: "invalid \(name) field `\(text)`: expected a value, a range a-b, * or a step x/n")
            }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else {
                    throw ParseError(description: "invalid step `\(pieces[1])` in cron field `\(text)`: expected a positive number")
                }
                step = parsed
            }
            let lower: Int
            let upper: Int
            if base == "*" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                lower = try value(base[..<dash])
                var end = try value(base[base.index(after: dash)...])
                // `fri-sun`, `sat-sun`: Sunday closes a weekday range as 7, as crons read it.
                if name == "day-of-week" && end == 0 && lower > 0 { end = 7 }
                upper = end
                guard lower <= upper else {
                    throw ParseError(description: "invalid range `\(base)` in cron field `\(text)`: the start is after the end")
                }
            } else {
                lower = try value(base)
                // `5/15` means from 5 to the end in steps of 15, as in Vixie cron.
                upper = pieces.count == 2 ? range.upperBound : lower
            }
            result.formUnion(stride(from: lower, through: upper, by: step))
        }
        return result
    }

    /// The first fire time strictly after `date`, or nil when none exists within eight years
    /// (only possible for impossible dates such as `0 0 30 2 *`). `watchingSince` is when the
    /// schedule began (the daemon's start): a repeated wall-clock time whose first occurrence
    /// came before it fires at its second, so it fires once that day whenever the daemon
    /// started; nil: always the first occurrence.
    public func nextFire(after date: Date, in timeZone: TimeZone, watchingSince watching: Date? = nil) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let start = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        guard var day = CivilDate(year: start.year!, month: start.month!, day: start.day!) else { return nil }
        let sortedHours = hours.sorted()
        let sortedMinutes = minutes.sorted()
        // A repeated (fall-back) hour means the first candidate may lie up to a few hours
        // before `date` in wall-clock terms: start the scan one day early.
        day = day.adding(days: -1)
        // Wall-clock minutes more than three hours before `date` cannot map to a later instant.
        let earliest = (day.daysSinceEpoch + 1) * 1440 + start.hour! * 60 + start.minute! - 180
        var best: (key: Int, instant: Date)?
        for _ in 0..<(366 * 8) {
            defer { day = day.adding(days: 1) }
            guard months.contains(day.month), matchesDay(day) else { continue }
            for hour in sortedHours {
                for minute in sortedMinutes {
                    let key = day.daysSinceEpoch * 1440 + hour * 60 + minute
                    guard key >= earliest else { continue }
                    // Wall-clock order is instant order except inside a repeated hour, so a
                    // found instant is final once the scan is three wall hours past it.
                    if let found = best, key > found.key + 180 { return found.instant }
                    if let instant = resolve(day, hour: hour, minute: minute, calendar: calendar, after: date, watchingSince: watching),
                       best == nil || instant < best!.instant {
                        best = (key, instant)
                    }
                }
            }
        }
        return best?.instant
    }

    private func matchesDay(_ day: CivilDate) -> Bool {
        let domMatch = daysOfMonth.contains(day.day)
        let dowMatch = daysOfWeek.contains(day.weekday)
        // Vixie cron: when both fields are restricted, either may match.
        if dayOfMonthRestricted && dayOfWeekRestricted { return domMatch || dowMatch }
        return domMatch && dowMatch
    }

    /// The instant a wall-clock time maps to, if it is after `date`.
    private func resolve(_ day: CivilDate, hour: Int, minute: Int, calendar: Calendar, after date: Date, watchingSince start: Date?) -> Date? {
        let wall = DateComponents(year: day.year, month: day.month, day: day.day, hour: hour, minute: minute)
        guard let guess = calendar.date(from: wall) else { return nil }
        func isWall(_ instant: Date) -> Bool {
            let actual = calendar.dateComponents([.day, .hour, .minute], from: instant)
            return actual.day == day.day && actual.hour == hour && actual.minute == minute
        }
        guard isWall(guess) else {
            // Skipped by a spring-forward transition: fire once, when the clock jumps.
            guard let transition = calendar.timeZone.nextDaylightSavingTimeTransition(after: guess.addingTimeInterval(-4 * 3600)),
                  transition > date else { return nil }
            return transition
        }
        // A fall-back transition nearby makes this wall time occur twice, `shift` apart.
        let zone = calendar.timeZone
        let shift = TimeInterval(zone.secondsFromGMT(for: guess.addingTimeInterval(-4 * 3600)) - zone.secondsFromGMT(for: guess.addingTimeInterval(4 * 3600)))
        var occurrences = [guess]
        if shift > 0 {
            if isWall(guess.addingTimeInterval(-shift)) { occurrences.insert(guess.addingTimeInterval(-shift), at: 0) }
            if isWall(guess.addingTimeInterval(shift)) { occurrences.append(guess.addingTimeInterval(shift)) }
        }
        // A fixed time of day runs once: the first time, or the second when nobody was watching
        // at the first; `*`-hour expressions keep their rhythm.
        let once = occurrences.count > 1 && start.map { occurrences[0] <= $0 } == true ? occurrences[1] : occurrences[0]
        let allowed = hourWildcard ? occurrences : [once]
        return allowed.first { $0 > date }
    }
}

/// A proleptic Gregorian date without a time zone: day arithmetic and weekdays without
/// going through `Calendar` for every day scanned.
struct CivilDate: Hashable {
    let year: Int
    let month: Int
    let day: Int

    init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    init(daysSinceEpoch days: Int) {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// 0 = Sunday; 1970-01-01 was a Thursday.
    var weekday: Int { ((daysSinceEpoch % 7) + 7 + 4) % 7 }

    func adding(days: Int) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + days) }
}
