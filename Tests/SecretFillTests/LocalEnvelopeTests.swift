import Foundation
import SecretFill
import Testing

// The local store file's data key (issue 27): values sealed under a data key
// wrapped by the store key; a version 2 file read as it is and upgraded by its
// next write; rekey re-wraps, rekey --data re-encrypts.

@Suite("local store: envelope sealing")
struct LocalEnvelopeTests {
    let folder: String
    let path: String
    let key = StoreKey.generate().key

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-envelope-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        path = folder + "/store.json"
    }

    func bytes() -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }
    func document() throws -> StoreDocument { try StoreDocument.decode(bytes(), path: path) }
    func secret(_ text: String) throws -> SecretValue { try SecretValue(validating: text) }

    /// A file as secretfill wrote it before data keys: every value under the store key.
    func writeVersion2(_ values: [(Scope, String, String)]) throws {
        var document = StoreDocument(keyFingerprint: key.fingerprint)
        for (scope, name, value) in values {
            var entries = document[scope]
            entries[name] = SealedEntry(sealed: ValueSealer.seal(try secret(value), name: name, scope: scope, key: key), updated: "2026-01-02T03:04:05Z")
            document[scope] = entries
        }
        try Data(document.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: path))
    }

    /// Every sealed text of the file, by scope and name.
    func sealedTexts() throws -> [String: String] {
        let document = try document()
        var texts: [String: String] = [:]
        for scope in document.scopes { for (name, entry) in document[scope] { texts["\(scope)/\(name)"] = entry.sealed } }
        return texts
    }

    @Test("a file from before data keys opens as it is, stays byte for byte through reads, and its next write gives it a data key with every value under it")
    func version2UpgradedByTheNextWrite() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try writeVersion2([(.team, "A", "alpha"), (.project("p1"), "B", "beta"), (.cluster("c1"), "C", "gamma")])
        let original = bytes()
        #expect(String(decoding: original, as: UTF8.self).contains("\"version\": 2,"))
        let store = try LocalSecretStore(path: path, key: key)
        #expect(try store.value(of: "A", in: .team)?.revealed == "alpha")
        #expect(try store.value(of: "B", in: .project("p1"))?.revealed == "beta")
        #expect(try store.rotationState() == "no rotation started")
        #expect(bytes() == original, "a read changed the file")

        try store.set([("D", try secret("delta"))], in: .team)
        let upgraded = try document()
        let dataKey = try #require(upgraded.dataKey)
        #expect(String(decoding: bytes(), as: UTF8.self).contains("\"version\": 2,\n"))
        #expect(dataKey.id.hasPrefix("dk-") && key.unwrap(dataKey.wrapped, id: dataKey.id) != nil)
        #expect(try sealedTexts().values.allSatisfy { $0.hasPrefix(dataKey.id + ":") })
        #expect(StoreMAC.verify(upgraded, key: key))
        // Untouched values keep their update time; every value reads the same.
        #expect(upgraded.team["A"]?.updated == "2026-01-02T03:04:05Z")
        let again = try LocalSecretStore(path: path, key: key)
        for (scope, name, value) in [(Scope.team, "A", "alpha"), (.project("p1"), "B", "beta"), (.cluster("c1"), "C", "gamma"), (.team, "D", "delta")] {
            #expect(try again.value(of: name, in: scope)?.revealed == value)
        }
        #expect(try again.rotationState() == "done")
        // A second write keeps the data key and the wrapped text (a git diff shows the changed name only).
        try again.set([("E", try secret("epsilon"))], in: .team)
        #expect(try document().dataKey == dataKey)
        // The document encodes byte for byte as it was read.
        #expect(try document().encoded() == bytes())
    }

    @Test("rekey to a new store key re-wraps the data key: no value re-encrypted, the old key refused, the new one opens everything")
    func rekeyRewrapsOnly() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set([("A", try secret("alpha")), ("B", try secret("beta"))], in: .team)
        try store.set([("A", try secret("project-alpha"))], in: .project("p1"))
        let before = try sealedTexts()
        let dataKey = try #require(try document().dataKey)

        let newKey = StoreKey.generate().key
        let keyFile = folder + "/key"
        let outcome = try store.rekey(to: newKey, keyFile: keyFile)
        #expect(outcome.rewrapped && outcome.upgraded == 0 && outcome.dataKeyID == dataKey.id)
        let after = try document()
        #expect(try sealedTexts() == before, "rekey re-encrypted values")
        #expect(after.dataKey?.id == dataKey.id && after.dataKey?.wrapped != dataKey.wrapped)
        #expect(after.keyFingerprint == newKey.fingerprint && StoreMAC.verify(after, key: newKey))
        #expect(key.unwrap(after.dataKey!.wrapped, id: dataKey.id) == nil, "the old store key still unwraps the data key")
        #expect(try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == newKey.base64Text)
        #expect(!FileManager.default.fileExists(atPath: keyFile + LocalSecretStore.pendingKeySuffix))
        #expect(throws: StoreError.wrongKey(expected: newKey.fingerprint, supplied: key.fingerprint, source: "new key")) {
            try LocalSecretStore(path: path, key: key).value(of: "A", in: .team)
        }
        let reopened = try LocalSecretStore(path: path, key: newKey)
        #expect(try reopened.value(of: "A", in: .project("p1"))?.revealed == "project-alpha")
        // Run again (after a crash past the store's replace): nothing left to do.
        let rerun = try reopened.rekey(to: newKey, keyFile: keyFile)
        #expect(!rerun.rewrapped)
    }

    @Test("rekey of a file from before data keys moves its values under a new data key once, wrapped under the new key")
    func rekeyUpgradesVersion2() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try writeVersion2([(.team, "A", "alpha"), (.project("p1"), "A", "beta")])
        let newKey = StoreKey.generate().key
        let outcome = try LocalSecretStore(path: path, key: key).rekey(to: newKey, keyFile: folder + "/key")
        #expect(outcome.rewrapped && outcome.upgraded == 2)
        let document = try document()
        let dataKey = try #require(document.dataKey)
        #expect(newKey.unwrap(dataKey.wrapped, id: dataKey.id) != nil && document.keyFingerprint == newKey.fingerprint)
        #expect(try sealedTexts().values.allSatisfy { $0.hasPrefix(dataKey.id + ":") })
        #expect(try LocalSecretStore(path: path, key: newKey).value(of: "A", in: .project("p1"))?.revealed == "beta")
    }

    @Test("rekey --data: a fresh data key, every value re-encrypted under it, the old one gone from the file")
    func rotateDataKey() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set((0..<50).map { ("N\($0)", try secret("value-\($0)")) }, in: .team)
        try store.set([("P", try secret("p"))], in: .project("p1"))
        let before = try sealedTexts()
        let old = try #require(try document().dataKey)

        let rotated = try store.rotateDataKey()
        #expect(rotated.count == 51 && rotated.dataKeyID != old.id)
        let after = try sealedTexts()
        #expect(Set(after.values).isDisjoint(with: Set(before.values)))
        #expect(after.values.allSatisfy { $0.hasPrefix(rotated.dataKeyID + ":") })
        let text = String(decoding: bytes(), as: UTF8.self)
        #expect(!text.contains(old.id) && !text.contains(old.wrapped), "the old data key is still in the file")
        #expect(try document().keyFingerprint == key.fingerprint)
        let reopened = try LocalSecretStore(path: path, key: key)
        for i in 0..<50 { #expect(try reopened.value(of: "N\(i)", in: .team)?.revealed == "value-\(i)") }
        #expect(try reopened.rotationState() == "done")
        // Of a file from before data keys: its values under the store key are moved too.
        try FileManager.default.removeItem(atPath: path)
        try writeVersion2([(.team, "A", "alpha")])
        #expect(try LocalSecretStore(path: path, key: key).rotateDataKey().count == 1)
        #expect(try LocalSecretStore(path: path, key: key).value(of: "A", in: .team)?.revealed == "alpha")
    }

    @Test("the MAC covers the data key: a flipped byte of it is refused; a data key the store key does not open, or a value under another data key, does not open")
    func dataKeyIntegrity() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set([("A", try secret("alpha"))], in: .team)
        let good = bytes()
        let document = try document()
        let dataKey = try #require(document.dataKey)

        // Without the key: any change of the wrapped data key is refused by the MAC.
        var raw = [UInt8](Data(base64Encoded: dataKey.wrapped)!)
        raw[raw.count / 2] ^= 0x01
        var edited = document
        edited.dataKey = WrappedDataKey(id: dataKey.id, wrapped: Data(raw).base64EncodedString())
        try Data(edited.encoded()).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.tampered(path: path)) { try LocalSecretStore(path: path, key: key).value(of: "A", in: .team) }
        // With the key (the MAC made again): the data key does not open, and nothing is written.
        try Data(edited.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: path))
        let remade = bytes()
        #expect(throws: StoreError.self) { try LocalSecretStore(path: path, key: key).value(of: "A", in: .team) }
        #expect(throws: StoreError.self) { try LocalSecretStore(path: path, key: key).set([("B", try secret("b"))], in: .team) }
        #expect(bytes() == remade)
        // A value that names another data key does not open.
        try Data(good).write(to: URL(fileURLWithPath: path))
        var foreign = try self.document()
        foreign.team["A"]!.sealed = "dk-0000000000000000:" + String(EnvelopeText.body(of: foreign.team["A"]!.sealed))
        try Data(foreign.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .team)) { try LocalSecretStore(path: path, key: key).value(of: "A", in: .team) }
    }
}
