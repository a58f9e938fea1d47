import NIOConcurrencyHelpers
import SecretFill
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The data keys a server seals and opens values with (issue 27, envelope
/// sealing), unwrapped once with the store key and held in memory.
///
/// In the database: `data_keys` holds each live data key wrapped under the
/// store key; `server_meta` names the one new values are sealed under
/// (`active_data_key`) and, while `rekey --data` runs, the one being retired
/// (`retiring_data_key`). A value's stored text names its data key
/// (`EnvelopeText`); one without a name was sealed under the store key
/// itself, before envelope sealing, and still opens.
///
/// Writers read `active_data_key` in their own transaction (`FOR SHARE` on
/// PostgreSQL; SQLite's writers take turns): `rekey --data` changes it with
/// an UPDATE that waits for them, so once the change commits no value can
/// be sealed under the old key, and one pass over the values finds every
/// value left to re-encrypt.
final class DataKeyring: Sendable {
    private let store: NIOLockedValueBox<ServerStoreKey>
    private let keys = NIOLockedValueBox<[String: StoreKey]>([:])

    init(storeKey: ServerStoreKey) {
        store = NIOLockedValueBox(storeKey)
    }

    /// The store key the data keys are wrapped under, as this server knows it.
    var storeKey: ServerStoreKey { store.withLockedValue { $0 } }

    /// After this server re-wrapped the data keys under `key` (`POST
    /// /v1/rekey` new-key): it goes on with the new key, which it was given;
    /// other servers keep the data keys they hold until they are restarted.
    func adopt(_ key: ServerStoreKey) { store.withLockedValue { $0 = key } }

    /// A data key named by a value that this server's store key cannot unwrap.
    struct Unopenable: Error, CustomStringConvertible {
        let id: String
        var description: String {
            "a value is sealed under data key \(id), which this server's store key cannot unwrap: the store key was changed (secretfill rekey --new-key-file); restart the server with the new store key"
        }
    }

    // MARK: opening

    /// Opens every row with one look at the data keys held. A data key not
    /// held yet (one that `rekey --data` made while this server ran) is
    /// loaded from the database once, and the rows are opened again.
    func openAll<Row>(_ rows: [Row], from database: any ServerDatabase,
                      _ parts: (Row) -> (sealed: String, name: String, scope: Scope, version: Int)) async throws -> [SecretValue] {
        do {
            return try open(rows, with: keys.withLockedValue { $0 }, parts)
        } catch is Unknown {
            try await database.repositorySession { rows in try await self.load(rows) }
            do {
                return try open(rows, with: keys.withLockedValue { $0 }, parts)
            } catch let unknown as Unknown {
                throw Unopenable(id: unknown.id)
            }
        }
    }

    /// One value, inside a transaction (rollback, `rekey`'s pass): a data key
    /// not held yet is loaded through `rows` first.
    func open(_ sealed: String, name: String, scope: Scope, version: Int, loadingWith rows: any DataKeyRows) async throws -> SecretValue {
        let row = [(sealed, name, scope, version)]
        do {
            return try open(row, with: keys.withLockedValue { $0 }, { $0 })[0]
        } catch let unknown as Unknown {
            try await load(rows)
            guard holds(unknown.id) else { throw Unopenable(id: unknown.id) }
            return try open(row, with: keys.withLockedValue { $0 }, { $0 })[0]
        }
    }

    /// Each row's value, with the data key its text names (from `held`) or,
    /// for a text that names none, the store key. `Unknown` for a key not in `held`.
    private func open<Row>(_ rows: [Row], with held: [String: StoreKey],
                           _ parts: (Row) -> (sealed: String, name: String, scope: Scope, version: Int)) throws -> [SecretValue] {
        let storeKey = self.storeKey
        // The values of one answer are nearly always under one data key:
        // the last one found is compared before the dictionary is asked.
        var last: (id: String, key: StoreKey)?
        return try rows.map { row in
            let (sealed, name, scope, version) = parts(row)
            let (id, body) = EnvelopeText.parts(of: sealed)
            let key: StoreKey
            if let id {
                if let last, last.id == id {
                    key = last.key
                } else {
                    guard let known = held[String(id)] else { throw Unknown(id: String(id)) }
                    key = known
                    last = (String(id), known)
                }
            } else {
                key = try storeKey.legacyKey()
            }
            guard let data = Data(base64Encoded: String(body)) else { throw StoreError.cannotOpen(name: name, scope: scope) }
            return try VersionedSealer.open(data, name: name, scope: scope, version: version, key: key)
        }
    }

    private struct Unknown: Error { let id: String }

    /// Whether the data key `id` is loaded.
    func holds(_ id: String) -> Bool { keys.withLockedValue { $0[id] != nil } }

    /// Every data key in `data_keys` that the store key unwraps.
    func load(_ rows: any DataKeyRows) async throws {
        let wrapped = try await rows.wrappedDataKeys()
        let storeKey = self.storeKey
        var loaded: [String: StoreKey] = [:]
        for (id, text) in wrapped {
            if let key = try storeKey.unwrap(text, id: id) { loaded[id] = key }
        }
        keys.withLockedValue { held in held.merge(loaded) { old, _ in old } }
    }

    // MARK: sealing

    /// The data key new values are sealed under, read in the writer's own
    /// transaction (see the type's comment); made on first use (the first
    /// write, `serve`'s start, or a rekey).
    func active(_ rows: any DataKeyRows) async throws -> (id: String, key: StoreKey) {
        let id: String
        if let existing = try await rows.activeDataKeyID(lock: .share) {
            id = existing
        } else {
            id = try await Self.createActive(rows, storeKey: storeKey)
        }
        if let key = keys.withLockedValue({ $0[id] }) { return (id, key) }
        try await load(rows)
        guard let key = keys.withLockedValue({ $0[id] }) else { throw Unopenable(id: id) }
        return (id, key)
    }

    /// `value` sealed for the row (name, scope, version) under `key`, as stored.
    static func seal(_ value: SecretValue, name: String, scope: Scope, version: Int, with key: (id: String, key: StoreKey)) -> String {
        EnvelopeText.compose(id: key.id, sealed: VersionedSealer.seal(value, name: name, scope: scope, version: version, key: key.key))
    }

    /// Makes the first data key, unless a concurrent writer just did: the
    /// upsert waits for theirs and then leaves it, and theirs is used.
    static func createActive(_ rows: any DataKeyRows, storeKey: ServerStoreKey) async throws -> String {
        let fresh = StoreKey.generateDataKey()
        guard try await rows.claimActiveDataKey(fresh.id) else {
            guard let id = try await rows.activeDataKeyID(lock: .none) else { throw DatabaseUnavailable(detail: "no active data key") }
            return id
        }
        try await insert(rows, id: fresh.id, key: fresh.key, wrappedBy: storeKey)
        return fresh.id
    }

    static func insert(_ rows: any DataKeyRows, id: String, key: StoreKey, wrappedBy storeKey: ServerStoreKey) async throws {
        let wrapped = try storeKey.wrap(key, id: id)
        try await rows.insertDataKey(id, wrapped: wrapped, at: Clock.nowMillis())
    }
}
