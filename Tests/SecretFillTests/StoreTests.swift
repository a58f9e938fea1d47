import Foundation
import SecretFill
import Testing

// Unit tests of the store's public API (issue 3): redaction, name and value
// rules, scopes, keys, sealing, the store document, the local store and
// `secrets import` parsing.

/// A fresh folder for one test's store files.
private func storeTestsFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-unit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

private func storeTestsSecret(_ text: String) throws -> SecretValue {
    try SecretValue(validating: text)
}

private func storeTestsFileBytes(_ path: String) -> [UInt8] {
    (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
}

/// `[[name, value], …]` in order, or the problems as `LINE: message`.
private func storeTestsParse(_ text: String, _ format: SecretImport.Format = .dotenv) -> (entries: [[String]]?, problems: [String]) {
    storeTestsParse(Array(text.utf8), format)
}

private func storeTestsParse(_ bytes: [UInt8], _ format: SecretImport.Format) -> (entries: [[String]]?, problems: [String]) {
    switch SecretImport.parse(bytes, format: format) {
    case .success(let entries):
        return (entries.map { [$0.name, $0.value.revealed] }, [])
    case .failure(let problems):
        return (nil, problems.problems.map { "\($0.line): \($0.message)" })
    }
}

private let storeTestsNameRule = "a secret name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters"
private let storeTestsValueRule = "a secret value must be 1 byte to 1 MiB of valid UTF-8 without NUL bytes"

@Suite("Store library")
struct StoreTests {
    // MARK: SecretValue

    @Test func secretValueNeverShowsItself() throws {
        let plain = "hunter2-\(UUID().uuidString)"
        let value = try storeTestsSecret(plain)
        #expect(value.description == "<redacted>")
        #expect(value.debugDescription == "<redacted>")
        #expect("\(value)" == "<redacted>")
        #expect(String(describing: value) == "<redacted>")
        #expect(String(reflecting: value) == "<redacted>")
        #expect(String(describing: [value]) == "[<redacted>]")
        #expect(String(describing: Optional(value)) == "Optional(<redacted>)")
        #expect(Mirror(reflecting: value).children.isEmpty)

        var dumped = ""
        dump(value, to: &dumped)
        #expect(dumped.contains("<redacted>"))
        #expect(!dumped.contains(plain))

        var dumpedTuple = ""
        dump((name: "A", value: value), to: &dumpedTuple)
        #expect(dumpedTuple.contains("<redacted>"))
        #expect(!dumpedTuple.contains(plain))

        #expect(value.revealed == plain)
        #expect(value.utf8Count == plain.utf8.count)
    }

    @Test func secretValueRules() throws {
        #expect(throws: SecretInputError.emptyValue) { try SecretValue(validating: "") }
        #expect(throws: SecretInputError.emptyValue) { try SecretValue(validating: [UInt8]()) }
        #expect(throws: SecretInputError.nulInValue) { try SecretValue(validating: [0x61, 0x00, 0x62]) }
        #expect(throws: SecretInputError.invalidUTF8Value) { try SecretValue(validating: [0x61, 0xFF, 0x62]) }
        #expect(throws: SecretInputError.invalidUTF8Value) { try SecretValue(validating: [0xC3]) }
        let limit = SecretValue.maximumBytes
        #expect(limit == 1 << 20)
        #expect(try SecretValue(validating: [UInt8](repeating: 0x78, count: limit)).utf8Count == limit)
        #expect(throws: SecretInputError.valueTooLarge(limit + 1)) {
            try SecretValue(validating: [UInt8](repeating: 0x78, count: limit + 1))
        }
        // Bytes are kept exactly: line breaks, CR, leading and trailing space.
        #expect(try SecretValue(validating: " a\r\nb\n").revealed == " a\r\nb\n")
        #expect(try SecretValue(validating: [0xE2, 0x82, 0xAC]).revealed == "€")

        #expect(SecretInputError.emptyValue.description == "the value is empty; \(storeTestsValueRule)")
        #expect(SecretInputError.nulInValue.description == "the value contains a NUL byte; \(storeTestsValueRule)")
        #expect(SecretInputError.invalidUTF8Value.description == "the value is not valid UTF-8; \(storeTestsValueRule)")
        #expect(SecretInputError.valueTooLarge(1_048_577).description == "the value is 1048577 bytes; \(storeTestsValueRule)")
    }

    // MARK: SecretName

    @Test(arguments: ["a", "A", "_", "_x", "db_password", "A.b-c_9", "Z9", String(repeating: "n", count: 128)])
    func validSecretNames(_ name: String) throws {
        #expect(SecretName.isValid(name))
        try SecretInputError.checkName(name)
    }

    @Test(arguments: ["9abc", "a b", " a", "a ", "-a", ".a", "a/b", "a=b", "a:b", "a\n", "é", "a\u{0}b", "$A",
                      String(repeating: "n", count: 129)])
    func invalidSecretNames(_ name: String) {
        #expect(!SecretName.isValid(name))
        #expect(throws: SecretInputError.invalidName(name)) { try SecretInputError.checkName(name) }
    }

    @Test func emptySecretName() {
        #expect(!SecretName.isValid(""))
        #expect(throws: SecretInputError.emptyName) { try SecretInputError.checkName("") }
        #expect(SecretInputError.emptyName.description == "the secret name is empty; \(storeTestsNameRule)")
        #expect(SecretInputError.invalidName("bad name").description == "'bad name' is not a valid secret name: \(storeTestsNameRule)")
        #expect(SecretName.maximumLength == 128)
    }

    // MARK: Scope

    @Test func scopeRules() throws {
        #expect(try Scope(kind: .team, id: nil) == .team)
        #expect(try Scope(kind: .project, id: "pr-1") == .project("pr-1"))
        #expect(try Scope(kind: .cluster, id: "c.1_x") == .cluster("c.1_x"))
        #expect(throws: SecretInputError.idNotAllowedForTeam) { try Scope(kind: .team, id: "x") }
        #expect(throws: SecretInputError.missingID(.project)) { try Scope(kind: .project, id: nil) }
        #expect(throws: SecretInputError.missingID(.cluster)) { try Scope(kind: .cluster, id: nil) }
        #expect(throws: SecretInputError.invalidID("")) { try Scope(kind: .project, id: "") }
        #expect(throws: SecretInputError.invalidID("a/b")) { try Scope(kind: .project, id: "a/b") }
        #expect(throws: SecretInputError.invalidID("a b")) { try Scope(kind: .cluster, id: "a b") }
        #expect(throws: SecretInputError.invalidID(String(repeating: "c", count: 129))) { try Scope(kind: .cluster, id: String(repeating: "c", count: 129)) }
        #expect(try Scope(kind: .cluster, id: String(repeating: "c", count: 128)).id?.count == 128)

        #expect(Scope.team.description == "team")
        #expect(Scope.project("pr-1").description == "project pr-1")
        #expect(Scope.cluster("c-1").description == "cluster c-1")
        #expect(SecretInputError.missingID(.project).description == "project secrets need --id (the project id)")
        #expect(SecretInputError.missingID(.cluster).description == "cluster secrets need --id (the cluster id)")
        #expect(SecretInputError.idNotAllowedForTeam.description == "team secrets take no --id (there is one team scope)")
    }

    @Test func scopeChainOrderIsProjectClusterTeam() {
        #expect(ScopeChain(project: "p", cluster: "c").scopes == [.project("p"), .cluster("c"), .team])
        #expect(ScopeChain(cluster: "c").scopes == [.cluster("c"), .team])
        #expect(ScopeChain(project: "p").scopes == [.project("p"), .team])
        #expect(ScopeChain().scopes == [.team])
        #expect(ScopeChain(project: "p", cluster: "c").description == "project p, cluster c, team")
    }

    // MARK: StoreKey

    @Test func keyFingerprints() throws {
        let bytes = [UInt8](repeating: 7, count: 32)
        let a = try StoreKey(bytes: bytes, source: "test")
        let b = try StoreKey(base64: "  " + Data(bytes).base64EncodedString() + "\n", source: "file")
        let other = try StoreKey(bytes: [UInt8](repeating: 8, count: 32), source: "test")
        #expect(a.fingerprint == b.fingerprint)
        #expect(a.fingerprint != other.fingerprint)
        #expect(b.source == "file")
        let hex = a.fingerprint.dropFirst("sha256:".count)
        #expect(a.fingerprint.hasPrefix("sha256:"))
        #expect(hex.count == 32 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        // The fingerprint is not the key, nor its plain hash.
        #expect(!a.fingerprint.contains(Data(bytes).base64EncodedString()))

        #expect(throws: StoreError.keyUnreadable(source: "S", detail: "it must be 32 bytes (base64-encoded), found 31")) {
            try StoreKey(bytes: [UInt8](repeating: 1, count: 31), source: "S")
        }
        #expect(throws: StoreError.keyUnreadable(source: "S", detail: "it is not base64 text of 32 bytes")) {
            try StoreKey(base64: "not base64!", source: "S")
        }
        #expect(throws: StoreError.keyUnreadable(source: "S", detail: "it must be 32 bytes (base64-encoded), found 16")) {
            try StoreKey(base64: Data(count: 16).base64EncodedString(), source: "S")
        }
        let generated = StoreKey.generate()
        #expect(try StoreKey(base64: generated.encoded, source: "x").fingerprint == generated.key.fingerprint)
        #expect(StoreKey.generate().key.fingerprint != generated.key.fingerprint)
    }

    // MARK: ValueSealer

    @Test func sealerBindsValueToNameScopeAndKey() throws {
        let key = StoreKey.generate().key
        let value = try storeTestsSecret("s3cr3t value")
        let sealed = ValueSealer.seal(value, name: "A", scope: .project("p1"), key: key)
        #expect(!sealed.contains("s3cr3t"))
        #expect(try ValueSealer.open(sealed, name: "A", scope: .project("p1"), key: key).revealed == "s3cr3t value")
        // A fresh nonce each time.
        #expect(ValueSealer.seal(value, name: "A", scope: .project("p1"), key: key) != sealed)

        #expect(throws: StoreError.cannotOpen(name: "B", scope: .project("p1"))) {
            try ValueSealer.open(sealed, name: "B", scope: .project("p1"), key: key)
        }
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .project("p2"))) {
            try ValueSealer.open(sealed, name: "A", scope: .project("p2"), key: key)
        }
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .cluster("p1"))) {
            try ValueSealer.open(sealed, name: "A", scope: .cluster("p1"), key: key)
        }
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .team)) {
            try ValueSealer.open(sealed, name: "A", scope: .team, key: key)
        }
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .project("p1"))) {
            try ValueSealer.open(sealed, name: "A", scope: .project("p1"), key: StoreKey.generate().key)
        }
        // One flipped bit anywhere in nonce, ciphertext or tag.
        var raw = [UInt8](Data(base64Encoded: sealed)!)
        for index in [0, 12, raw.count / 2, raw.count - 1] {
            raw[index] ^= 0x01
            let tampered = Data(raw).base64EncodedString()
            #expect(throws: StoreError.cannotOpen(name: "A", scope: .project("p1"))) {
                try ValueSealer.open(tampered, name: "A", scope: .project("p1"), key: key)
            }
            raw[index] ^= 0x01
        }
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .project("p1"))) {
            try ValueSealer.open("not base64!", name: "A", scope: .project("p1"), key: key)
        }
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .project("p1"))) {
            try ValueSealer.open("", name: "A", scope: .project("p1"), key: key)
        }
        #expect(StoreError.cannotOpen(name: "A", scope: .project("p1")).description
            == "secret 'A' (project p1) does not decrypt: its sealed value was altered, or copied from another name or scope")
    }

    // MARK: StoreDocument

    @Test func documentRoundTripsWithSortedNamesAndIDs() throws {
        let folder = try storeTestsFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/store.json"
        let key = StoreKey.generate().key
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set([("zeta", storeTestsSecret("1")), ("Alpha", storeTestsSecret("2")), ("mid", storeTestsSecret("3")),
                       ("_u", storeTestsSecret("4"))], in: .team)
        try store.set([("b", storeTestsSecret("5")), ("a", storeTestsSecret("6"))], in: .project("p2"))
        try store.set([("c", storeTestsSecret("7"))], in: .project("p1"))
        try store.set([("d", storeTestsSecret("8"))], in: .cluster("c9"))

        let bytes = storeTestsFileBytes(path)
        let document = try StoreDocument.decode(bytes, path: path)
        #expect(document.keyFingerprint == key.fingerprint)
        #expect(Set(document.team.keys) == ["zeta", "Alpha", "mid", "_u"])
        #expect(Set(document[.project("p2")].keys) == ["a", "b"])
        #expect(Set(document[.project("p1")].keys) == ["c"])
        #expect(Set(document[.cluster("c9")].keys) == ["d"])
        #expect(document[.cluster("nope")].isEmpty)

        // Byte-identical round trip: the store writes exactly `encoded()`.
        #expect(document.encoded() == bytes)
        #expect(try StoreDocument.decode(document.encoded(), path: path) == document)

        // Names and ids appear in byte order, one secret per line.
        let text = String(decoding: bytes, as: UTF8.self)
        func offset(_ needle: String) -> Int {
            guard let range = text.range(of: needle) else { return -1 }
            return text.distance(from: text.startIndex, to: range.lowerBound)
        }
        let order = ["\"Alpha\":", "\"_u\":", "\"mid\":", "\"zeta\":", "\"p1\":", "\"c\":", "\"p2\":", "\"a\":", "\"b\":", "\"c9\":", "\"d\":"]
        let offsets = order.map(offset)
        #expect(!offsets.contains(-1))
        #expect(offsets == offsets.sorted(), "store file not sorted:\n\(text)")
        let dataKey = try #require(document.dataKey)
        #expect(text.hasPrefix("{\n  \"format\": \"secretfill-store\",\n  \"version\": 2,\n  \"keyFingerprint\": \"\(key.fingerprint)\",\n  \"mac\": \"hmac-sha256:"))
        #expect(text.contains("\",\n  \"dataKey\": {\"id\": \"\(dataKey.id)\", \"wrapped\": \"\(dataKey.wrapped)\"},\n  \"scopes\": {\n"))
        #expect(StoreMAC.verify(document, key: key))
        let secretLines = text.split(separator: "\n").filter { $0.contains("\"sealed\"") }
        #expect(secretLines.count == 8)

        // Every sealed value is `ID:BASE64` under the data key, and opens for its own name and scope.
        let data = try #require(key.unwrap(dataKey.wrapped, id: dataKey.id))
        func body(_ sealed: String) -> String { String(EnvelopeText.body(of: sealed)) }
        #expect(document.scopes.allSatisfy { scope in document[scope].values.allSatisfy { EnvelopeText.keyID(of: $0.sealed).map(String.init) == dataKey.id } })
        #expect(try ValueSealer.open(body(document.team["Alpha"]!.sealed), name: "Alpha", scope: .team, key: data).revealed == "2")
        #expect(try ValueSealer.open(body(document[.project("p2")]["a"]!.sealed), name: "a", scope: .project("p2"), key: data).revealed == "6")
        // Not under the store key itself.
        #expect(throws: StoreError.self) { try ValueSealer.open(body(document.team["Alpha"]!.sealed), name: "Alpha", scope: .team, key: key) }

        // A document edited in memory encodes and decodes back to itself.
        var edited = document
        edited[.project("p1")] = [:]
        #expect(edited.projects["p1"] == nil)
        edited[.cluster("c0")] = document.team
        let reencoded = edited.encoded()
        #expect(try StoreDocument.decode(reencoded, path: path) == edited)
        #expect(!String(decoding: reencoded, as: UTF8.self).contains("\"p1\""))

        let empty = StoreDocument(keyFingerprint: key.fingerprint)
        #expect(try StoreDocument.decode(empty.encoded(), path: path) == empty)
    }

    /// Each shape error is refused as `corrupt` for the path, with a detail
    /// naming what was wrong (checked by a stable fragment of it).
    @Test(arguments: [
        ("", "empty"),
        ("{\"format\": \"secretfill-store\", \"vers", "truncated or edited by hand"),
        ("[]", "the top"),
        ("{\"format\": \"other\", \"version\": 1}", "\"format\": \"secretfill-store\""),
        ("{\"format\": \"secretfill-store\", \"version\": 3, \"keyFingerprint\": \"sha256:00\", \"scopes\": {}}",
         "\"version\": 2"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"dataKey\": {\"id\": \"dk-00\"}, \"scopes\": {}}",
         "expected \"dataKey\": {\"id\": \"dk-…\""),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"dataKey\": {\"id\": \"x:1\", \"wrapped\": \"x\"}, \"scopes\": {}}",
         "expected \"dataKey\": {\"id\": \"dk-…\""),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"dataKey\": {\"id\": \"dk-00\", \"id\": \"dk-01\", \"wrapped\": \"x\"}, \"scopes\": {}}",
         "\"id\" appears twice in dataKey"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {}}",
         "the top-level key \"version\" appears twice (lines 1 and 1)"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"team\": {\"A\": {\"updated\": \"x\", \"sealed\": \"y\", \"sealed\": \"z\"}}}}",
         "\"sealed\" appears twice in scopes.team.A"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"team\": {\"B\": {\"updated\": \"x\", \"sealed\": \"y\"},\n\"A\": {\"updated\": \"x\", \"sealed\": \"y\"},\n\"B\": {\"updated\": \"x\", \"sealed\": \"y\"}}}}",
         "scopes.team has the name 'B' twice (lines 1 and 3)"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"cluster\": {},\n\"cluster\": {}}}",
         "scopes has \"cluster\" twice (lines 1 and 2)"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"md5:00\", \"scopes\": {}}",
         "\"keyFingerprint\": \"sha256:…\""),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\"}",
         "\"scopes\""),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"team\": {\"9bad\": {\"updated\": \"x\", \"sealed\": \"y\"}}}}",
         "invalid secret name; \(storeTestsNameRule)"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"team\": {\"A\": {\"updated\": \"x\"}}}}",
         "expected {\"updated\": …, \"sealed\": …}"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"project\": {\"a/b\": {}}}}",
         "invalid id; \(Scope.idRuleDescription)"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"cluster\": []}}",
         "scopes.cluster"),
        ("{\"format\": \"secretfill-store\", \"version\": 2, \"keyFingerprint\": \"sha256:00\", \"scopes\": {\"project\": {\"p\": 3}}}",
         "scopes.project.p"),
    ])
    func corruptDocumentsAreRefused(_ text: String, _ fragment: String) {
        do {
            let document = try StoreDocument.decode(Array(text.utf8), path: "/s.json")
            Issue.record("accepted as a store: \(text) → \(document.keyFingerprint)")
        } catch {
            guard case .corrupt(let path, let detail) = error else {
                Issue.record("expected .corrupt, got \(error)")
                return
            }
            #expect(path == "/s.json")
            #expect(detail.contains(fragment), "detail: \(detail)")
            #expect(error.description == "the store at /s.json is not a valid secretfill store: \(detail). It was left as it is")
        }
    }

    @Test func corruptMessageSaysFileWasLeftAlone() {
        #expect(StoreError.corrupt(path: "/s.json", detail: "d").description
            == "the store at /s.json is not a valid secretfill store: d. It was left as it is")
    }

    // MARK: LocalSecretStore

    @Test func localStoreScopesAndPrecedence() throws {
        let folder = try storeTestsFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/nested/deeper/store.json"
        let key = StoreKey.generate().key
        let store = try LocalSecretStore.create(at: path, key: key)
        #expect(FileIO.permissions(of: path) == 0o600)
        #expect(FileIO.permissions(of: folder + "/nested") == 0o700)

        try store.set([("N", storeTestsSecret("team-v")), ("T", storeTestsSecret("only-team"))], in: .team)
        try store.set([("N", storeTestsSecret("cluster-v"))], in: .cluster("c1"))
        try store.set([("N", storeTestsSecret("project-v")), ("P", storeTestsSecret("only-project"))], in: .project("p1"))
        #expect(FileIO.permissions(of: path) == 0o600)

        // A second handle reads what the first wrote.
        let reader = try LocalSecretStore(path: path, key: key)
        #expect(try reader.listing(of: .team).map(\.name) == ["N", "T"])
        #expect(try reader.listing(of: .project("p1")).map(\.name) == ["N", "P"])
        #expect(try reader.listing(of: .cluster("c1")).map(\.name) == ["N"])
        #expect(try reader.listing(of: .cluster("c2")).isEmpty)
        #expect(try reader.value(of: "N", in: .cluster("c1"))?.revealed == "cluster-v")
        #expect(try reader.value(of: "P", in: .team) == nil)

        let all = ScopeChain(project: "p1", cluster: "c1")
        #expect(try reader.resolve("N", in: all)?.revealed == "project-v")
        #expect(try reader.resolve("N", in: ScopeChain(cluster: "c1"))?.revealed == "cluster-v")
        #expect(try reader.resolve("N", in: ScopeChain(project: "p9", cluster: "c9"))?.revealed == "team-v")
        #expect(try reader.resolve("T", in: all)?.revealed == "only-team")
        #expect(try reader.resolve("missing", in: all) == nil)

        let found = try #require(try reader.resolution(of: "N", in: all))
        #expect(found.from == .project("p1"))
        #expect(found.shadows == [.cluster("c1"), .team])
        #expect(try reader.resolution(of: "P", in: all)?.shadows == [])
        #expect(try reader.resolution(of: "P", in: ScopeChain(cluster: "c1")) == nil)

        try store.delete("N", in: .project("p1"))
        let afterDelete = try LocalSecretStore(path: path, key: key)
        #expect(try afterDelete.resolve("N", in: all)?.revealed == "cluster-v")
        #expect(throws: StoreError.notFound(name: "N", scope: .project("p1"))) { try store.delete("N", in: .project("p1")) }

        // Overwriting keeps one entry and the new value.
        try store.set([("T", storeTestsSecret("newer"))], in: .team)
        let again = try LocalSecretStore(path: path, key: key)
        #expect(try again.value(of: "T", in: .team)?.revealed == "newer")
        #expect(try again.listing(of: .team).map(\.name) == ["N", "T"])
        let updated = try again.listing(of: .team)[1].updated
        #expect(updated.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)

        // Nothing but the store and its lock beside it.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder + "/nested/deeper").sorted()
        #expect(leftovers == ["store.json", "store.json.lock"])
    }

    @Test func localStoreRefusesWrongKeyBeforeDecrypting() throws {
        let folder = try storeTestsFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/store.json"
        let key = StoreKey.generate().key
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set([("A", storeTestsSecret("a-value"))], in: .team)

        // Tamper with A, then open with a wrong key: the key is refused first.
        var document = try StoreDocument.decode(storeTestsFileBytes(path), path: path)
        var entries = document.team
        let original = entries["A"]!
        let id = String(EnvelopeText.keyID(of: original.sealed)!)
        var raw = [UInt8](Data(base64Encoded: String(EnvelopeText.body(of: original.sealed)))!)
        raw[raw.count - 1] ^= 0x80
        var tampered = original
        tampered.sealed = id + ":" + Data(raw).base64EncodedString()
        entries["A"] = tampered
        document.team = entries
        // Re-sealed with the key (as someone holding it could): the mac passes, the value does not open.
        try Data(document.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: path))
        let before = storeTestsFileBytes(path)

        let wrong = StoreKey.generate().key
        #expect(throws: StoreError.wrongKey(expected: key.fingerprint, supplied: wrong.fingerprint, source: "new key")) {
            try LocalSecretStore(path: path, key: wrong).value(of: "A", in: .team)
        }
        #expect(throws: StoreError.wrongKey(expected: key.fingerprint, supplied: wrong.fingerprint, source: "new key")) {
            try LocalSecretStore(path: path, key: wrong).set([("B", storeTestsSecret("b"))], in: .team)
        }
        #expect(throws: StoreError.wrongKey(expected: key.fingerprint, supplied: wrong.fingerprint, source: "new key")) {
            try LocalSecretStore(path: path, key: wrong).delete("A", in: .team)
        }
        #expect(throws: StoreError.cannotOpen(name: "A", scope: .team)) {
            try LocalSecretStore(path: path, key: key).value(of: "A", in: .team)
        }
        #expect(throws: StoreError.keyMissing(path: "the key file")) {
            try LocalSecretStore(path: path, key: nil).value(of: "A", in: .team)
        }
        // Names need no key.
        #expect(try LocalSecretStore(path: path, key: nil).listing(of: .team).map(\.name) == ["A"])
        #expect(storeTestsFileBytes(path) == before)

        let message = StoreError.wrongKey(expected: "sha256:aa", supplied: "sha256:bb", source: "SECRETFILL_KEY").description
        #expect(message == "the key from SECRETFILL_KEY does not open this store: the store was sealed with key sha256:aa, the key given is sha256:bb")
    }

    @Test func localStoreCreateAndMissing() throws {
        let folder = try storeTestsFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/store.json"
        let key = StoreKey.generate().key
        #expect(throws: StoreError.storeMissing(path: path)) { try LocalSecretStore(path: path, key: key).listing(of: .team) }
        #expect(throws: StoreError.storeMissing(path: path)) {
            try LocalSecretStore(path: path, key: key).set([("A", storeTestsSecret("x"))], in: .team)
        }
        #expect(!FileIO.exists(path))
        _ = try LocalSecretStore.create(at: path, key: key)
        let before = storeTestsFileBytes(path)
        #expect(throws: StoreError.storeExists(path: path)) { try LocalSecretStore.create(at: path, key: StoreKey.generate().key) }
        #expect(storeTestsFileBytes(path) == before)

        // A corrupt file is refused and left as it was, by reads and writes.
        let truncated = Array(before.prefix(before.count / 2))
        try Data(truncated).write(to: URL(fileURLWithPath: path))
        func isCorrupt(_ error: any Error) -> Bool {
            guard case .corrupt(path, let detail)? = error as? StoreError else { return false }
            return detail.contains("truncated or edited by hand")
        }
        #expect { try LocalSecretStore(path: path, key: key).listing(of: .team) } throws: { isCorrupt($0) }
        #expect { try LocalSecretStore(path: path, key: key).set([("A", storeTestsSecret("x"))], in: .team) } throws: { isCorrupt($0) }
        #expect(storeTestsFileBytes(path) == truncated)
    }

    @Test func settingSeveralIsAllOrNothingAgainstTheFile() throws {
        let folder = try storeTestsFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/store.json"
        let key = StoreKey.generate().key
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set([("A", storeTestsSecret("1")), ("B", storeTestsSecret("2")), ("C", storeTestsSecret("3"))], in: .cluster("k"))
        let reader = try LocalSecretStore(path: path, key: key)
        #expect(try reader.listing(of: .cluster("k")).map(\.name) == ["A", "B", "C"])
        #expect(try ["A", "B", "C"].map { try reader.value(of: $0, in: .cluster("k"))?.revealed } == ["1", "2", "3"])
    }

    // MARK: SecretImport, dotenv

    @Test func dotenvBasicsCommentsAndExport() {
        let text = """
            # a comment line
            A=1
            B = spaced out \t
            export C=exported
            export   D="x"
              E=indented
            F=1 # trailing comment
            G=a#b
            H=url?x=1&y=2
            'I'=quoted-name
            J="x" # comment after quotes

            """
        let result = storeTestsParse(text)
        #expect(result.problems == [])
        #expect(result.entries == [["A", "1"], ["B", "spaced out"], ["C", "exported"], ["D", "x"], ["E", "indented"],
                                   ["F", "1"], ["G", "a#b"], ["H", "url?x=1&y=2"], ["I", "quoted-name"], ["J", "x"]])
    }

    @Test func dotenvQuotesAndEscapes() {
        let text = #"""
            DQ="a\nb\tc \"q\" \\ \'s\'"
            SQ='a\nb \'x\' \\ "dq"'
            SP="  padded  "
            HASH="a # not a comment"
            ML="line1
            line2"
            AFTER=after
            CR="x\ry"
            """#
        let result = storeTestsParse(text)
        #expect(result.problems == [])
        #expect(result.entries == [
            ["DQ", "a\nb\tc \"q\" \\ 's'"],
            ["SQ", #"a\nb 'x' \ "dq""#],
            ["SP", "  padded  "],
            ["HASH", "a # not a comment"],
            ["ML", "line1\nline2"],
            ["AFTER", "after"],
            ["CR", "x\ry"],
        ])
    }

    @Test func dotenvInterpolationSeesOnlyEarlierEntries() {
        let text = """
            A=alpha
            B=${A}-beta
            C="${B}/${A}"
            D=x${LATER}y
            E=${UNSET:-fallback}
            F=${A:-unused}
            G=<${HOME}|${PATH}|${USER}>
            H=$A-not-braced
            LATER=late

            """
        let result = storeTestsParse(text)
        #expect(result.problems == [])
        #expect(result.entries == [["A", "alpha"], ["B", "alpha-beta"], ["C", "alpha-beta/alpha"], ["D", "xy"],
                                   ["E", "fallback"], ["F", "alpha"], ["G", "<||>"], ["H", "$A-not-braced"], ["LATER", "late"]])
    }

    @Test func dotenvNeverReadsTheProcessEnvironment() throws {
        let name = "SECRETFILL_UNIT_LEAK_\(UInt32.random(in: 0...UInt32.max))"
        setenv(name, "leaked-from-env", 1)
        defer { unsetenv(name) }
        #expect(ProcessInfo.processInfo.environment[name] == "leaked-from-env")
        let result = storeTestsParse("A=[${\(name)}]\nB=${\(name):-default}\n")
        #expect(result.entries == [["A", "[]"], ["B", "default"]])
    }

    @Test func dotenvBadLinesAreAllReportedWithLines() {
        let text = """
            GOOD=1
            9bad=secret-value-1
            NOEQ
            bad name=x
            EMPTY=
            GOOD=again
            Q="unterminated secret-value-2
            LAST=ok
            """
        let result = storeTestsParse(text)
        #expect(result.entries == nil)
        #expect(result.problems == [
            "2: \(storeTestsNameRule)",
            "3: the line has no '=' (expected NAME=VALUE)",
            "4: this line is not NAME=VALUE dotenv syntax",
            "5: 'EMPTY': the value is empty; \(storeTestsValueRule) (or pass --skip-empty to leave empty values out)",
            "6: 'GOOD' is set twice (first on line 1)",
            "7: a quoted value opened on this line is never closed; nothing after it was read",
        ])
        #expect(!result.problems.joined().contains("secret-value"))
    }

    @Test func dotenvLineNumbersCountMultilineValuesAndCRLF() {
        let result = storeTestsParse("A=1\r\nB=\"x\r\ny\"\r\n\r\n# c\r\n9C=2\r\nD=\"q\nr\ns\"\n-E=3\n")
        #expect(result.problems == ["6: \(storeTestsNameRule)", "10: \(storeTestsNameRule)"])
    }

    @Test func dotenvValueRulesApply() {
        #expect(storeTestsParse([0x41, 0x3D, 0x61, 0xFF, 0x0A], .dotenv).problems == ["1: the file is not valid UTF-8"])
        let nameTooLong = String(repeating: "n", count: 129)
        #expect(storeTestsParse("\(nameTooLong)=x\n").problems == ["1: \(storeTestsNameRule)"])
        #expect(storeTestsParse("").entries?.isEmpty == true)
        #expect(storeTestsParse("# only a comment\n\n").entries?.isEmpty == true)
    }

    // MARK: SecretImport, JSON

    @Test func jsonImport() {
        let text = """
            {
              "B": "two\\nlines",
              "A": "one",
              "C": "\\u00e9 \\"q\\""
            }
            """
        let result = storeTestsParse(text, .json)
        #expect(result.problems == [])
        #expect(result.entries == [["B", "two\nlines"], ["A", "one"], ["C", "é \"q\""]])
    }

    @Test func jsonImportProblems() {
        let text = """
            {
              "OK": "fine",
              "9bad": "secret-value-1",
              "NUM": 5,
              "EMPTY": ""
            }
            """
        let result = storeTestsParse(text, .json)
        #expect(result.entries == nil)
        #expect(result.problems == [
            "3: \(storeTestsNameRule)",
            "4: the value of 'NUM' is not a JSON string",
            "5: 'EMPTY': the value is empty; \(storeTestsValueRule) (or pass --skip-empty to leave empty values out)",
        ])
        #expect(!result.problems.joined().contains("secret-value"))
        #expect(storeTestsParse("[1, 2]", .json).problems == ["1: expected a JSON object of name → value"])
        #expect(storeTestsParse("{\"A\": ", .json).problems == ["1: the file is not valid JSON: expected a value"])
        #expect(storeTestsParse("{\"A\": \"a\"} x", .json).problems == ["1: the file is not valid JSON"])
        #expect(storeTestsParse("{}", .json).entries?.isEmpty == true)
    }

    /// A bad entry is reported on the line of its key, even when the same
    /// text occurs earlier as another entry's value.
    @Test func jsonProblemLineIsTheKeysLine() {
        let text = """
            {
              "A": "B",
              "B": 5
            }
            """
        #expect(storeTestsParse(text, .json).problems == ["3: the value of 'B' is not a JSON string"])
    }

    @Test func importFormatFollowsExtension() {
        #expect(SecretImport.format(forPath: "x.json") == .json)
        #expect(SecretImport.format(forPath: "dir/X.JSON") == .json)
        #expect(SecretImport.format(forPath: ".env") == .dotenv)
        #expect(SecretImport.format(forPath: "prod.env.json.bak") == .dotenv)
        #expect(SecretImport.format(forPath: "-") == .dotenv)
    }
}
