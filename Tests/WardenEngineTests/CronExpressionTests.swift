import Foundation
import Testing
@testable import WardenEngine

@Suite("cron expressions")
struct CronExpressionTests {
    let utc = TimeZone(identifier: "UTC")!
    let newYork = TimeZone(identifier: "America/New_York")!

    func date(_ text: String, _ zone: TimeZone) -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.date(from: text)!
    }

    func fires(_ expression: String, after start: Date, count: Int, in zone: TimeZone) throws -> [Date] {
        let cron = try CronExpression(expression)
        var result: [Date] = []
        var cursor = start
        for _ in 0..<count {
            guard let next = cron.nextFire(after: cursor, in: zone) else { break }
            result.append(next)
            cursor = next
        }
        return result
    }

    @Test func fieldsListsRangesStepsAndNames() throws {
        let cron = try CronExpression("0,30 9-17/4 * jan-mar MON-fri")
        #expect(cron.minutes == [0, 30])
        #expect(cron.hours == [9, 13, 17])
        #expect(cron.months == [1, 2, 3])
        #expect(cron.daysOfWeek == [1, 2, 3, 4, 5])
        #expect(try CronExpression("5/20 * * * 7").minutes == [5, 25, 45])
        #expect(try CronExpression("* * * * 7").daysOfWeek == [0])
        #expect(try CronExpression("@hourly").minutes == [0])
    }

    @Test(arguments: [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "invalid minute `60`"),
        ("* 24 * * *", "invalid hour `24`"),
        ("* * 0 * *", "invalid day-of-month `0`"),
        ("* * * foo *", "invalid month `foo`"),
        ("*/0 * * * *", "invalid step `0`"),
        ("5-1 * * * *", "the start is after the end"),
        ("1,,2 * * * *", "expected a value"),
    ])
    func badExpressionsSayWhatIsWrong(text: String, expected: String) {
        #expect {
            _ = try CronExpression(text)
        } throws: { error in
            (error as? CronExpression.ParseError)?.description.contains(expected) == true
        }
    }

    @Test func everyFiveMinutes() throws {
        let start = date("2026-11-24 10:02", utc)
        let times = try fires("*/5 * * * *", after: start, count: 3, in: utc)
        #expect(times == [date("2026-11-24 10:05", utc), date("2026-11-24 10:10", utc), date("2026-11-24 10:15", utc)])
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothRestricted() throws {
        // Vixie cron: the 13th of the month, or any Friday.
        let times = try fires("0 0 13 * fri", after: date("2026-11-01 00:00", utc), count: 3, in: utc)
        #expect(times == [date("2026-11-06 00:00", utc), date("2026-11-13 00:00", utc), date("2026-11-20 00:00", utc)])
    }

    @Test func leapDayIsFoundYearsAhead() throws {
        let times = try fires("0 12 29 feb *", after: date("2026-03-01 00:00", utc), count: 1, in: utc)
        #expect(times == [date("2028-02-29 12:00", utc)])
        #expect(try CronExpression("0 0 30 2 *").nextFire(after: Date(), in: utc) == nil)
    }

    @Test func springForwardGapFiresOnceAtTheTransition() throws {
        // 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
        let times = try fires("30 2 * * *", after: date("2026-03-07 12:00", newYork), count: 3, in: newYork)
        #expect(times[0] == date("2026-03-08 03:00", newYork))
        #expect(times[1] == date("2026-03-09 02:30", newYork))
        #expect(times[0].timeIntervalSince(date("2026-03-07 02:30", newYork)) < 86_400)
    }

    @Test func fallBackRepeatedHourFiresFixedTimesOnce() throws {
        // 2026-11-01 in New York: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let times = try fires("30 1 * * *", after: date("2026-10-31 12:00", newYork), count: 2, in: newYork)
        let first = date("2026-11-01 05:30", utc)  // 01:30 EDT, the first of the two
        #expect(times[0] == first)
        #expect(times[1].timeIntervalSince(first) == 86_400 + 3600)
    }

    @Test func fallBackKeepsWildcardHourRhythm() throws {
        // Every 30 minutes keeps firing every 30 real minutes through the repeated hour.
        let start = date("2026-11-01 00:45", newYork)
        let times = try fires("*/30 * * * *", after: start, count: 6, in: newYork)
        let gaps = zip(times, times.dropFirst()).map { $1.timeIntervalSince($0) }
        #expect(gaps == [1800, 1800, 1800, 1800, 1800])
        #expect(times.last!.timeIntervalSince(times.first!) == 5 * 1800)
    }

    @Test func intervalSchedulesKeepTheirBeat() throws {
        let schedule = JobSchedule.every(.seconds(60))
        let phase = JobSchedule.phase(forJob: "disk_root", interval: .seconds(60))
        #expect(phase == JobSchedule.phase(forJob: "disk_root", interval: .seconds(60)))
        var cursor = Date(timeIntervalSince1970: 1_800_000_000.123)
        var fires: [Date] = []
        for _ in 0..<5 {
            // However late a run finishes, the next fire comes from the schedule.
            let next = try #require(schedule.nextFire(after: cursor, phase: phase))
            fires.append(next)
            cursor = next.addingTimeInterval(Double.random(in: 0..<59))
        }
        for fire in fires {
            let offset = (fire.timeIntervalSince1970 * 1000).rounded().truncatingRemainder(dividingBy: 60_000)
            #expect(Int64(offset) == phase.milliseconds)
        }
    }

    @Test func phasesSpreadAThousandJobsAcrossTheMinute() {
        var perSecond = [Int](repeating: 0, count: 60)
        for index in 0..<1000 {
            let phase = JobSchedule.phase(forJob: "http_check_\(index)", interval: .seconds(60))
            perSecond[Int(phase.milliseconds / 1000)] += 1
        }
        // Uniform would be ~16.7 per second; nothing like all 1,000 at second 0.
        #expect(perSecond.max()! <= 35)
        #expect(perSecond.filter { $0 > 0 }.count >= 55)
    }

    /// Jobs due together share a timer wake-up, up to a slot's worth: ten jobs every second
    /// fire on one (twenty slots of 50 ms woke the daemon twenty times a second, most of the
    /// CPU at 100 checks), 100 in four slots of 250 ms, none much fuller than the others.
    @Test func jobsDueTogetherShareOneWakeUpUpToASlotsWorth() {
        let ten = Set((0..<10).map { JobSchedule.phase(forJob: "http_check_\($0)", interval: .seconds(1), sharedBy: 10) })
        #expect(ten == [.zero], "\(ten)")
        var perSlot: [Int64: Int] = [:]
        for index in 0..<100 {
            let phase = JobSchedule.phase(forJob: "http_check_\(index)", interval: .seconds(1), sharedBy: 100)
            #expect(phase.milliseconds % 250 == 0, "\(phase)")
            perSlot[phase.milliseconds, default: 0] += 1
        }
        #expect(perSlot.count == 4, "\(perSlot)")
        #expect(perSlot.values.max()! <= 40, "\(perSlot)")
        // Long intervals keep second-wide slots: an hourly job is not pushed onto a 15-minute grid.
        let hourly = (0..<200).map { JobSchedule.phase(forJob: "nightly_\($0)", interval: .seconds(3600), sharedBy: 200).milliseconds }
        #expect(hourly.allSatisfy { $0 % 1000 == 0 } && Set(hourly).count > 150)
    }

    /// Many jobs with one interval get more slots, so that no slot fires a herd: 10,000 jobs at
    /// 1 s in twenty slots fired 500 at once, which queued behind `max_concurrency` and were
    /// skipped (the 10,000-check benchmark). A slot holds what the limiter lets run at once.
    @Test func manyJobsGetMoreSlotsAndNoSlotFiresAHerd() {
        for (count, maxConcurrency) in [(1_000, 16), (10_000, 16), (10_000, 64), (5_000, 512)] {
            let jobs = (0..<count).map { JobDefinition(
                name: "http_check_\($0)", plugin: "service_status", parameters: [:], schedule: .every(.seconds(1)), timeout: .seconds(5),
                configHash: "h", location: ConfigLocation(file: "t", line: 1, column: 1)
            ) }
            let slots = TimerSlots(jobs, maxConcurrency: maxConcurrency)
            #expect(slots.jobsPerSlot == max(32, maxConcurrency))
            var perSlot: [Int64: Int] = [:]
            for job in jobs { perSlot[slots.phase(of: job).milliseconds, default: 0] += 1 }
            #expect(perSlot.values.max()! <= 2 * slots.jobsPerSlot, "\(count) jobs: \(perSlot.values.max()!) in one slot")
            #expect(Double(count) / Double(perSlot.count) >= Double(slots.jobsPerSlot) / 4, "\(count) jobs in \(perSlot.count) slots")
        }
        // A doubling moves a job later by less than its old slot (1 s / 32): it keeps its beat.
        let few = JobSchedule.phase(forJob: "web", interval: .seconds(1), sharedBy: 1_000)
        let more = JobSchedule.phase(forJob: "web", interval: .seconds(1), sharedBy: 1_100)
        #expect(more >= few && more - few < .milliseconds(32))
    }
}

/// Cron across both DST changes in two zones, for a daemon started at every minute of the
/// repeated and the skipped hour: a simulated daemon (an injected clock, no sleeping) fires
/// each wall-clock time of the day exactly once, or — when it started after every
/// occurrence of that time — not at all, and never twice.
@Suite("cron across DST", .serialized)
struct CronDSTTests {
    struct Change: Sendable, CustomTestStringConvertible {
        var zone: String
        /// The local day of the transition.
        var day: String
        /// UTC instants bounding the hour whose wall-clock times repeat or are skipped.
        var hourStartUTC: String
        var testDescription: String { "\(zone) \(day)" }
    }

    static let changes = [
        Change(zone: "Europe/Berlin", day: "2026-10-25", hourStartUTC: "2026-10-25 00:00"),     // 03:00 CEST → 02:00 CET
        Change(zone: "Europe/Berlin", day: "2026-03-29", hourStartUTC: "2026-03-29 01:00"),     // 02:00 CET → 03:00 CEST
        Change(zone: "America/New_York", day: "2026-11-01", hourStartUTC: "2026-11-01 05:00"),  // 02:00 EDT → 01:00 EST
        Change(zone: "America/New_York", day: "2026-03-08", hourStartUTC: "2026-03-08 07:00"),  // 02:00 EST → 03:00 EDT
    ]

    static func utc(_ text: String) -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.date(from: text)!
    }

    /// The daemon from `start` on: each fire asks for the next after the previous one, as the
    /// scheduler does; returns the fires within 24 hours.
    static func simulate(_ cron: CronExpression, from start: Date, in zone: TimeZone) -> [Date] {
        var fires: [Date] = []
        var cursor = start
        while let next = cron.nextFire(after: cursor, in: zone, watchingSince: start), next < start.addingTimeInterval(86_400) {
            fires.append(next)
            cursor = next
        }
        return fires
    }

    /// The wall-clock hour and minute of an instant in `zone`, on `day`, or nil on another day.
    static func wall(_ instant: Date, on day: String, in zone: TimeZone) -> String? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: instant)
        guard String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!) == day else { return nil }
        return String(format: "%02d:%02d", parts.hour!, parts.minute!)
    }

    @Test(arguments: changes)
    func fixedTimesFireOnceWheneverTheDaemonStarted(_ change: Change) throws {
        let zone = TimeZone(identifier: change.zone)!
        let hour = Self.utc(change.hourStartUTC)
        // The local hour that repeats or is skipped, written as a cron hour: 2 in Berlin, 1 or 2 in New York.
        let local = Calendar(identifier: .gregorian).dateComponents(in: zone, from: hour.addingTimeInterval(-1)).hour! + 1
        let affected = local % 24
        // Each minute of the affected hour's wall-clock instants that day (0, 1 or 2 each), once.
        var instantsOf: [Int: [Date]] = [:]
        for minute in 0..<60 { instantsOf[minute] = [] }
        for step in 0..<(5 * 60) {
            let instant = hour.addingTimeInterval(Double(step - 120) * 60)
            if let text = Self.wall(instant, on: change.day, in: zone), text.hasPrefix(String(format: "%02d:", affected)) {
                instantsOf[Int(text.suffix(2))!]!.append(instant)
            }
        }
        let skipped = instantsOf[0]!.isEmpty
        let transition = zone.nextDaylightSavingTimeTransition(after: hour.addingTimeInterval(-3600))!
        for expression in ["0 \(affected) * * *", "30 \(affected) * * *", "*/10 \(affected) * * *", "15,45 \(affected) * * *"] {
            let cron = try CronExpression(expression)
            // Every start minute from an hour before the change's hour to an hour after it.
            for offset in stride(from: -60, through: 120, by: 1) {
                let start = hour.addingTimeInterval(Double(offset) * 60)
                let fires = Self.simulate(cron, from: start, in: zone)
                let walls = fires.compactMap { Self.wall($0, on: change.day, in: zone) }
                #expect(Set(walls).count == walls.count, "\(expression) from \(start): a wall time fired twice: \(walls)")
                // Each of the expression's times fires that day unless every one of its
                // instants (both, in a repeated hour) had passed when the daemon started.
                if skipped {
                    // A skipped hour: its times fire once, together, at the transition.
                    #expect(fires.filter { $0 == transition }.count == (start < transition ? 1 : 0), "\(expression) from \(start)")
                    continue
                }
                for minute in cron.minutes.sorted() {
                    let text = String(format: "%02d:%02d", affected, minute)
                    let expected = instantsOf[minute]!.contains { $0 > start } ? 1 : 0
                    #expect(walls.filter { $0 == text }.count == expected, "\(change) \(expression) from \(start): \(text) fired \(walls.filter { $0 == text }.count) times")
                }
            }
        }
    }

    @Test func theIssuesCase() throws {
        // cron: "0 2 * * *" in Europe/Berlin fires once on 2026-10-25 for a daemon started
        // before, during the first pass of, or in the second pass before 02:00 CET.
        let zone = TimeZone(identifier: "Europe/Berlin")!
        let cron = try CronExpression("0 2 * * *")
        for start in ["2026-10-24 22:00", "2026-10-25 00:00", "2026-10-25 00:30", "2026-10-25 00:59"] {
            let fires = Self.simulate(cron, from: Self.utc(start), in: zone).compactMap { Self.wall($0, on: "2026-10-25", in: zone) }
            #expect(fires == ["02:00"], "started \(start) UTC")
        }
        // Running all along (started the day before), it fires at the first 02:00 (CEST).
        #expect(Self.simulate(cron, from: Self.utc("2026-10-24 22:00"), in: zone).first == Self.utc("2026-10-25 00:00"))
        // Started in the first pass after 02:00 CEST, it fires at 02:00 CET.
        #expect(Self.simulate(cron, from: Self.utc("2026-10-25 00:30"), in: zone).first == Self.utc("2026-10-25 01:00"))
    }

    @Test func weekdayRangesEndingOnSunday() throws {
        #expect(try CronExpression("0 9 * * fri-sun").daysOfWeek == [5, 6, 0])
        #expect(try CronExpression("0 9 * * sat-sun").daysOfWeek == [6, 0])
        #expect(try CronExpression("0 9 * * 5-7").daysOfWeek == [5, 6, 0])
        #expect(throws: CronExpression.ParseError.self) { try CronExpression("0 9 * * sun-sat-mon") }
        #expect(throws: CronExpression.ParseError.self) { try CronExpression("0 9 * * fri-mon") }
    }
}
