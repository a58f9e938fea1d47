import Crypto

/// The store key as sealing uses it (issue 27): the 32 bytes of a key file
/// (`StoreKey`), or an AES-256 key that never leaves a PKCS#11 token
/// (`PKCS11Key`, in SecretFillPKCS11, which this library does not link).
///
/// A store key does four things, and a key in a token does each inside it:
/// - it names itself with a fingerprint, recorded in the store so a wrong key
///   is refused before anything is opened (`sha256:…` for a key file,
///   `pkcs11:sha256:…` for a key in a token);
/// - it wraps the data key (AES-256-GCM of its 32 bytes, associated data
///   `secretfill data key v1|ID`), and unwraps it;
/// - it derives the keys of MACs (the store file's, a server backup's, a
///   Kubernetes Secret's name): HKDF-SHA256, each with its own `info`;
/// - a key file's key also opens values sealed under the store key itself,
///   before data keys (`legacyValueKey`); a key in a token cannot, so such
///   values are moved under a data key before a store goes into a token.
///
/// The throwing requirements throw what the key's own layer throws (a token's
/// `PKCS11Error`), so a caller can tell a token that cannot be used from
/// anything else; a key file's key never throws.
public protocol StoreSealingKey: Sendable {
    var fingerprint: String { get }
    /// Where the key is, for messages: a key file's path, `SECRETFILL_KEY`, a token's key.
    var source: String { get }
    /// `data` wrapped under this key, base64.
    func wrapDataKey(_ data: StoreKey, id: String) throws -> String
    /// The data key `wrapped` holds, or nil when this key did not wrap it
    /// (another key, another id, or changed bytes).
    func unwrapDataKey(_ wrapped: String, id: String) throws -> StoreKey?
    /// A key for one use, HKDF-SHA256 from the store key with `salt` (nil:
    /// none) and `info`. A key in a token derives it from blocks only the
    /// token can encrypt, so it differs from a key file's for the same `info`.
    func derivedKey(salt: [UInt8]?, info: String) throws -> SymmetricKey
    /// The key of values sealed under the store key itself (before data
    /// keys); nil for a key whose bytes never leave its token.
    var legacyValueKey: StoreKey? { get }
}

extension StoreKey: StoreSealingKey {
    public func wrapDataKey(_ data: StoreKey, id: String) -> String { wrap(data, id: id) }

    public func unwrapDataKey(_ wrapped: String, id: String) -> StoreKey? { unwrap(wrapped, id: id) }

    public var legacyValueKey: StoreKey? { self }
}

extension StoreSealingKey {
    /// The key of the store file's MAC (`StoreMAC`).
    public func storeMACKey() throws(StoreError) -> SymmetricKey {
        try derived(salt: StoreKeyUse.salt, info: StoreKeyUse.storeMAC)
    }

    /// `derivedKey`, a failure as a store error.
    public func derived(salt: [UInt8]?, info: String) throws(StoreError) -> SymmetricKey {
        try asStoreError { try derivedKey(salt: salt, info: info) }
    }

    /// `wrapDataKey`, a failure as a store error.
    func wrapping(_ data: StoreKey, id: String) throws(StoreError) -> String {
        try asStoreError { try wrapDataKey(data, id: id) }
    }

    /// `unwrapDataKey`, a failure as a store error.
    func unwrapping(_ wrapped: String, id: String) throws(StoreError) -> StoreKey? {
        try asStoreError { try unwrapDataKey(wrapped, id: id) }
    }

    /// `body`, whose failure (the key's layer's, a token's) becomes a store
    /// error in that layer's words, naming where the key is.
    private func asStoreError<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw error
        } catch {
            throw .keyUnusable(source: source, detail: String(describing: error))
        }
    }
}
