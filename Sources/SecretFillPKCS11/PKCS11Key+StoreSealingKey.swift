import Crypto
import SecretFill
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A key in a token as a store key (`StoreSealingKey`), for a team server's
/// database and for the local store file alike:
/// - a data key is wrapped by the token's AES-256-GCM, with the associated
///   data a key file's wrap binds (`secretfill data key v1|ID`), in the same
///   layout (nonce, ciphertext, tag), base64;
/// - a derived key is HKDF-SHA256 of two fixed blocks the token encrypted
///   (AES as a pseudorandom function: only the token can compute it, and the
///   fingerprint, made from another block, tells nothing of it), with the
///   use's `info` and ` pkcs11` after it;
/// - it opens no value sealed under the store key itself (`legacyValueKey`
///   is nil): its bytes never leave the token.
///
/// Failures are the token's (`PKCS11Error`), never the key's bytes or the PIN.
extension PKCS11Key: StoreSealingKey {
    public var source: String { "key \"\(spec.key)\" in token \"\(spec.token)\"" }

    public func wrapDataKey(_ data: StoreKey, id: String) throws -> String {
        var bytes = data.rawBytes
        defer { for i in bytes.indices { bytes[i] = 0 } }
        return Data(try seal(bytes, authenticating: StoreKey.wrapAssociatedData(id: id))).base64EncodedString()
    }

    public func unwrapDataKey(_ wrapped: String, id: String) throws -> StoreKey? {
        guard let data = Data(base64Encoded: wrapped) else { return nil }
        guard var bytes = try open(Array(data), authenticating: StoreKey.wrapAssociatedData(id: id)) else { return nil }
        defer { for i in bytes.indices { bytes[i] = 0 } }
        return try? StoreKey(bytes: bytes, source: "data key \(id)")
    }

    public func derivedKey(salt: [UInt8]?, info: String) throws -> SymmetricKey {
        var material = try encryptBlocks(Self.derivationBlocks)
        defer { for i in material.indices { material[i] = 0 } }
        let info = Array((info + " pkcs11").utf8)
        guard let salt else { return HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), info: info, outputByteCount: 32) }
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: salt, info: info, outputByteCount: 32)
    }

    public var legacyValueKey: StoreKey? { nil }

    /// The two blocks every derived key starts from (a team server's backup
    /// MAC has always been made from these).
    static let derivationBlocks = Array("secretfill mac 1secretfill mac 2".utf8)
}
