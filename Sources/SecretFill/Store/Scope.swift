/// Where a secret lives. Precedence when one name exists in several scopes:
/// project beats cluster beats team, as on Paperspace.
public enum Scope: Sendable, Hashable, CustomStringConvertible {
    case team
    case project(String)
    case cluster(String)

    /// The three kinds of scope, as typed on the command line.
    public enum Kind: String, Sendable, CaseIterable {
        case team, project, cluster
    }

    public var kind: Kind {
        switch self {
        case .team: .team
        case .project: .project
        case .cluster: .cluster
        }
    }

    public var id: String? {
        switch self {
        case .team: nil
        case .project(let id), .cluster(let id): id
        }
    }

    /// `team`, `project pr-1`, `cluster c-1`: how messages name a scope.
    public var description: String {
        switch self {
        case .team: "team"
        case .project(let id): "project \(id)"
        case .cluster(let id): "cluster \(id)"
        }
    }

    /// Builds a scope from a kind and an optional id, enforcing that project
    /// and cluster have one and team has none.
    public init(kind: Kind, id: String?) throws(SecretInputError) {
        switch (kind, id) {
        case (.team, nil): self = .team
        case (.team, .some): throw .idNotAllowedForTeam
        case (.project, nil), (.cluster, nil): throw .missingID(kind)
        case (.project, .some(let id)):
            try Scope.validateID(id)
            self = .project(id)
        case (.cluster, .some(let id)):
            try Scope.validateID(id)
            self = .cluster(id)
        }
    }

    public static let idRuleDescription = "a scope id must match [A-Za-z0-9_.-]+ and be at most 128 characters, and may not be . or .."

    public static func validateID(_ id: String) throws(SecretInputError) {
        let ok = !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy {
            SecretName.isLetter($0) || SecretName.isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
        // `.` and `..` would name another page once a browser or a proxy
        // normalises the path (`/ui/project/..` is `/ui/`): refused everywhere.
        guard ok, id != ".", id != ".." else { throw .invalidID(id) }
    }
}

/// The scopes a lookup may use, most specific first.
public struct ScopeChain: Sendable, Hashable, CustomStringConvertible {
    public var project: String?
    public var cluster: String?

    public init(project: String? = nil, cluster: String? = nil) {
        self.project = project
        self.cluster = cluster
    }

    /// Project, then cluster, then team: the order names resolve in.
    public var scopes: [Scope] {
        var result: [Scope] = []
        if let project { result.append(.project(project)) }
        if let cluster { result.append(.cluster(cluster)) }
        result.append(.team)
        return result
    }

    /// `project p, cluster c, team`, for "looked in …" messages.
    public var description: String { scopes.map(\.description).joined(separator: ", ") }
}
