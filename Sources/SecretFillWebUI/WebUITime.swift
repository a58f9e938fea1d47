#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SecretFillAPI

/// Times as the pages show them: the server's `2026-01-02T03:04:05Z`, read
/// as UTC, shown as `2026-01-02 03:04:05 UTC` with a relative hint (`3 h ago`).
enum WebUITime {
    static func nowSeconds() -> Int {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int(spec.tv_sec)
    }

    /// Seconds since 1970 of `2026-01-02T03:04:05Z` (or of a day, `2026-01-02`, at 00:00 UTC); nil for anything else.
    static func seconds(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<(from + count)] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count == 10 || bytes.count == 20,
              let year = number(0, 4), bytes[4] == UInt8(ascii: "-"), let month = number(5, 2), bytes[7] == UInt8(ascii: "-"),
              let day = number(8, 2), (1...12).contains(month), (1...31).contains(day) else { return nil }
        var seconds = days(year: year, month: month, day: day) * 86_400
        if bytes.count == 20 {
            guard bytes[10] == UInt8(ascii: "T"), let hour = number(11, 2), bytes[13] == UInt8(ascii: ":"), let minute = number(14, 2),
                  bytes[16] == UInt8(ascii: ":"), let second = number(17, 2), bytes[19] == UInt8(ascii: "Z"),
                  hour < 24, minute < 60, second < 61 else { return nil }
            seconds += hour * 3600 + minute * 60 + second
        }
        return seconds
    }

    /// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `2026-01-02 03:04:05 UTC`, or the text as it is when it is not a time.
    static func shown(_ text: String) -> String {
        guard text.utf8.count == 20, seconds(text) != nil else { return text }
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(8)) + " UTC"
    }

    /// `just now`, `5 min ago`, `3 h ago`, `2 d ago`, `in 4 d`; nil when the text is not a time.
    static func relative(_ text: String, now: Int = nowSeconds()) -> String? {
        guard let then = seconds(text) else { return nil }
        let delta = now - then
        let span = abs(delta)
        let amount: String
        switch span {
        case ..<60: return "just now"
        case ..<3600: amount = "\(span / 60) min"
        case ..<86_400: amount = "\(span / 3600) h"
        case ..<(86_400 * 365): amount = "\(span / 86_400) d"
        default: amount = "\(span / (86_400 * 365)) y"
        }
        return delta >= 0 ? "\(amount) ago" : "in \(amount)"
    }

    /// What the `time` template needs: `known`, `iso` (the datetime attribute), `utc` and `ago`.
    static func fields(_ text: String, now: Int = nowSeconds()) -> [String: Any] {
        // Anything that is not a time (`never`) is shown as it is.
        guard seconds(text) != nil, text.utf8.count == 20 else { return ["known": false, "utc": text] }
        var out: [String: Any] = ["known": true, "iso": text, "utc": shown(text)]
        if let ago = relative(text, now: now) { out["ago"] = ago }
        return out
    }

    /// A `since` filter in seconds: a duration as `keys create --expires` takes it (`24h`, `7d`, `30m`) or a day (`2026-01-02`, from 00:00 UTC); nil when it is neither.
    static func sinceSeconds(_ text: String, now: Int = nowSeconds()) -> Int? {
        if let day = seconds(text), text.utf8.count == 10 { return max(0, now - day) }
        return DurationText.seconds(text)
    }
}
