import Crypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The store as one encrypted JSON file on this machine.
///
/// Reads parse the file once and decrypt only the values asked for. Every
/// change is a read-modify-write under an exclusive `flock` on `PATH.lock`,
/// written to a temporary file and renamed over the store, so concurrent
/// writers never lose each other's secrets and readers never see half a file.
public final class LocalSecretStore: SecretStore {
    public let path: String
    /// The store key: a key file's, or a key in a token (`StoreSealingKey`).
    let key: (any StoreSealingKey)?
    /// The new key of a `rekey` that was interrupted after the store was
    /// sealed under it and before the key file was replaced (`KEYFILE.next`):
    /// used only when the store's fingerprint names it.
    public var pendingKey: StoreKey?
    /// Seconds a change waits for another writer's lock before failing.
    public var lockTimeout: Double = FileLock.defaultTimeout
    /// The file as last read, indexed lazily; reads never decode unused entries.
    private var cached: StoreFileIndex?
    /// The keys of `cached`, its data key unwrapped once.
    private var cachedKeys: StoreValueKeys?

    /// `key` may be nil for name-only use (check, list, which).
    public init(path: String, key: (any StoreSealingKey)?) throws(StoreError) {
        self.path = path
        self.key = key
    }

    /// Creates an empty store sealed for `key`, with a fresh data key wrapped
    /// under it; refuses to overwrite.
    public static func create(at path: String, key: any StoreSealingKey) throws(StoreError) -> LocalSecretStore {
        if FileIO.exists(path) { throw .storeExists(path: path) }
        var document = StoreDocument(keyFingerprint: key.fingerprint)
        document.dataKey = try StoreValueKeys.writing(nil, store: key, path: path).record
        let sealed = document.sealed(macKey: try key.storeMACKey())
        do {
            try FileIO.makeDirectories(FileIO.split(path).directory)
            try FileIO.createExclusively(path, with: sealed.encoded())
        } catch {
            if error.code == EEXIST { throw .storeExists(path: path) }
            throw .io(error)
        }
        return try LocalSecretStore(path: path, key: key)
    }

    // MARK: SecretDirectory

    public func listing(of scope: Scope) throws(StoreError) -> [SecretListing] {
        let entries = try index().entries(in: scope)
        return entries.keys.sorted().map { SecretListing(name: $0, updated: entries[$0]!.updated) }
    }

    public func contains(_ name: String, in scope: Scope) throws(StoreError) -> Bool {
        try index().contains(name, in: scope)
    }

    public func allScopes() throws(StoreError) -> [Scope] {
        try index().scopes
    }

    // MARK: SecretStore

    public func value(of name: String, in scope: Scope) throws(StoreError) -> SecretValue? {
        let index = try index()
        guard let entry = try index.entry(name, in: scope) else { return nil }
        return try valueKeys(index).open(entry.sealed, name: name, scope: scope)
    }

    public func set(_ values: [(name: String, value: SecretValue)], in scope: Scope) throws(StoreError) {
        _ = try setReplacing(values, in: scope)
    }

    /// `set`, returning the names that already existed in `scope` (as found
    /// under the lock), so `set` and `import` can say what they replaced.
    public func setReplacing(_ values: [(name: String, value: SecretValue)], in scope: Scope) throws(StoreError) -> Set<String> {
        var replaced: Set<String> = []
        try modify { document, keys throws(StoreError) in
            let now = Self.timestamp()
            var entries = document[scope]
            for (name, value) in values {
                if entries[name] != nil { replaced.insert(name) }
                entries[name] = SealedEntry(sealed: keys.seal(value, name: name, scope: scope), updated: now)
            }
            document[scope] = entries
        }
        return replaced
    }

    public func delete(_ name: String, in scope: Scope) throws(StoreError) {
        try modify { document, _ throws(StoreError) in
            var entries = document[scope]
            guard entries.removeValue(forKey: name) != nil else { throw .notFound(name: name, scope: scope) }
            document[scope] = entries
        }
    }

    // MARK: Review and accept (secretfill store accept / upgrade)

    /// The store as it is now, read without trusting its MAC (the key must
    /// still be the one it was sealed with): what `accept` and `upgrade` show.
    public func review() throws(StoreError) -> StoreReview {
        let index = try readIndex(allowLegacy: true)
        let key = try verifiedKey(fingerprint: index.keyFingerprint)
        let document = try index.document()
        // A data key the store key does not open: every value shows as not opening.
        let keys = try? StoreValueKeys.reading(index.dataKey, store: key, path: path)
        let state: StoreReview.MACState
        if index.version == StoreDocument.legacyVersion {
            state = .legacy
        } else if document.mac == nil {
            state = .missing
        } else {
            state = StoreMAC.verify(document, macKey: try key.storeMACKey()) ? .valid : .mismatch
        }
        var entries: [StoreReview.Entry] = []
        for scope in StoreReview.order(document.scopes) {
            for name in StoreCanonical.sortedByBytes(document[scope].keys) {
                let opens = (try? keys?.open(document[scope][name]!.sealed, name: name, scope: scope)) != nil
                entries.append(.init(scope: scope, name: name, opens: opens))
            }
        }
        return StoreReview(document: document, state: state, entries: entries)
    }

    /// Re-seals the store's MAC over exactly the content `reviewed` showed
    /// (refused if the file changed since, or if any value does not open), and
    /// writes it as the current version.
    public func accept(_ reviewed: StoreReview) throws(StoreError) {
        try modify(trusting: true) { document, keys throws(StoreError) in
            var current = document
            current.mac = nil
            var shown = reviewed.document
            shown.mac = nil
            guard current == shown else { throw .changedDuringReview(path: path) }
            for scope in document.scopes {
                for (name, entry) in document[scope] {
                    _ = try keys.open(entry.sealed, name: name, scope: scope)
                }
            }
        }
    }

    // MARK: Internals

    /// With a key, the file is trusted only once its key fingerprint and its
    /// whole-file MAC check out; without one (check, list, which) only its shape is.
    private func index() throws(StoreError) -> StoreFileIndex {
        if let cached { return cached }
        let index = try readIndex()
        if key != nil {
            let key = try verifiedKey(fingerprint: index.keyFingerprint)
            guard index.mac != nil else { throw .macMissing(path: path) }
            guard StoreMAC.verify(mac: index.mac, canonical: try index.canonicalBytes(), macKey: try key.storeMACKey()) else {
                throw .tampered(path: path)
            }
        }
        cached = index
        cachedKeys = nil
        return index
    }

    /// The keys that open `index`'s values (its data key unwrapped once).
    private func valueKeys(_ index: StoreFileIndex) throws(StoreError) -> StoreValueKeys {
        if let cachedKeys, cached === index { return cachedKeys }
        let keys = try StoreValueKeys.reading(index.dataKey, store: try verifiedKey(fingerprint: index.keyFingerprint), path: path)
        if cached === index { cachedKeys = keys }
        return keys
    }

    static func checkMAC(_ document: StoreDocument, macKey: SymmetricKey, path: String) throws(StoreError) {
        guard document.mac != nil else { throw .macMissing(path: path) }
        guard StoreMAC.verify(document, macKey: macKey) else { throw .tampered(path: path) }
    }

    func readIndex(allowLegacy: Bool = false) throws(StoreError) -> StoreFileIndex {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path)
        } catch {
            if error.code == ENOENT { throw .storeMissing(path: path) }
            throw .io(error)
        }
        return try StoreFileIndex(bytes: bytes, path: path, allowLegacy: allowLegacy)
    }

    func verifiedKey(fingerprint: String) throws(StoreError) -> any StoreSealingKey {
        guard let key else { throw .keyMissing(path: "the key file") }
        if key.fingerprint != fingerprint, let pendingKey, pendingKey.fingerprint == fingerprint { return pendingKey }
        guard key.fingerprint == fingerprint else {
            throw .wrongKey(expected: fingerprint, supplied: key.fingerprint, source: key.source)
        }
        return key
    }

    /// Read-modify-write under the lock. `change` throwing leaves the file as it was.
    ///
    /// A store path that is a symbolic link is followed for the lock and the
    /// write alike: the lock is `TARGET.lock` and the target is replaced in its
    /// own folder, so the link stays and every path to the store locks one file.
    /// The MAC is checked first unless `trusting` (accept, upgrade: the caller
    /// has reviewed the content); the result is always written with a fresh MAC.
    /// `resealWith`: the key the result is sealed (and its MAC made) under,
    /// when not the one it was read with (`rekey`).
    ///
    /// Every write gives the file a data key (issue 27): `change` gets the file's
    /// data key (a fresh one, wrapped under the store key, when the file has
    /// none yet), and afterwards every value not under it (one written before
    /// data keys, sealed under the store key) is sealed again under it: a file
    /// is upgraded by its next write, with no command of its own. `change`
    /// may replace the keys (`rekey`): the data key wrapped under another
    /// store key, or a fresh data key with every value sealed under it.
    /// Returns how many values the upgrade moved under the data key.
    @discardableResult
    func modify(trusting: Bool = false, resealWith: (any StoreSealingKey)? = nil,
                _ change: (inout StoreDocument, inout StoreValueKeys) throws(StoreError) -> Void) throws(StoreError) -> Int {
        if !FileIO.exists(path) { throw .storeMissing(path: path) }
        let target: String
        let lock: FileLock
        do {
            target = try FileIO.replacementTarget(path)
            lock = try FileLock(path: target + ".lock", timeout: lockTimeout)
        } catch { throw .io(error) }
        defer { lock.unlock() }
        FileIO.removeStaleTemporaryFiles(for: target, evenIfWriterRuns: true)
        var document = try readIndex(allowLegacy: trusting).document()
        let key = try verifiedKey(fingerprint: document.keyFingerprint)
        // Derived once: a key in a token derives it in the token.
        let macKey = try key.storeMACKey()
        if !trusting { try Self.checkMAC(document, macKey: macKey, path: path) }
        var keys = try StoreValueKeys.writing(document.dataKey, store: key, path: path)
        try change(&document, &keys)
        let moved = try Self.sealUnderDataKey(&document, keys)
        document.dataKey = keys.record
        let encoded = document.sealed(macKey: try resealWith?.storeMACKey() ?? macKey).encoded()
        do {
            try FileIO.replaceAtomically(target, with: encoded)
        } catch {
            throw .io(error)
        }
        // Read again on next use rather than re-parse here: a failure after a
        // successful write must not be reported as a failed change.
        cached = nil
        cachedKeys = nil
        return moved
    }

    /// Seals every value that is not under `keys`' data key again under it
    /// (opened with the store key, or refused as not opening). Returns how many.
    static func sealUnderDataKey(_ document: inout StoreDocument, _ keys: StoreValueKeys) throws(StoreError) -> Int {
        var count = 0
        for scope in document.scopes {
            var entries = document[scope]
            var changed = false
            for (name, entry) in entries where !keys.isCurrent(entry.sealed) {
                let value = try keys.open(entry.sealed, name: name, scope: scope)
                entries[name] = SealedEntry(sealed: keys.seal(value, name: name, scope: scope), updated: entry.updated)
                changed = true
                count += 1
            }
            if changed { document[scope] = entries }
        }
        return count
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
    }
}
