import Foundation
import SecretFill
import Testing

@Suite("The store's whole-file mac")
struct StoreMACTests {
    static let key = try! StoreKey(base64: Fixture.demoKey, source: "test")

    static func document(_ entries: [(Scope, String, String, String)]) -> StoreDocument {
        var document = StoreDocument(keyFingerprint: key.fingerprint)
        for (scope, name, sealed, updated) in entries {
            var scoped = document[scope]
            scoped[name] = SealedEntry(sealed: sealed, updated: updated)
            document[scope] = scoped
        }
        return document
    }

    @Test("fields cannot run into each other: moving bytes between them changes the mac")
    func boundaries() {
        let pairs: [(StoreDocument, StoreDocument)] = [
            (Self.document([(.team, "ab", "c", "u")]), Self.document([(.team, "a", "bc", "u")])),
            (Self.document([(.team, "a", "bc", "u")]), Self.document([(.team, "a", "b", "cu")])),
            (Self.document([(.project("p1"), "a", "s", "u")]), Self.document([(.project("p"), "1a", "s", "u")])),
            (Self.document([(.project("p"), "a", "s", "u")]), Self.document([(.cluster("p"), "a", "s", "u")])),
            (Self.document([(.project("p"), "a", "s", "u")]), Self.document([(.team, "a", "s", "u")])),
            (Self.document([(.team, "a", "s", "u"), (.team, "b", "t", "u")]), Self.document([(.team, "a", "s", "u")])),
        ]
        for (a, b) in pairs {
            #expect(a != b)
            #expect(StoreMAC.compute(a, key: Self.key) != StoreMAC.compute(b, key: Self.key))
            var forged = b
            forged.mac = StoreMAC.compute(a, key: Self.key)
            #expect(!StoreMAC.verify(forged, key: Self.key))
        }
    }

    @Test("the mac depends on the content only: key order in the file and empty scopes do not matter")
    func canonicalOrder() throws {
        let sealed = Self.document([(.team, "b", "s1", "u"), (.team, "a", "s2", "u"), (.project("p"), "x", "s3", "u")]).sealed(with: Self.key)
        let text = """
            {"scopes": {"project": {"empty": {}, "p": {"x": {"sealed": "s3", "updated": "u"}}}, "cluster": {},
             "team": {"b": {"updated": "u", "sealed": "s1"}, "a": {"sealed": "s2", "updated": "u"}}},
             "mac": "\(sealed.mac!)", "keyFingerprint": "\(Self.key.fingerprint)", "version": 2, "format": "secretfill-store"}
            """
        #expect(StoreMAC.verify(try StoreDocument.decode(Array(text.utf8), path: "s"), key: Self.key))
        let edited = text.replacingOccurrences(of: "\"s3\"", with: "\"s4\"")
        #expect(!StoreMAC.verify(try StoreDocument.decode(Array(edited.utf8), path: "s"), key: Self.key))
    }

    @Test("a keyed open verifies hand-ordered, escaped files exactly as their decoded content")
    func keyedOpenMatchesTheDocument() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mac-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/store.json"
        func file(mac: String, sealedB: String = "s\\u00e9\\/1") -> String {
            """
            {"format": "secretfill-store", "version": 2, "keyFingerprint": "\(Self.key.fingerprint)", "mac": "\(mac)",
             "scopes": {"cluster": {"c2": {"z": {"updated": "u", "sealed": "q"}}, "c1": {"y": {"sealed": "r", "updated": "u"}}},
              "team": {"b": {"updated": "2026\\u002d01", "sealed": "\(sealedB)"}, "a": {"sealed": "s2", "extra": [1], "updated": "u"}},
              "project": {"empty": {}}}}
            """
        }
        let document = try StoreDocument.decode(Array(file(mac: "").utf8), path: path)
        #expect(document.team["b"]?.sealed == "s\u{e9}/1" && document.team["b"]?.updated == "2026-01")
        let mac = StoreMAC.compute(document, key: Self.key)
        try Data(file(mac: mac).utf8).write(to: URL(fileURLWithPath: path))
        // Verified on open (the index's fast path): listing with the key succeeds.
        #expect(try LocalSecretStore(path: path, key: Self.key).listing(of: .team).map(\.name) == ["a", "b"])
        // The same file with one escaped byte changed is refused.
        try Data(file(mac: mac, sealedB: "s\\u00e8\\/1").utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.tampered(path: path)) { try LocalSecretStore(path: path, key: Self.key).listing(of: .team) }
    }

    @Test("another key, a missing or malformed mac never verify")
    func otherKeysAndMalformedMacs() throws {
        let document = Self.document([(.team, "a", "s", "u")]).sealed(with: Self.key)
        #expect(document.mac?.hasPrefix(StoreMAC.prefix) == true)
        #expect(!StoreMAC.verify(document, key: StoreKey.generate().key))
        var missing = document
        missing.mac = nil
        #expect(!StoreMAC.verify(missing, key: Self.key))
        missing.mac = "hmac-sha256:not base64"
        #expect(!StoreMAC.verify(missing, key: Self.key))
    }
}
