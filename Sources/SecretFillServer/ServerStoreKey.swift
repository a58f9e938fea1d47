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
/// Both are `StoreSealingKey`s, which say how each wraps the data keys,
/// names itself and derives a MAC key (`PKCS11Key+StoreSealingKey` for the
/// token); this type adds what a server needs on top: a backup's MAC key,
/// and the refusal of a value a key in a token cannot open.
///
/// Values written before envelope sealing are sealed under the store key
/// itself. A token key cannot open them (that would need every value through
/// the token), so they must be moved under a data key first: `rekey
/// --new-key-pkcs11` does that with the key file before it moves the data
/// keys into the token.
public enum ServerStoreKey: Sendable {
    case file(StoreKey)
    case token(PKCS11Key)

    /// The key, as every store's sealing uses it.
    public var sealing: any StoreSealingKey {
        switch self {
        case .file(let key): key
        case .token(let key): key
        }
    }

    public var fingerprint: String { sealing.fingerprint }

    /// Where the key is, for messages: the key file's source, or the token's key.
    public var source: String { sealing.source }

    public var isToken: Bool { if case .token = self { true } else { false } }

    /// `data` wrapped under this key, base64, for the `data_keys` table.
    func wrap(_ data: StoreKey, id: String) throws -> String { try sealing.wrapDataKey(data, id: id) }

    /// The data key `wrapped` holds, or nil when this key did not wrap it.
    /// Throws only when the token cannot be used.
    func unwrap(_ wrapped: String, id: String) throws -> StoreKey? { try sealing.unwrapDataKey(wrapped, id: id) }

    /// The key of values sealed under the store key itself (before envelope sealing).
    func legacyKey() throws -> StoreKey {
        guard let key = sealing.legacyValueKey else { throw LegacyValueUnderToken() }
        return key
    }

    /// The key of a backup's MAC.
    func backupMACKey() throws -> SymmetricKey {
        try sealing.derivedKey(salt: StoreKeyUse.salt, info: StoreKeyUse.backupMAC)
    }
}

/// A value sealed under the store key itself, met by a server whose store key is in a token.
struct LegacyValueUnderToken: Error, CustomStringConvertible {
    var description: String {
        "a value is sealed under the store key itself (written before envelope sealing), which a key in a token cannot open: move the database back to its key file (secretfill rekey --database URL --new-key-file FILE), run secretfill rekey --database URL --data, then move it into the token again"
    }
}
