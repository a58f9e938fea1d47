import SecretFill

// Who is acting and why a request is refused: one model for the server, the
// web UI (which shows the same refusals as pages) and the client's messages.

/// The key a request acts as, after its token was accepted.
public struct ActingKey: Sendable, Hashable {
    public let name: String
    public let grants: GrantSet

    public init(name: String, grants: GrantSet) {
        self.name = name
        self.grants = grants
    }

    public var isAdmin: Bool { grants.isAdmin }

    /// `user:` begins the name of a person signed in through single sign-on
    /// (issue 25): `user:EMAIL`, or `user:SUB` without a verified email. API
    /// key names cannot hold a `:`, so the two never meet.
    public static let personPrefix = "user:"

    /// A person signed in through single sign-on, not an API key.
    public var isPerson: Bool { name.hasPrefix(Self.personPrefix) }

    /// `key 'ci'`, or `user 'ana@acme.dev'` for a person.
    public var described: String {
        isPerson ? "user '\(name.dropFirst(Self.personPrefix.count))'" : "key '\(name)'"
    }

    public func may(_ access: Access, in scope: Scope) -> Bool { grants.allows(access, in: scope) }

    /// `key 'ci' may not write to team (its grants: team:names)`.
    public func refusal(_ access: Access, _ scope: Scope) -> ServerRefusal {
        .denied("\(described) may not \(access.verb) \(scope) (\(isPerson ? "their" : "its") grants: \(grants))")
    }

    /// `key 'ci' may not manage keys: that needs an admin key (…)`.
    public func adminRefusal(_ what: String) -> ServerRefusal {
        .denied("\(described) may not \(what): that needs \(isPerson ? "an admin member" : "an admin key") (\(isPerson ? "their" : "its") grants: \(grants))")
    }

    /// `keys create --database`: whoever can write the database holds everything.
    public static let databaseOwner = ActingKey(name: "(database)", grants: GrantSet([.admin]))
}

/// Why the server refused a request; each maps to one HTTP status.
public enum ServerRefusal: Error, Sendable, CustomStringConvertible {
    /// 401: no key, an unknown, revoked or expired one.
    case unauthenticated(String)
    /// 403: the key's grants do not allow it.
    case denied(String)
    /// 400: the request is malformed.
    case invalid(String)
    /// 404
    case notFound(String)
    /// 409
    case conflict(String)
    /// 413: more items than one request may carry.
    case tooLarge(String)

    public var description: String {
        switch self {
        case .unauthenticated(let m), .denied(let m), .invalid(let m), .notFound(let m), .conflict(let m), .tooLarge(let m): m
        }
    }
}
