import SecretFillAPI

/// `audit --since`: a duration back from now (`2w`, `90d`, `12h`, `30m`,
/// `45s`), a date (`2026-12-01`, midnight UTC) or an RFC 3339 time
/// (`2026-12-01T09:30:00Z`, `2026-12-01T10:30:00+01:00`), as seconds before `now`.
enum SinceText {
    static let ruleDescription = "--since takes a duration (2w, 90d, 12h, 30m, 45s), a date (2026-12-01, midnight UTC) or an RFC 3339 time (2026-12-01T09:30:00Z)"

    static func secondsBefore(_ now: Int, _ text: String) -> Int? {
        if let seconds = DurationText.seconds(text) { return seconds }
        guard let instant = UTCTime.unixTime(text), instant <= now else { return nil }
        return max(now - instant, 1)
    }
}
