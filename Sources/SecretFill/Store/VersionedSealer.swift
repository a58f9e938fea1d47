import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Seals values for the team server's database: AES-256-GCM under the
/// store key, the associated data binding scope, scope id, name and version,
/// so a row copied onto another name, scope or version fails to open.
public enum VersionedSealer {
    /// `secretfill-server/v1|KIND|ID|NAME|VERSION` in UTF-8 (ID empty for
    /// the team). Built byte by byte rather than through an interpolated
    /// `String`: the server builds one per value it opens.
    static func associatedData(name: String, scope: Scope, version: Int) -> [UInt8] {
        let kind = scope.kind.rawValue.utf8, id = (scope.id ?? "").utf8
        var bytes: [UInt8] = []
        bytes.reserveCapacity(prefix.count + kind.count + id.count + name.utf8.count + 23)
        bytes.append(contentsOf: prefix)
        bytes.append(contentsOf: kind)
        bytes.append(UInt8(ascii: "|"))
        bytes.append(contentsOf: id)
        bytes.append(UInt8(ascii: "|"))
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: "|"))
        appendDecimal(version, to: &bytes)
        return bytes
    }

    /// `String(value)`'s digits, without making the `String` (a third of
    /// this function's instructions, once per value opened: callgrind).
    static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let start = bytes.count
        var rest = value.magnitude
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        bytes[start...].reverse()
    }

    private static let prefix = Array("secretfill-server/v1|".utf8)

    /// The nonce, ciphertext and tag, as one byte string.
    public static func seal(_ value: SecretValue, name: String, scope: Scope, version: Int, key: StoreKey) -> [UInt8] {
        // AES-GCM sealing fails only on a wrong key size, which StoreKey rules out.
        let box = try! AES.GCM.seal(Array(value.revealed.utf8), using: key.symmetricKey,
                                    authenticating: associatedData(name: name, scope: scope, version: version))
        return Array(box.combined!)
    }

    public static func open(_ sealed: some DataProtocol, name: String, scope: Scope, version: Int, key: StoreKey) throws(StoreError) -> SecretValue {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plain = try AES.GCM.open(box, using: key.symmetricKey,
                                         authenticating: associatedData(name: name, scope: scope, version: version))
            return try SecretValue(validating: Array(plain))
        } catch {
            throw .cannotOpen(name: name, scope: scope)
        }
    }
}
