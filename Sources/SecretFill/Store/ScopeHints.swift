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
    /// parentheses of an unknown-secret message. When it exists nowhere else
    /// but is a typo away from a name in the chain, `; did you mean
    /// 'db_password'?` instead: the exact name in another scope is the
    /// likelier fix, so the two are never given together.
    public static func lookedIn(_ chain: ScopeChain, elsewhere: [Scope], suggestion: String? = nil) -> String {
        if !elsewhere.isEmpty { return "looked in \(chain); " + existsIn(elsewhere, chain: chain) }
        return "looked in \(chain)" + (suggestion.map { "; did you mean '\($0)'?" } ?? "")
    }

    /// Every name in the scopes of `chain` (what a suggestion may be), in
    /// byte order without repeats.
    public static func names(in chain: ScopeChain, of directory: any SecretDirectory) throws(StoreError) -> [String] {
        var names: Set<String> = []
        for scope in chain.scopes {
            for entry in try directory.listing(of: scope) { names.insert(entry.name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Where `name` exists outside `chain` and, when nowhere, the name of
    /// the chain it may be a typo of (`names` caches the chain's names
    /// across calls; pass the same variable each time).
    public static func hint(for name: String, chain: ScopeChain, in directory: any SecretDirectory,
                            names: inout [String]?) throws(StoreError) -> (elsewhere: [Scope], suggestion: String?) {
        let elsewhere = try elsewhere(name, outside: chain, in: directory)
        guard elsewhere.isEmpty else { return (elsewhere, nil) }
        if names == nil { names = try Self.names(in: chain, of: directory) }
        return ([], NameSuggestion.closest(to: name, among: names!))
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
        guard !ids.isEmpty else {
            // Said only when known: a server key may not see every project.
            return try directory.listsEvery(scope.kind) ? message + " (no \(scope.kind.rawValue) has any)" : message
        }
        let shown = ids.prefix(shownPlaces).joined(separator: ", ") + (ids.count > shownPlaces ? " and \(ids.count - shownPlaces) more" : "")
        return message + " (\(scope.kind.rawValue)s with secrets: \(shown))"
    }
}
