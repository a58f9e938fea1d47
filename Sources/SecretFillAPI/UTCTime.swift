#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// UTC times as the CLI and the pages read them: a date (`2026-12-01`,
/// midnight UTC) or an RFC 3339 time (`2026-12-01T09:30:00Z`,
/// `2026-12-01T10:30:00.5+01:00`), as whole seconds since 1970.
public enum UTCTime {
    public static func nowSeconds() -> Int {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int(spec.tv_sec)
    }

    /// Seconds since 1970 of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    public static func unixTime(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, range.allSatisfy({ bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(bytes[$1] - 0x30) }
        }
        func at(_ index: Int, _ character: Character) -> Bool { index < bytes.count && bytes[index] == character.asciiValue! }
        guard bytes.count >= 10, let year = number(0..<4), at(4, "-"), let month = number(5..<7), at(7, "-"), let day = number(8..<10),
              (1...12).contains(month), (1...daysIn(month, year)).contains(day) else { return nil }
        var seconds = daysFromCivil(year, month, day) * 86_400
        if bytes.count == 10 { return seconds }
        guard at(10, "T") || at(10, "t"), let hour = number(11..<13), at(13, ":"), let minute = number(14..<16), at(16, ":"),
              let second = number(17..<19), hour < 24, minute < 60, second < 61 else { return nil }
        seconds += hour * 3600 + minute * 60 + min(second, 59)
        var index = 19
        if at(index, ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > start else { return nil }
        }
        if (at(index, "Z") || at(index, "z")) && index + 1 == bytes.count { return seconds }
        guard at(index, "+") || at(index, "-"), index + 6 == bytes.count, let offsetHours = number(index + 1..<index + 3), at(index + 3, ":"),
              let offsetMinutes = number(index + 4..<index + 6), offsetHours < 24, offsetMinutes < 60 else { return nil }
        let offset = offsetHours * 3600 + offsetMinutes * 60
        return at(index, "+") ? seconds - offset : seconds + offset
    }

    public static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    public static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
