import Foundation
import SecretFill
import Testing

@Suite("Reading store files")
struct StoreFileIndexTests {
    static func demoBytes() throws -> [UInt8] { try Fixture.bytes("demo/store.json") }

    @Test("every truncation of a real store is refused as corrupt, never crashes")
    func truncations() throws {
        let bytes = try Self.demoBytes()
        for length in stride(from: 0, to: bytes.count - 2, by: 7) {
            #expect(throws: StoreError.self) { try StoreDocument.decode(Array(bytes[0..<length]), path: "s.json") }
        }
    }

    @Test("a store decodes to what it encodes, whatever the order of its keys")
    func roundTrip() throws {
        let document = try StoreDocument.decode(try Self.demoBytes(), path: "s.json")
        #expect(try StoreDocument.decode(document.encoded(), path: "s.json") == document)
        #expect(document.team.count == 8)
        #expect(document.projects["pr-demo"]?.keys.sorted() == ["hf_token"])
        // Hand-reordered keys and names still read.
        let shuffled = """
            {"scopes": {"cluster": {}, "team": {"b": {"sealed": "x", "updated": "u"}, "a": {"updated": "u", "sealed": "y"}}},
             "keyFingerprint": "sha256:00", "version": 2, "mac": "hmac-sha256:", "format": "secretfill-store"}
            """
        let decoded = try StoreDocument.decode(Array(shuffled.utf8), path: "s.json")
        #expect(decoded.team["a"]?.sealed == "y")
        #expect(decoded.team["b"]?.sealed == "x")
    }

    @Test("only the values asked for are decrypted, from a 10,000-secret store")
    func lookupsInALargeStore() throws {
        let key = try StoreKey(base64: Fixture.demoKey, source: "test")
        var document = StoreDocument(keyFingerprint: key.fingerprint)
        for i in 0..<10_000 {
            let name = String(format: "n%05d", i)
            document.team[name] = SealedEntry(sealed: ValueSealer.seal(try SecretValue(validating: "v\(i)"), name: name, scope: .team, key: key),
                                              updated: "2026-01-01T00:00:00Z")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("large-\(UUID().uuidString).json").path
        try Data(document.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try LocalSecretStore(path: path, key: key)
        #expect(try store.value(of: "n04242", in: .team)?.revealed == "v4242")
        #expect(try store.contains("n09999", in: .team))
        #expect(try !store.contains("n10000", in: .team))
        #expect(try store.value(of: "missing", in: .project("p")) == nil)
    }
}

@Suite("Plain JSON text")
struct PlainJSONTextTests {
    static func naive(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        !bytes[range].contains { $0 < 0x20 || $0 >= 0x80 || $0 == 0x5C }
    }

    @Test("the eight-bytes-at-a-time test agrees with a byte loop, at every offset and length")
    func agreesWithByteLoop() {
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x1F, 0x20, 0x21, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xC3, 0xFF, 0x41, 0x2F]
        var disagreements = 0
        var plainSeen = 0
        for _ in 0..<4000 {
            let count = Int.random(in: 0...40, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) }.map { $0 == 0x5C ? 0x41 : $0 }
            // Mostly plain text with at most two odd bytes, where carries between bytes could matter.
            for _ in 0..<Int.random(in: 0...2, using: &generator) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = interesting.randomElement(using: &generator)!
            }
            let lower = Int.random(in: 0...count, using: &generator)
            let range = lower..<Int.random(in: lower...count, using: &generator)
            let fast = bytes.withUnsafeBufferPointer { PlainJSONText.isPlain($0, range) }
            if fast != Self.naive(bytes, range) { disagreements += 1 }
            if fast { plainSeen += 1 }
        }
        #expect(disagreements == 0)
        #expect(plainSeen > 100 && plainSeen < 3900, "both answers occur: \(plainSeen)")
    }

    @Test("the fast entry reader takes only the shape secretfill writes and leaves the rest to the general parser")
    func sealedAndUpdatedShapes() {
        func read(_ text: String) -> (String, String)? {
            let bytes = Array(text.utf8)
            guard let found = bytes.withUnsafeBufferPointer({ PlainJSONText.sealedAndUpdated($0, 0..<bytes.count) }) else { return nil }
            return (String(decoding: bytes[found.sealed], as: UTF8.self), String(decoding: bytes[found.updated], as: UTF8.self))
        }
        #expect(read(#"{"sealed": "abc", "updated": "2026"}"#).map { [$0.0, $0.1] } == ["abc", "2026"])
        #expect(read(" {\n\t\"updated\" :\"u\" ,\r\n \"sealed\":\"s\"\n} ").map { [$0.0, $0.1] } == ["s", "u"])
        for refused in [#"{"sealed": "a\u0062", "updated": "u"}"#, #"{"sealed": "a", "sealed": "b"}"#,
                        #"{"sealed": "a", "updated": "u", "x": 1}"#, #"{"sealed": "a", "updated": "u"} x"#,
                        #"{"sealed": "a", "updated": 1}"#, #"{"seal\u0065d": "a", "updated": "u"}"#, #"{"sealed": "é", "updated": "u"}"#,
                        #"{"sealed": "a", "updated": "u""#, "", "{"] {
            #expect(read(refused) == nil, "\(refused)")
        }
    }
}
