import SecretFill

/// What a grant lets a key do in the scopes it covers.
public enum Access: String, Sendable, Hashable, CaseIterable {
    /// list, which, check: names only.
    case names
    /// names and values: render, env, redact.
    case read
    /// set, delete, import, history, rollback; also sees names, never values.
    case write

    /// Whether a grant of `self` allows an action needing `needed`.
    public func allows(_ needed: Access) -> Bool {
        switch needed {
        case .names: true
        case .read: self == .read
        case .write: self == .write
        }
    }

    /// How a refusal names the action: `key 'ci' may not read project pr-2`.
    public var verb: String {
        switch self {
        case .names: "list names in"
        case .read: "read"
        case .write: "write to"
        }
    }
}

/// `admin`, `team:ACCESS`, `project:ID:ACCESS` or `cluster:ID:ACCESS`, where
/// ID may be `*` (every project or cluster).
public enum Grant: Sendable, Hashable, CustomStringConvertible {
    case admin
    case team(Access)
    case project(id: String?, Access)
    case cluster(id: String?, Access)

    public static let ruleDescription =
        "a grant is admin, team:ACCESS, project:ID:ACCESS or cluster:ID:ACCESS (ID may be *), where ACCESS is names, read or write"

    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public let text: String
        public var description: String { "'\(text)' is not a grant; \(Grant.ruleDescription)" }
    }

    public init(parsing text: String) throws(ParseError) {
        if text == "admin" { self = .admin; return }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard let last = parts.last, let access = Access(rawValue: last) else { throw ParseError(text: text) }
        switch (parts.first, parts.count) {
        case ("team", 2):
            self = .team(access)
        case ("project", 3), ("cluster", 3):
            let id = parts[1]
            let scopedID: String?
            if id == "*" {
                scopedID = nil
            } else {
                do { try Scope.validateID(id) } catch { throw ParseError(text: text) }
                scopedID = id
            }
            self = parts[0] == "project" ? .project(id: scopedID, access) : .cluster(id: scopedID, access)
        default:
            throw ParseError(text: text)
        }
    }

    public var description: String {
        switch self {
        case .admin: "admin"
        case .team(let access): "team:\(access.rawValue)"
        case .project(let id, let access): "project:\(id ?? "*"):\(access.rawValue)"
        case .cluster(let id, let access): "cluster:\(id ?? "*"):\(access.rawValue)"
        }
    }

    /// Whether this grant allows `needed` access to `scope`.
    public func allows(_ needed: Access, in scope: Scope) -> Bool {
        switch (self, scope) {
        case (.admin, _): true
        case (.team(let access), .team): access.allows(needed)
        case (.project(let id, let access), .project(let target)),
             (.cluster(let id, let access), .cluster(let target)):
            (id == nil || id == target) && access.allows(needed)
        default: false
        }
    }
}

/// A key's grants, checked together.
public struct GrantSet: Sendable, Hashable, CustomStringConvertible {
    public var grants: [Grant]

    public init(_ grants: [Grant]) { self.grants = grants }

    public init(parsing texts: [String]) throws(Grant.ParseError) {
        var parsed: [Grant] = []
        for text in texts { parsed.append(try Grant(parsing: text)) }
        grants = parsed
    }

    public var isAdmin: Bool { grants.contains(.admin) }

    public func allows(_ needed: Access, in scope: Scope) -> Bool {
        grants.contains { $0.allows(needed, in: scope) }
    }

    /// `team:read, project:pr-1:read`, for refusals.
    public var description: String {
        grants.isEmpty ? "none" : grants.map(\.description).joined(separator: ", ")
    }
}

/// The names key names follow: the secret-name rule, so they are safe in any
/// message, log line or page.
public enum KeyName {
    public static let ruleDescription = "a key name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters"
    public static func isValid(_ name: String) -> Bool { SecretName.isValid(name) }
}

/// `90d`, `12h`, `30m`, `45s` → seconds.
public enum DurationText {
    public static let ruleDescription = "a duration is a whole number followed by w, d, h, m or s (2w, 90d, 12h, 30m, 45s), at most 100 years"

    /// The longest duration anywhere in the API: 100 years, in seconds.
    public static let maximumSeconds = 100 * 365 * 86_400

    public static func seconds(_ text: String) -> Int? {
        guard let unit = text.last, let number = Int(text.dropLast()), number > 0, text.dropLast().allSatisfy(\.isNumber) else { return nil }
        let factor: Int
        switch unit {
        case "w": factor = 7 * 86_400
        case "d": factor = 86_400
        case "h": factor = 3_600
        case "m": factor = 60
        case "s": factor = 1
        default: return nil
        }
        let (result, overflow) = number.multipliedReportingOverflow(by: factor)
        return overflow || result > maximumSeconds ? nil : result
    }

    /// Seconds as the shortest duration text that says them exactly: 900 → `15m`, 3600 → `1h`, 90 → `90s`.
    public static func text(seconds: Int) -> String {
        for (unit, factor) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] where seconds > 0 && seconds % factor == 0 {
            return "\(seconds / factor)\(unit)"
        }
        return "\(seconds)s"
    }
}
