import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Envelope sealing (issue 27): a team server's values are sealed under a
/// random *data key*, and only the data key is sealed ("wrapped") under the
/// store key. Changing the store key then re-wraps one small key instead of
/// re-encrypting every value; changing the data key re-encrypts values while
/// the store key stays.
///
/// A wrapped data key is AES-256-GCM of its 32 bytes under the store key,
/// the associated data binding its id (`secretfill data key v1|ID`), so a
/// wrapped key copied onto another id does not open.
extension StoreKey {
    /// A fresh random data key and its id (`dk-` and 16 hex digits).
    public static func generateDataKey() -> (id: String, key: StoreKey) {
        let id = "dk-" + HexText.lowercase((0..<8).map { _ in UInt8.random(in: 0...255) })
        return (id, StoreKey.generate().key)
    }

    /// `data` sealed under this key, base64, for the `data_keys` table.
    public func wrap(_ data: StoreKey, id: String) -> String {
        let bytes = data.symmetricKey.withUnsafeBytes { Array($0) }
        // AES-GCM sealing fails only on a wrong key size, which StoreKey rules out.
        let box = try! AES.GCM.seal(bytes, using: symmetricKey, authenticating: Self.wrapAssociatedData(id: id))
        return box.combined!.base64EncodedString()
    }

    /// The data key `wrapped` holds, or nil when this store key did not wrap it
    /// (another store key, another id, or changed bytes).
    public func unwrap(_ wrapped: String, id: String) -> StoreKey? {
        guard let data = Data(base64Encoded: wrapped), let box = try? AES.GCM.SealedBox(combined: data),
              var plain = try? AES.GCM.open(box, using: symmetricKey, authenticating: Self.wrapAssociatedData(id: id))
        else { return nil }
        defer { plain.resetBytes(in: 0..<plain.count) }
        var bytes = Array(plain)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        return try? StoreKey(bytes: bytes, source: "data key \(id)")
    }

    /// The key as a key file holds it: base64 of its 32 bytes.
    package var base64Text: String { symmetricKey.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// The key's 32 bytes, for a store key in a token to wrap (the caller zeroes its copy).
    package var rawBytes: [UInt8] { symmetricKey.withUnsafeBytes { Array($0) } }

    package static func wrapAssociatedData(id: String) -> [UInt8] { Array("secretfill data key v1|\(id)".utf8) }

}

/// The text a team server stores for one sealed value: `ID:BASE64` when a
/// data key sealed it, plain `BASE64` when the store key itself did (every
/// value written before envelope sealing). Base64 has no `:`, so the two
/// cannot be confused.
public enum EnvelopeText {
    /// The data key's id (nil for a value sealed under the store key) and the base64 part.
    public static func parts(of sealed: String) -> (id: Substring?, body: Substring) {
        guard let colon = colonIndex(in: sealed) else { return (nil, sealed[...]) }
        return (sealed[..<colon], sealed[sealed.utf8.index(after: colon)...])
    }

    /// The first `:`, looked for in the text's bytes where it has them in
    /// one piece (a native string, as every value read from a database is):
    /// `String.UTF8View.firstIndex(of:)` walks index by index, and was 600
    /// instructions a value, 0.6% of a resolve (callgrind, BENCHMARKS.md).
    static func colonIndex(in sealed: String) -> String.Index? {
        let colon = UInt8(ascii: ":")
        guard let found = sealed.utf8.withContiguousStorageIfAvailable({ $0.firstIndex(of: colon) }) else {
            return sealed.utf8.firstIndex(of: colon)
        }
        return found.map { sealed.utf8.index(sealed.utf8.startIndex, offsetBy: $0) }
    }

    public static func keyID(of sealed: String) -> Substring? { parts(of: sealed).id }
    public static func body(of sealed: String) -> Substring { parts(of: sealed).body }

    public static func compose(id: String, sealed: [UInt8]) -> String {
        id + ":" + Data(sealed).base64EncodedString()
    }
}
