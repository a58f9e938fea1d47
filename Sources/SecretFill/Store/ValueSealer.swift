import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Seals and opens single values with AES-256-GCM, binding each to its scope
/// and name through the associated data, so a sealed value copied onto
/// another name or scope fails to open instead of answering for it.
public enum ValueSealer {
    static func associatedData(name: String, scope: Scope) -> [UInt8] {
        Array("secretfill/v1|\(scope.kind.rawValue)|\(scope.id ?? "")|\(name)".utf8)
    }

    public static func seal(_ value: SecretValue, name: String, scope: Scope, key: StoreKey) -> String {
        // AES-GCM sealing fails only on a wrong key size, which StoreKey rules out.
        let box = try! AES.GCM.seal(Array(value.revealed.utf8), using: key.symmetricKey,
                                    authenticating: associatedData(name: name, scope: scope))
        return box.combined!.base64EncodedString()
    }

    public static func open(_ sealed: String, name: String, scope: Scope, key: StoreKey) throws(StoreError) -> SecretValue {
        do {
            guard let data = Data(base64Encoded: sealed) else { throw StoreError.cannotOpen(name: name, scope: scope) }
            let box = try AES.GCM.SealedBox(combined: data)
            var plain = try AES.GCM.open(box, using: key.symmetricKey, authenticating: associatedData(name: name, scope: scope))
            defer { plain.resetBytes(in: 0..<plain.count) }
            var bytes = Array(plain)
            defer { for i in bytes.indices { bytes[i] = 0 } }
            return try SecretValue(validating: bytes)
        } catch {
            throw .cannotOpen(name: name, scope: scope)
        }
    }
}
