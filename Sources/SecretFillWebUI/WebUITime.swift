#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SecretFillAPI

/// Times as the pages show them: the server's `2026-01-02T03:04:05Z`, read
/// as UTC, shown as `2026-01-02 03:04:05 UTC` with a relative hint (`3 h ago`).
enum WebUITime {
    static func nowSeconds() -> Int { UTCTime.nowSeconds() }

    /// Seconds since 1970 of `2026-01-02T03:04:05Z` (or of a day, `2026-01-02`, at 00:00 UTC); nil for anything else.
    static func seconds(_ text: String) -> Int? { UTCTime.unixTime(text) }

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
