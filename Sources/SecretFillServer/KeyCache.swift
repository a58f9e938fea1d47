import NIOConcurrencyHelpers
import SecretFillAPI

/// The API keys this server found in the last second, by token digest, so
/// that a client's requests in quick succession cost one key lookup a
/// second instead of one each (bench/server.sh: the lookup was a third of a
/// resolve's database work).
///
/// What it may and may not change:
/// - expiry is checked at every request against the cached expiry time;
/// - a key revoked through this server is forgotten at once;
/// - a key revoked through another server on the same database is refused
///   here within `lifetimeMillis` (one second);
/// - only keys that were accepted are kept: an unknown or revoked token is
///   looked up every time, so a key just created works on every server at once.
final class KeyCache: Sendable {
    static let lifetimeMillis = 1_000
    static let capacity = 4_096

    struct Entry: Sendable {
        let record: KeyRecord
        let grants: GrantSet
        let fetchedAt: Int
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    /// The entry for `digest` if it was fetched less than a second before `now`.
    func entry(digest: String, now: Int) -> Entry? {
        entries.withLockedValue { entries in
            guard let entry = entries[digest] else { return nil }
            guard now >= entry.fetchedAt, now - entry.fetchedAt < Self.lifetimeMillis else {
                entries[digest] = nil
                return nil
            }
            return entry
        }
    }

    func keep(_ entry: Entry) {
        entries.withLockedValue { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[entry.record.digest] = entry
        }
    }

    var count: Int { entries.withLockedValue { $0.count } }

    /// After a revoke: this server refuses the key from now on.
    /// After a role's deletion: every token it issued (named `role:NAME/…`).
    func forget(prefix: String) {
        entries.withLockedValue { entries in entries = entries.filter { !$0.value.record.name.hasPrefix(prefix) } }
    }

    /// After `logout`: the token it ended.
    func forget(digest: String) {
        entries.withLockedValue { _ = $0.removeValue(forKey: digest) }
    }

    func forget(name: String) {
        entries.withLockedValue { entries in entries = entries.filter { $0.value.record.name != name } }
    }
}
