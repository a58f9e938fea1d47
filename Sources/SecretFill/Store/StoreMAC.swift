import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Authenticates the store file as a whole: HMAC-SHA256 over
/// `StoreCanonical.bytes(of:)`, kept in the file as `"mac": "hmac-sha256:…"`.
///
/// Each sealed value already binds its scope and name, but only the whole-file
/// MAC stops what can be done without the key: pasting an older sealed value
/// back (rollback), deleting a project entry so a name falls back to team
/// (downgrade), or adding entries. The MAC key is derived from the store key
/// with HKDF (`StoreKey.macKey`; a key in a token derives it inside the
/// token, `StoreSealingKey.storeMACKey`), never the raw key.
public enum StoreMAC {
    public static let prefix = "hmac-sha256:"

    /// The `mac` field's text for `document` under `key`.
    public static func compute(_ document: StoreDocument, key: StoreKey) -> String {
        compute(document, macKey: key.macKey)
    }

    /// The `mac` field's text for `document` under a MAC key already derived
    /// (`StoreSealingKey.storeMACKey`: a key in a token derives it in the token).
    public static func compute(_ document: StoreDocument, macKey: SymmetricKey) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: StoreCanonical.bytes(of: document), using: macKey)
        return prefix + Data(code).base64EncodedString()
    }

    /// True when `document.mac` is the MAC of its content under `key`
    /// (compared in constant time by swift-crypto).
    public static func verify(_ document: StoreDocument, key: StoreKey) -> Bool {
        verify(document, macKey: key.macKey)
    }

    public static func verify(_ document: StoreDocument, macKey: SymmetricKey) -> Bool {
        verify(mac: document.mac, canonical: StoreCanonical.bytes(of: document), macKey: macKey)
    }

    /// The check on canonical bytes already encoded (`StoreFileIndex.canonicalBytes`).
    static func verify(mac: String?, canonical: [UInt8], macKey: SymmetricKey) -> Bool {
        guard let mac, mac.hasPrefix(prefix),
              let code = Data(base64Encoded: String(mac.dropFirst(prefix.count))), code.count == SHA256.byteCount
        else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: canonical, using: macKey)
    }
}

extension StoreDocument {
    /// This document with its `mac` computed under `key`: what every write stores.
    public func sealed(with key: StoreKey) -> StoreDocument {
        sealed(macKey: key.macKey)
    }

    /// This document with its `mac` computed under `macKey`.
    public func sealed(macKey: SymmetricKey) -> StoreDocument {
        var copy = self
        copy.mac = StoreMAC.compute(self, macKey: macKey)
        return copy
    }
}
