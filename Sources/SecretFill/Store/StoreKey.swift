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
        let bytes = key.withUnsafeBytes { Array($0) }
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
        let trimmed = start < end ? String(decoding: utf8[start..<end], as: UTF8.self) : ""
        guard let data = Data(base64Encoded: trimmed) else {
            throw .keyUnreadable(source: source, detail: "it is not base64 text of 32 bytes")
        }
        try self.init(bytes: Array(data), source: source)
    }

    /// The key for the store file's MAC (`StoreMAC`), derived with HKDF-SHA256
    /// so the raw key serves only AES-GCM and no key is used for two things.
    var macKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: symmetricKey, salt: Array("secretfill".utf8),
                               info: Array("secretfill store mac v1".utf8), outputByteCount: 32)
    }

    /// `sha256:` and the first 16 bytes, hex, of a domain-separated hash.
    static func fingerprint(of bytes: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("secretfill key fingerprint v1\n".utf8))
        hasher.update(data: bytes)
        let digest = hasher.finalize()
        return "sha256:" + digest.prefix(16).map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }
}
