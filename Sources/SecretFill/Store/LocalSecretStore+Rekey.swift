#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `secretfill rekey` on the local store file (issue 27).
///
/// The file's values are sealed under its data key, and the data key is
/// wrapped under the store key (`StoreDocument.dataKey`). A new store key
/// re-wraps the data key: no value is re-encrypted. A new data key (`--data`)
/// re-encrypts every value under it and drops the old one, in the one atomic
/// replace every change is.
///
/// The store and its key file are two files, and no rename replaces both.
/// So the new key is first written beside the key file (`KEYFILE.next`),
/// then the store is sealed under it (one atomic replace), then the key file
/// is replaced and the `.next` copy removed. After a crash at any point the
/// store opens: with the old key (store not replaced yet), or with the new
/// one from the key file or from `.next` (`pendingKey`); and the same
/// command run again finishes from where it stopped.
extension LocalSecretStore {
    public static let pendingKeySuffix = ".next"

    /// What `rekey` did, for its summary.
    public struct RekeyOutcome: Sendable, Hashable {
        /// False when the store was already sealed under the new key (a rerun after a crash).
        public var rewrapped: Bool
        /// Values of a file from before data keys, moved under the data key on the way.
        public var upgraded: Int
        /// The data key's id.
        public var dataKeyID: String?
    }

    /// Wraps the store's data key under `newKey` and puts `newKey` in `keyFile`.
    /// A file from before data keys gets its data key first (its values sealed under it).
    public func rekey(to newKey: StoreKey, keyFile: String) throws(StoreError) -> RekeyOutcome {
        let pending = keyFile + Self.pendingKeySuffix
        let text = Array((newKey.base64Text + "\n").utf8)
        let outcome = try reseal(under: newKey) { () throws(StoreError) in
            do throws(IOError) { try FileIO.replaceAtomically(pending, with: text) } catch { throw .io(error) }
        }
        if key?.fingerprint != newKey.fingerprint {
            do { try FileIO.replaceAtomically(keyFile, with: text) } catch { throw .io(error) }
        }
        if FileIO.exists(pending) { unlink(pending) }
        return outcome
    }

    /// `rekey --new-key-pkcs11`: wraps the store's data key under a key in a
    /// token. One atomic replace of the store, and no key file to replace: the
    /// store opens with the old key until it, and with the token's after.
    /// Values from before data keys are moved under the data key on the way
    /// (with the old key: the token's could not open them later).
    public func rekey(toToken newKey: any StoreSealingKey) throws(StoreError) -> RekeyOutcome {
        try reseal(under: newKey) {}
    }

    /// The store's data key wrapped under `newKey` and the file sealed under
    /// it, unless it already is (a rerun); `beforeWrite` runs just before.
    private func reseal(under newKey: any StoreSealingKey, beforeWrite: () throws(StoreError) -> Void) throws(StoreError) -> RekeyOutcome {
        let index = try readIndex()
        var outcome = RekeyOutcome(rewrapped: false, upgraded: 0, dataKeyID: index.dataKey?.id)
        guard index.keyFingerprint != newKey.fingerprint else { return outcome }
        try beforeWrite()
        var id: String?
        outcome.upgraded = try modify(resealWith: newKey) { document, keys throws(StoreError) in
            try keys.rewrap(under: newKey)
            document.keyFingerprint = newKey.fingerprint
            id = keys.dataID
        }
        outcome.dataKeyID = id
        outcome.rewrapped = true
        return outcome
    }

    /// `rekey --data`: a fresh data key; every value is opened (under the old
    /// data key, or the store key in a file from before data keys) and sealed
    /// under it, and the old data key is dropped from the file. Returns how
    /// many values, and the new data key's id.
    public func rotateDataKey() throws(StoreError) -> (count: Int, dataKeyID: String) {
        var count = 0
        var id = ""
        try modify { document, keys throws(StoreError) in
            let old = keys
            try keys.useFreshDataKey()
            for scope in document.scopes {
                var entries = document[scope]
                for (name, entry) in entries {
                    let value = try old.open(entry.sealed, name: name, scope: scope)
                    entries[name] = SealedEntry(sealed: keys.seal(value, name: name, scope: scope), updated: entry.updated)
                    count += 1
                }
                document[scope] = entries
            }
            id = keys.dataID ?? ""
        }
        return (count, id)
    }

    /// `rekey --status` on the local store: a rotation here is one atomic
    /// replace, never half done. `done` once the file has its data key (every
    /// value under it), `no rotation started` for a file from before data keys.
    public func rotationState() throws(StoreError) -> String {
        try readIndex().dataKey == nil ? "no rotation started" : "done"
    }
}
