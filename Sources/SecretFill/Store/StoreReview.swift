/// What `secretfill store accept` and `store upgrade` show before they
/// re-seal a store's MAC: every scope and name, whether each sealed value
/// opens with the key, the state of the MAC, and (when the store is tracked
/// in git) which names differ from the committed version. Names only.
public struct StoreReview: Sendable {
    public enum MACState: Sendable, Hashable {
        /// The MAC matches: nothing to accept.
        case valid
        /// The MAC does not match the content.
        case mismatch
        /// A version 2 store without `mac`.
        case missing
        /// A version 1 store, from before the MAC.
        case legacy
    }

    public struct Entry: Sendable, Hashable {
        public var scope: Scope
        public var name: String
        public var opens: Bool
    }

    public var document: StoreDocument
    public var state: MACState
    /// In canonical order: team, projects by id, clusters by id; names in byte order.
    public var entries: [Entry]

    public var failing: [Entry] { entries.filter { !$0.opens } }

    /// team, then projects, then clusters, ids in byte order.
    static func order(_ scopes: [Scope]) -> [Scope] {
        func rank(_ scope: Scope) -> Int {
            switch scope { case .team: 0; case .project: 1; case .cluster: 2 }
        }
        return scopes.sorted { a, b in
            rank(a) != rank(b) ? rank(a) < rank(b) : (a.id ?? "").utf8.lexicographicallyPrecedes((b.id ?? "").utf8)
        }
    }

    /// One difference from another version of the store (names only).
    public struct Change: Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable { case added, removed, changed }
        public var scope: Scope
        public var name: String
        public var kind: Kind

        public var description: String {
            switch kind {
            case .added: "\(scope) '\(name)': added"
            case .removed: "\(scope) '\(name)': removed"
            case .changed: "\(scope) '\(name)': sealed value or update time differs"
            }
        }
    }

    /// Names added, removed or changed in this review's document relative to `base`.
    public func changes(since base: StoreDocument) -> [Change] {
        var result: [Change] = []
        for scope in Self.order(Array(Set(document.scopes + base.scopes))) {
            let now = document[scope]
            let before = base[scope]
            for name in StoreCanonical.sortedByBytes(Set(now.keys).union(before.keys)) {
                switch (before[name], now[name]) {
                case (nil, .some): result.append(.init(scope: scope, name: name, kind: .added))
                case (.some, nil): result.append(.init(scope: scope, name: name, kind: .removed))
                case (.some(let a), .some(let b)) where a != b: result.append(.init(scope: scope, name: name, kind: .changed))
                default: break
                }
            }
        }
        return result
    }
}
