#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `secretfill rekey` on the local store file (issue 27).
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

    /// Seals every value again under `newKey` and puts `newKey` in `keyFile`.
    /// Returns what was done, in words.
    public func rekey(to newKey: StoreKey, keyFile: String) throws(StoreError) -> String {
        let pending = keyFile + Self.pendingKeySuffix
        let text = Array((newKey.base64Text + "\n").utf8)
        var resealed: Int?
        if try readIndex().keyFingerprint != newKey.fingerprint {
            do { try FileIO.replaceAtomically(pending, with: text) } catch { throw .io(error) }
            try modify(resealWith: newKey) { document, old throws(StoreError) in
                resealed = try Self.reseal(&document, from: old, to: newKey)
                document.keyFingerprint = newKey.fingerprint
            }
        }
        if key?.fingerprint != newKey.fingerprint {
            do { try FileIO.replaceAtomically(keyFile, with: text) } catch { throw .io(error) }
        }
        if FileIO.exists(pending) { unlink(pending) }
        guard let resealed else { return "The store was already sealed under the new key; the key file is up to date" }
        return "Sealed \(resealed) value(s) in \(path) again under the new key"
    }

    /// Seals every value again under the same key (fresh nonces): `rekey --data`
    /// on a local store, which has no data key of its own. Returns how many.
    public func resealAll() throws(StoreError) -> Int {
        var count = 0
        try modify { document, key throws(StoreError) in count = try Self.reseal(&document, from: key, to: key) }
        return count
    }

    static func reseal(_ document: inout StoreDocument, from old: StoreKey, to new: StoreKey) throws(StoreError) -> Int {
        var count = 0
        for scope in document.scopes {
            var entries = document[scope]
            for (name, entry) in entries {
                let value = try ValueSealer.open(entry.sealed, name: name, scope: scope, key: old)
                entries[name] = SealedEntry(sealed: ValueSealer.seal(value, name: name, scope: scope, key: new), updated: entry.updated)
                count += 1
            }
            document[scope] = entries
        }
        return count
    }
}
