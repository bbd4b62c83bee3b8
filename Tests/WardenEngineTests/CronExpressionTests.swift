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
}
