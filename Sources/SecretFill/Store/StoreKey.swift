import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The 256-bit key that seals every value in a store, and where it came from.
public struct StoreKey: Sendable {
    let symmetricKey: SymmetricKey
    /// Where the key was read from, for messages (`SECRETFILL_KEY`, a path).
    public let source: String
    /// A non-secret identifier of the key, recorded in the store so a wrong
    /// key is refused before anything is decrypted.
    public let fingerprint: String

    public init(bytes: [UInt8], source: String) throws(StoreError) {
        guard bytes.count == 32 else {
            throw .keyUnreadable(source: source, detail: "it must be 32 bytes (base64-encoded), found \(bytes.count)")
        }
        symmetricKey = SymmetricKey(data: bytes)
        self.source = source
        fingerprint = StoreKey.fingerprint(of: bytes)
    }

    /// A fresh random key.
    public static func generate() -> (key: StoreKey, encoded: String) {
        let key = SymmetricKey(size: .bits256)
        var bytes = key.withUnsafeBytes { Array($0) }
        defer { for i in bytes.indices { bytes[i] = 0 } }
        // Cannot fail: the byte count is right by construction.
        let storeKey = try! StoreKey(bytes: bytes, source: "new key")
        return (storeKey, Data(bytes).base64EncodedString())
    }

    /// Parses the base64 text of a key (surrounding whitespace ignored).
    public init(base64 text: String, source: String) throws(StoreError) {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) }
        let utf8 = Array(text.utf8)
        let start = utf8.firstIndex { !isSpace($0) } ?? utf8.count
        let end = (utf8.lastIndex { !isSpace($0) } ?? -1) + 1
        let body = start < end ? Array(utf8[start..<end]) : []
        let isBase64: (UInt8) -> Bool = { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="): true
            default: false
            }
        }
        guard body.allSatisfy(isBase64) else {
            throw .keyUnreadable(source: source, detail: "it is not base64 text of 32 bytes")
        }
        let padding = body.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        let characters = body.count - padding
        if body.prefix(characters).contains(UInt8(ascii: "=")) || padding != (4 - characters % 4) % 4 {
            throw .keyUnreadable(source: source, detail: "its '=' padding is wrong: the base64 of 32 bytes is 43 characters and one '=' (44 in all)")
        }
        guard var data = Data(base64Encoded: String(decoding: body, as: UTF8.self)) else {
            throw .keyUnreadable(source: source, detail: "it is not base64 text of 32 bytes")
        }
        defer { data.resetBytes(in: 0..<data.count) }
        var bytes = Array(data)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        try self.init(bytes: bytes, source: source)
    }

    /// The key for the store file's MAC (`StoreMAC`), derived with HKDF-SHA256
    /// so the raw key serves only AES-GCM and no key is used for two things.
    var macKey: SymmetricKey { derivedKey(salt: StoreKeyUse.salt, info: StoreKeyUse.storeMAC) }

    /// A key for one use: HKDF-SHA256 of the key with `salt` (nil: none) and
    /// `info` (`StoreKeyUse`), so the raw key serves only AES-GCM.
    public func derivedKey(salt: [UInt8]?, info: String) -> SymmetricKey {
        guard let salt else {
            return HKDF<SHA256>.deriveKey(inputKeyMaterial: symmetricKey, info: Array(info.utf8), outputByteCount: 32)
        }
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: symmetricKey, salt: salt, info: Array(info.utf8), outputByteCount: 32)
    }

    /// `sha256:` and the first 16 bytes, hex, of a domain-separated hash.
    static func fingerprint(of bytes: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("secretfill key fingerprint v1\n".utf8))
        hasher.update(data: bytes)
        let digest = hasher.finalize()
        return "sha256:" + HexText.lowercase(digest.prefix(16))
    }
}

/// The uses a store key's derived keys are for, each its own `info` (the
/// values are what the key file's derivations always were).
public enum StoreKeyUse {
    public static let salt = Array("secretfill".utf8)
    /// The store file's MAC (`StoreMAC`).
    public static let storeMAC = "secretfill store mac v1"
    /// A team server backup's MAC (`secretfill backup`).
    public static let backupMAC = "secretfill backup mac v1"
    /// The suffix of a Kubernetes Secret's name (`render --k8s-secret`), with no salt.
    public static let kubernetesSecretName = "secretfill kubernetes secret name suffix v1"
}
