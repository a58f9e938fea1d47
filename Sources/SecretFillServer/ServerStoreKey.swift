import Crypto
import SecretFill
import SecretFillPKCS11
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A team server's store key (issue 27): the 32 bytes of a key file
/// (`SECRETFILL_KEY_FILE`, `SECRETFILL_KEY`), or an AES-256 key in a PKCS#11
/// token (`--key-pkcs11`) that never leaves it.
///
/// The store key does three things for a server, and a token key does each
/// inside the token:
/// - it wraps the data keys (AES-256-GCM of their 32 bytes, associated data
///   `secretfill data key v1|ID`): the token runs CKM_AES_GCM, and what it
///   writes has the same layout as a key file's wrap;
/// - it names itself with a fingerprint: a key file's is a hash of its bytes
///   (`sha256:…`); a token key's is a hash of a fixed block the token
///   encrypted (`pkcs11:sha256:…`, `PKCS11Key.fingerprint`);
/// - it keys a backup's MAC: a key file's by HKDF of its bytes (as before);
///   a token key's by HKDF of two other fixed blocks the token encrypted
///   (AES as a pseudorandom function: only the token can compute it, and the
///   fingerprint, made from another block, tells nothing of it).
///
/// Values written before envelope sealing are sealed under the store key
/// itself. A token key cannot open them (that would need every value through
/// the token), so they must be moved under a data key first: `rekey
/// --new-key-pkcs11` does that with the key file before it moves the data
/// keys into the token.
public enum ServerStoreKey: Sendable {
    case file(StoreKey)
    case token(PKCS11Key)

    public var fingerprint: String {
        switch self {
        case .file(let key): key.fingerprint
        case .token(let key): key.fingerprint
        }
    }

    /// Where the key is, for messages: the key file's source, or the token's key.
    public var source: String {
        switch self {
        case .file(let key): key.source
        case .token(let key): "key \"\(key.spec.key)\" in token \"\(key.spec.token)\""
        }
    }

    public var isToken: Bool { if case .token = self { true } else { false } }

    /// `data` wrapped under this key, base64, for the `data_keys` table.
    func wrap(_ data: StoreKey, id: String) throws -> String {
        switch self {
        case .file(let key):
            return key.wrap(data, id: id)
        case .token(let key):
            var bytes = data.rawBytes
            defer { for i in bytes.indices { bytes[i] = 0 } }
            return Data(try key.seal(bytes, authenticating: StoreKey.wrapAssociatedData(id: id))).base64EncodedString()
        }
    }

    /// The data key `wrapped` holds, or nil when this key did not wrap it.
    /// Throws only when the token cannot be used.
    func unwrap(_ wrapped: String, id: String) throws -> StoreKey? {
        switch self {
        case .file(let key):
            return key.unwrap(wrapped, id: id)
        case .token(let key):
            guard let data = Data(base64Encoded: wrapped) else { return nil }
            guard var bytes = try key.open(Array(data), authenticating: StoreKey.wrapAssociatedData(id: id)) else { return nil }
            defer { for i in bytes.indices { bytes[i] = 0 } }
            return try? StoreKey(bytes: bytes, source: "data key \(id)")
        }
    }

    /// The key of values sealed under the store key itself (before envelope sealing).
    func legacyKey() throws -> StoreKey {
        switch self {
        case .file(let key): return key
        case .token: throw LegacyValueUnderToken()
        }
    }

    /// The key of a backup's MAC (see the type's comment).
    func backupMACKey() throws -> SymmetricKey {
        switch self {
        case .file(let key):
            return key.backupMACKey
        case .token(let key):
            var material = try key.encryptBlocks(Array("secretfill mac 1secretfill mac 2".utf8))
            defer { for i in material.indices { material[i] = 0 } }
            return HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: Array("secretfill".utf8),
                                          info: Array("secretfill backup mac v1 pkcs11".utf8), outputByteCount: 32)
        }
    }
}

/// A value sealed under the store key itself, met by a server whose store key is in a token.
struct LegacyValueUnderToken: Error, CustomStringConvertible {
    var description: String {
        "a value is sealed under the store key itself (written before envelope sealing), which a key in a token cannot open: move the database back to its key file (secretfill rekey --database URL --new-key-file FILE), run secretfill rekey --database URL --data, then move it into the token again"
    }
}
