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
    private let key: StoreKey?
    /// Seconds a change waits for another writer's lock before failing.
    public var lockTimeout: Double = FileLock.defaultTimeout
    /// The file as last read, indexed lazily; reads never decode unused entries.
    private var cached: StoreFileIndex?

    /// `key` may be nil for name-only use (check, list, which).
    public init(path: String, key: StoreKey?) throws(StoreError) {
        self.path = path
        self.key = key
    }

    /// Creates an empty store sealed for `key`; refuses to overwrite.
    public static func create(at path: String, key: StoreKey) throws(StoreError) -> LocalSecretStore {
        if FileIO.exists(path) { throw .storeExists(path: path) }
        do {
            try FileIO.makeDirectories(FileIO.split(path).directory)
            try FileIO.createExclusively(path, with: StoreDocument(keyFingerprint: key.fingerprint).encoded())
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
        let key = try verifiedKey(fingerprint: index.keyFingerprint)
        return try ValueSealer.open(entry.sealed, name: name, scope: scope, key: key)
    }

    public func set(_ values: [(name: String, value: SecretValue)], in scope: Scope) throws(StoreError) {
        try modify { document, key throws(StoreError) in
            let now = Self.timestamp()
            var entries = document[scope]
            for (name, value) in values {
                entries[name] = SealedEntry(sealed: ValueSealer.seal(value, name: name, scope: scope, key: key), updated: now)
            }
            document[scope] = entries
        }
    }

    public func delete(_ name: String, in scope: Scope) throws(StoreError) {
        try modify { document, _ throws(StoreError) in
            var entries = document[scope]
            guard entries.removeValue(forKey: name) != nil else { throw .notFound(name: name, scope: scope) }
            document[scope] = entries
        }
    }

    // MARK: Internals

    private func index() throws(StoreError) -> StoreFileIndex {
        if let cached { return cached }
        let index = try readIndex()
        cached = index
        return index
    }

    private func readIndex() throws(StoreError) -> StoreFileIndex {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path)
        } catch {
            if error.code == ENOENT { throw .storeMissing(path: path) }
            throw .io(error)
        }
        return try StoreFileIndex(bytes: bytes, path: path)
    }

    private func verifiedKey(fingerprint: String) throws(StoreError) -> StoreKey {
        guard let key else { throw .keyMissing(path: "the key file") }
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
    private func modify(_ change: (inout StoreDocument, StoreKey) throws(StoreError) -> Void) throws(StoreError) {
        if !FileIO.exists(path) { throw .storeMissing(path: path) }
        let target: String
        let lock: FileLock
        do {
            target = try FileIO.replacementTarget(path)
            lock = try FileLock(path: target + ".lock", timeout: lockTimeout)
        } catch { throw .io(error) }
        defer { lock.unlock() }
        FileIO.removeStaleTemporaryFiles(for: target, evenIfWriterRuns: true)
        var document = try readIndex().document()
        let key = try verifiedKey(fingerprint: document.keyFingerprint)
        try change(&document, key)
        let encoded = document.encoded()
        do {
            try FileIO.replaceAtomically(target, with: encoded)
        } catch {
            throw .io(error)
        }
        // Read again on next use rather than re-parse here: a failure after a
        // successful write must not be reported as a failed change.
        cached = nil
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
