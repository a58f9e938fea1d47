/// Names are not secret, so when one does not resolve, secretfill says where
/// it does exist: `unknown secret 'tls_key' (looked in team; it exists in
/// cluster gpu-east: add --cluster gpu-east)`.
public enum ScopeHints {
    /// How many places a hint lists before "and N more".
    public static let shownPlaces = 3

    /// The scopes outside `chain` that hold `name`: projects, then clusters,
    /// each by id.
    public static func elsewhere(_ name: String, outside chain: ScopeChain,
                                 in directory: any SecretDirectory) throws(StoreError) -> [Scope] {
        let consulted = Set(chain.scopes)
        var found: [Scope] = []
        for scope in try directory.allScopes() where !consulted.contains(scope) {
            if try directory.contains(name, in: scope) { found.append(scope) }
        }
        return sorted(found)
    }

    /// Projects first, then clusters, then team; each kind by id.
    public static func sorted(_ scopes: [Scope]) -> [Scope] {
        func rank(_ scope: Scope) -> Int {
            switch scope {
            case .project: 0
            case .cluster: 1
            case .team: 2
            }
        }
        return scopes.sorted { a, b in
            rank(a) != rank(b) ? rank(a) < rank(b) : (a.id ?? "").utf8.lexicographicallyPrecedes((b.id ?? "").utf8)
        }
    }

    /// `looked in team` and, when the name exists elsewhere, `; it exists
    /// in cluster gpu-east: add --cluster gpu-east`: the text inside the
    /// parentheses of an unknown-secret message.
    public static func lookedIn(_ chain: ScopeChain, elsewhere: [Scope]) -> String {
        "looked in \(chain)" + (elsewhere.isEmpty ? "" : "; " + existsIn(elsewhere, chain: chain))
    }

    /// `it exists in cluster a, project b and 2 more: add --project ID or --cluster ID`.
    public static func existsIn(_ places: [Scope], chain: ScopeChain) -> String {
        let shown = places.prefix(shownPlaces).map(\.description)
        var list: String
        if places.count > shownPlaces {
            list = shown.joined(separator: ", ") + " and \(places.count - shownPlaces) more"
        } else if shown.count > 1 {
            list = shown.dropLast().joined(separator: ", ") + " and " + shown.last!
        } else {
            list = shown.first ?? ""
        }
        list = "it exists in " + list
        if places.count == 1, let place = places.first, let id = place.id {
            let flag = place.kind.rawValue
            let given = place.kind == .project ? chain.project : chain.cluster
            return list + ": \(given == nil ? "add" : "use") --\(flag) \(id)"
        }
        let kinds = Set(places.map(\.kind))
        let flags = [Scope.Kind.project, .cluster].filter { kinds.contains($0) }.map { "--\($0.rawValue) ID" }
        return list + ": choose one with " + flags.joined(separator: " or ")
    }
}

extension ScopeHints {
    /// For `secrets list` of a scope with no names: `project nope holds no
    /// secrets (projects with secrets: pr-1, pr-2)`, so a mistyped id shows.
    public static func emptyScope(_ scope: Scope, in directory: any SecretDirectory) throws(StoreError) -> String {
        let message = "\(scope) holds no secrets"
        guard scope.kind != .team else { return message }
        var others: [Scope] = []
        for other in try directory.allScopes() where other.kind == scope.kind && other != scope {
            if try !directory.listing(of: other).isEmpty { others.append(other) }
        }
        let ids = sorted(others).compactMap(\.id)
        guard !ids.isEmpty else { return message + " (no \(scope.kind.rawValue) has any)" }
        let shown = ids.prefix(shownPlaces).joined(separator: ", ") + (ids.count > shownPlaces ? " and \(ids.count - shownPlaces) more" : "")
        return message + " (\(scope.kind.rawValue)s with secrets: \(shown))"
    }
}
