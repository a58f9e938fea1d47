import Crypto
import Foundation
import SecretFill
import Testing

// The store key as sealing uses it (issue 27): a key file's `StoreKey`, or a
// key that never gives its bytes (a key in a token; the real one, against
// SoftHSM2, is in PKCS11Tests and HSMCLITests). Here: the key file's derived
// keys are what they always were, and the local store works through the
// protocol alone with a key that has no bytes to give.

/// A store key that keeps its bytes to itself, as a key in a token does:
/// wraps with its own AES key under other associated data, derives with
/// its own input, and opens no value from before data keys.
private struct KeptKey: StoreSealingKey {
    let inner = SymmetricKey(size: .bits256)
    var fingerprint: String { "pkcs11:sha256:" + String(repeating: "ab", count: 16) }
    var source: String { "a kept key" }

    func wrapDataKey(_ data: StoreKey, id: String) throws -> String {
        let box = try AES.GCM.seal(data.base64Text.utf8.map { $0 }, using: inner, authenticating: Array("kept|\(id)".utf8))
        return box.combined!.base64EncodedString()
    }

    func unwrapDataKey(_ wrapped: String, id: String) throws -> StoreKey? {
        guard let data = Data(base64Encoded: wrapped), let box = try? AES.GCM.SealedBox(combined: data),
              let plain = try? AES.GCM.open(box, using: inner, authenticating: Array("kept|\(id)".utf8))
        else { return nil }
        return try StoreKey(base64: String(decoding: plain, as: UTF8.self), source: "data key \(id)")
    }

    func derivedKey(salt: [UInt8]?, info: String) throws -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: inner, salt: salt ?? [], info: Array((info + " kept").utf8), outputByteCount: 32)
    }

    var legacyValueKey: StoreKey? { nil }
}

/// A key whose every use fails, as a token that stopped answering does.
private struct BrokenKey: StoreSealingKey, Error, CustomStringConvertible {
    var fingerprint: String { "pkcs11:sha256:" + String(repeating: "cd", count: 16) }
    var source: String { "a broken key" }
    var description: String { "the token stopped answering" }
    func wrapDataKey(_ data: StoreKey, id: String) throws -> String { throw self }
    func unwrapDataKey(_ wrapped: String, id: String) throws -> StoreKey? { throw self }
    func derivedKey(salt: [UInt8]?, info: String) throws -> SymmetricKey { throw self }
    var legacyValueKey: StoreKey? { nil }
}

@Suite("the store key as sealing uses it")
struct StoreSealingKeyTests {
    let folder: String

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-sealing-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    @Test("a key file's derived keys are the ones it always had: the store MAC's and a backup's with the salt, a Kubernetes Secret name's without")
    func keyFileDerivations() throws {
        let key = StoreKey.generate()
        let raw = SymmetricKey(data: Data(base64Encoded: key.encoded)!)
        let salt = Array("secretfill".utf8)
        #expect(key.key.derivedKey(salt: StoreKeyUse.salt, info: StoreKeyUse.storeMAC)
            == HKDF<SHA256>.deriveKey(inputKeyMaterial: raw, salt: salt, info: Array("secretfill store mac v1".utf8), outputByteCount: 32))
        #expect(key.key.derivedKey(salt: StoreKeyUse.salt, info: StoreKeyUse.backupMAC)
            == HKDF<SHA256>.deriveKey(inputKeyMaterial: raw, salt: salt, info: Array("secretfill backup mac v1".utf8), outputByteCount: 32))
        #expect(key.key.derivedKey(salt: nil, info: StoreKeyUse.kubernetesSecretName)
            == HKDF<SHA256>.deriveKey(inputKeyMaterial: raw, info: Array("secretfill kubernetes secret name suffix v1".utf8), outputByteCount: 32))
        // The MAC through the derived key is the MAC through the key.
        var document = StoreDocument(keyFingerprint: key.key.fingerprint)
        document.team["a"] = SealedEntry(sealed: "x", updated: "2026-01-01T00:00:00Z")
        #expect(StoreMAC.compute(document, key: key.key) == StoreMAC.compute(document, macKey: try key.key.storeMACKey()))
    }

    @Test("a local store sealed under a key that keeps its bytes: created, written, read, rotated; its MAC is the key's; another key is refused by fingerprint")
    func localStoreUnderAKeptKey() throws {
        let key = KeptKey()
        let path = folder + "/store.json"
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set([("a", try SecretValue(validating: "alpha")), ("b", try SecretValue(validating: "beta"))], in: .team)
        let reader = try LocalSecretStore(path: path, key: key)
        #expect(try reader.value(of: "a", in: .team)?.revealed == "alpha")
        let document = try StoreDocument.decode(Array(FileManager.default.contents(atPath: path)!), path: path)
        #expect(document.keyFingerprint == key.fingerprint)
        #expect(StoreMAC.verify(document, macKey: try key.storeMACKey()))
        // Its data key is wrapped by the key's own wrap, which a key file's unwrap does not open.
        let dataKey = try #require(document.dataKey)
        #expect(try key.unwrapDataKey(dataKey.wrapped, id: dataKey.id) != nil)
        #expect(StoreKey.generate().key.unwrap(dataKey.wrapped, id: dataKey.id) == nil)
        // rekey --data under it.
        #expect(try LocalSecretStore(path: path, key: key).rotateDataKey().count == 2)
        #expect(try LocalSecretStore(path: path, key: key).value(of: "b", in: .team)?.revealed == "beta")
        // Another key: refused by fingerprint before anything is opened.
        let other = StoreKey.generate().key
        #expect(throws: StoreError.wrongKey(expected: key.fingerprint, supplied: other.fingerprint, source: other.source)) {
            try LocalSecretStore(path: path, key: other).value(of: "a", in: .team)
        }
    }

    @Test("a value sealed under the store key itself does not open under a key that keeps its bytes (cannotOpen, not a crash)")
    func legacyValueUnderAKeptKey() throws {
        let key = KeptKey()
        let path = folder + "/legacy.json"
        var document = StoreDocument(keyFingerprint: key.fingerprint)
        let stand = StoreKey.generate().key
        document.team["a"] = SealedEntry(sealed: ValueSealer.seal(try SecretValue(validating: "alpha"), name: "a", scope: .team, key: stand),
                                         updated: "2026-01-01T00:00:00Z")
        try Data(document.sealed(macKey: try key.storeMACKey()).encoded()).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.cannotOpen(name: "a", scope: .team)) { try LocalSecretStore(path: path, key: key).value(of: "a", in: .team) }
    }

    @Test("a key that fails mid-use: the store error names where the key is and says why, and the file is not written")
    func brokenKey() throws {
        let path = folder + "/broken.json"
        #expect(throws: StoreError.keyUnusable(source: "a broken key", detail: "the token stopped answering")) {
            try LocalSecretStore.create(at: path, key: BrokenKey())
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("the store's key chosen from the environment: SECRETFILL_KEY_PKCS11 first; beside a key file's variable it is a bad-usage refusal; without a token layer it is refused")
    func choiceFromTheEnvironment() throws {
        let spec = "module=/m.so;token=t;key=k"
        let token = StoreConfiguration.resolve(storeOption: "s.json", environment: ["SECRETFILL_KEY_PKCS11": spec, "HOME": folder])
        #expect(token.keySource == .token(spec: spec, origin: "SECRETFILL_KEY_PKCS11") && token.keyChoiceProblem == nil)
        #expect(throws: StoreError.keyChoice("SECRETFILL_KEY_PKCS11: this program cannot use a key in a PKCS#11 token")) { try token.sealingKey() }
        for other in ["SECRETFILL_KEY", "SECRETFILL_KEY_FILE"] {
            let both = StoreConfiguration.resolve(storeOption: "s.json", environment: ["SECRETFILL_KEY_PKCS11": spec, other: "x", "HOME": folder])
            #expect { try both.sealingKey() } throws: { error in
                guard case .keyChoice(let message) = error as? StoreError else { return false }
                return message.contains("SECRETFILL_KEY_PKCS11 and \(other) are both set")
            }
        }
        // An empty variable is no choice; a key file goes where the environment says, whichever key is in use.
        #expect(StoreConfiguration.resolve(storeOption: "s.json", environment: ["SECRETFILL_KEY_PKCS11": "", "HOME": folder]).keySource == .file(folder + "/.config/secretfill/key"))
        #expect(StoreConfiguration.keyFile(environment: ["SECRETFILL_KEY_FILE": "/k", "HOME": folder]) == "/k")
        #expect(throws: StoreError.self) { try token.loadKey() }
    }
}
