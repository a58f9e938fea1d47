/// A member's name (issue 25): a person's email (`ana@acme.dev`), kept in
/// lower case so the identity provider's spelling does not matter, or a
/// group of the identity provider (`group:NAME`, compared exactly).
public enum MemberName {
    public static let ruleDescription =
        "a member is an email (LOCAL@DOMAIN, printable ASCII without spaces: at most 64 characters before the @, 189 after) or group:NAME (NAME printable ASCII without spaces, at most 256 characters)"
    public static let groupPrefix = "group:"

    /// The name as stored, or nil when it is neither an email nor `group:NAME`.
    public static func normalized(_ text: String) -> String? {
        func printable(_ part: Substring.UTF8View) -> Bool { part.allSatisfy { $0 > 0x20 && $0 < 0x7F } }
        if text.hasPrefix(groupPrefix) {
            let group = text.dropFirst(groupPrefix.count)
            guard (1...256).contains(group.utf8.count), printable(group.utf8) else { return nil }
            return text
        }
        guard let at = text.firstIndex(of: "@") else { return nil }
        let local = text[..<at]
        let domain = text[text.index(after: at)...]
        guard (1...64).contains(local.utf8.count), (1...189).contains(domain.utf8.count), !domain.contains("@"),
              printable(local.utf8), printable(domain.utf8) else { return nil }
        return text.lowercased()
    }

    public static func isGroup(_ name: String) -> Bool { name.hasPrefix(groupPrefix) }

    /// A person as sign-ins record them (what `audit --user` filters on): an email in
    /// lower case, or a subject (no `@`, not `group:`, printable ASCII without spaces,
    /// at most 256 bytes). Nil for anything else.
    public static func person(_ text: String) -> String? {
        if let email = normalized(text) { return isGroup(email) ? nil : email }
        guard !text.contains("@"), !isGroup(text), (1...256).contains(text.utf8.count),
              text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return text
    }
}
