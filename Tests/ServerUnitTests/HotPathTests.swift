import Foundation
import HTTPTypes
import Hummingbird
@testable import SecretFill
import SecretFillAPI
@testable import SecretFillServer
import Testing

/// The pieces of `POST /v1/resolve` that were rewritten for speed
/// (bench/server.sh): each is checked against the general code it replaces.
@Suite("Server hot path")
struct HotPathTests {
    /// Strings that need every kind of escape, and some that need none.
    static let awkward: [String] = [
        "", "plain", "a\"quote", "back\\slash", "line\nbreak", "tab\tcr\r", "\u{01}\u{1F}\u{7F}", "line\u{2028}sep\u{2029}",
        "é ü ß 日本 🔑", "\u{E2}\u{80}", "ends with backslash \\", "</script>", String(repeating: "x", count: 5_000),
    ]

    @Test("JSONText.quoted writes exactly what its scalar-by-scalar path writes, for awkward and random text")
    func quotedMatchesReference() {
        var generator = SystemRandomNumberGenerator()
        var samples = Self.awkward
        let alphabet: [Unicode.Scalar] = ["a", "\"", "\\", "\n", "\u{0}", "\u{1F}", "\u{2028}", "\u{2029}", "\u{E9}", "\u{1F511}", " ", "/"]
        for _ in 0..<500 {
            var text = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...12, using: &generator) { text.append(alphabet.randomElement(using: &generator)!) }
            samples.append(String(text))
        }
        for text in samples {
            #expect(JSONText.quoted(text) == JSONText.quotedScalarByScalar(text), "\(Array(text.utf8))")
            var bytes: [UInt8] = []
            ResolveResponse.appendQuoted(text, to: &bytes)
            #expect(bytes == Array(JSONText.quotedScalarByScalar(text).utf8), "the resolve answer's bytes: \(Array(text.utf8))")
        }
    }

    @Test("the hand-written resolve answer decodes to what was answered, for awkward values and names")
    func resolveAnswerRoundTrips() throws {
        var secrets: [String: ResolvedSecret] = [:]
        for (index, value) in Self.awkward.enumerated() {
            let scope = ["team", "project", "cluster"][index % 3]
            secrets["name_\(index)"] = ResolvedSecret(value: value, scope: scope, id: scope == "team" ? nil : "id-\(index)")
        }
        for answer in [ResolveResponse(secrets: secrets, missing: ["gone", "also_gone"]), ResolveResponse(secrets: [:], missing: [])] {
            let text = String(decoding: answer.jsonBytes, as: UTF8.self)
            let decoded = try JSONDecoder().decode(ResolveResponse.self, from: Data(text.utf8))
            #expect(decoded.missing == answer.missing)
            #expect(decoded.secrets.count == answer.secrets.count)
            for (name, secret) in answer.secrets {
                let back = try #require(decoded.secrets[name])
                #expect(back.value == secret.value && back.scope == secret.scope && back.id == secret.id, "\(name)")
            }
            // Team's id is written as null, as the OpenAPI document says, not left out.
            if answer.secrets.values.contains(where: { $0.id == nil }) { #expect(text.contains("\"id\":null")) }
            // The same JSON value JSONEncoder writes.
            let encoded = try JSONEncoder().encode(answer)
            let viaEncoder = try JSONSerialization.jsonObject(with: encoded) as? NSDictionary
            let viaHand = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary
            #expect(viaEncoder == viaHand)
            // Keys in the order JSONEncoder's .sortedKeys writes them: the top level, each secret's, and the secrets' names.
            let sorter = JSONEncoder()
            sorter.outputFormatting = [.sortedKeys]
            let sortedText = String(decoding: try sorter.encode(answer), as: UTF8.self)
            func order(_ text: String, _ keys: [String]) -> [String] {
                keys.compactMap { key in text.range(of: "\"\(key)\":").map { (key, $0.lowerBound) } }.sorted { $0.1 < $1.1 }.map(\.0)
            }
            let keys = ["missing", "secrets"] + answer.secrets.keys.map { $0 }
            #expect(order(text, keys) == order(sortedText, keys))
            let inner = ["id", "scope", "value"]
            if let first = answer.secrets.keys.min(), let start = text.range(of: "\"\(first)\":"), let sortedStart = sortedText.range(of: "\"\(first)\":") {
                #expect(order(String(text[start.upperBound...]), inner) == order(String(sortedText[sortedStart.upperBound...]), inner))
            }
        }
    }

    @Test("a resolve's names are deduplicated and put in byte order, whether or not they came sorted")
    func sortedUnique() {
        var generator = SystemRandomNumberGenerator()
        let pool = ["a", "B", "_x", "a1", "a_", "Z9", "db_password", "DB_PASSWORD", "é", "aa"]
        var cases: [[String]] = [[], ["a"], ["a", "a"], ["a", "b"], ["b", "a"], ["B", "a", "B"], pool, pool.sorted()]
        for _ in 0..<300 { cases.append((0..<Int.random(in: 0...8, using: &generator)).map { _ in pool.randomElement(using: &generator)! }) }
        for names in cases {
            let reference = Array(Set(names)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            #expect(ServerStore.sortedUnique(names) == reference, "\(names)")
        }
    }

    @Test("a token's digest is its SHA-256 in lowercase hex, as api_keys.token_digest and sha256sum write it")
    func tokenDigest() {
        #expect(APIToken.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(APIToken.digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let token = APIToken.generate()
        #expect(APIToken.digest(token).utf8.count == 64 && APIToken.digest(token) == APIToken.digest(token))
    }

    static func record(_ name: String, digest: String) -> KeyRecord {
        KeyRecord(name: name, digest: digest, grants: "team:read", expires: nil, revoked: nil, lastUsed: nil)
    }

    @Test("the key cache keeps an accepted key for one second, and forgets a revoked one at once")
    func keyCache() throws {
        let cache = KeyCache()
        let grants = try GrantSet(parsing: ["team:read"])
        cache.keep(.init(record: Self.record("ci", digest: "d1"), grants: grants, fetchedAt: 10_000))
        cache.keep(.init(record: Self.record("dev", digest: "d2"), grants: grants, fetchedAt: 10_000))
        #expect(cache.entry(digest: "d1", now: 10_000)?.record.name == "ci")
        #expect(cache.entry(digest: "d1", now: 10_999)?.record.name == "ci")
        #expect(cache.entry(digest: "d1", now: 11_000) == nil, "one second old: looked up again")
        #expect(cache.entry(digest: "d1", now: 10_500) == nil, "expired entries are dropped, not revived")
        // A clock that went back is not trusted either.
        #expect(cache.entry(digest: "d2", now: 9_000) == nil)
        cache.keep(.init(record: Self.record("dev", digest: "d2"), grants: grants, fetchedAt: 20_000))
        cache.forget(name: "dev")
        #expect(cache.entry(digest: "d2", now: 20_001) == nil)
        #expect(cache.entry(digest: "unknown", now: 20_001) == nil)
    }

    @Test("the key cache stays bounded")
    func keyCacheBounded() throws {
        let cache = KeyCache()
        let grants = try GrantSet(parsing: ["team:read"])
        for index in 0..<(KeyCache.capacity + 10) {
            cache.keep(.init(record: Self.record("k\(index)", digest: "d\(index)"), grants: grants, fetchedAt: 1_000))
        }
        #expect(cache.count <= KeyCache.capacity)
        #expect(cache.entry(digest: "d\(KeyCache.capacity + 9)", now: 1_001) != nil, "the newest key is kept")
    }

    @Test("a value's data-key id ends at the colon found in its bytes in place, as the index-by-index search finds it")
    func colonMatchesGeneralSearch() {
        let texts = ["dk-0123456789abcdef:AAAA", "no colon at all", ":leading", "trailing:", "a:b:c", "", "é日本🔑:after", "x:é日本"]
        for text in texts {
            #expect(EnvelopeText.colonIndex(in: text) == text.utf8.firstIndex(of: UInt8(ascii: ":")), "\(text)")
            let (id, body) = EnvelopeText.parts(of: text)
            if let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")) {
                #expect(id == text[..<colon] && body == text[text.utf8.index(after: colon)...], "\(text)")
            } else {
                #expect(id == nil && body == text[...], "\(text)")
            }
        }
    }

    @Test("a request id the server makes is 32 lowercase hex digits, its start fixed for the process and its end counting")
    func requestIDs() {
        let made = (0..<1_000).map { _ in RequestID.make() }
        #expect(Set(made).count == made.count, "no two alike")
        for id in made {
            #expect(id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(id)")
        }
        #expect(Set(made.map { $0.prefix(16) }).count == 1)
        let counts = made.map { UInt64($0.suffix(16), radix: 16)! }
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 < $1 }, "made one after another, they count up")
    }

    static func request(_ fields: [(HTTPField.Name, String)]) -> Request {
        var head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/v1/resolve")
        for (name, value) in fields { head.headerFields.append(HTTPField(name: name, value: value)) }
        return Request(head: head, body: .init(buffer: ByteBuffer()))
    }

    @Test("the key a request presents is read once, with the digest the key cache and database are keyed by")
    func presentedKey() throws {
        let token = APIToken.generate()
        for fields in [[(HTTPField.Name.authorization, "Bearer " + token)], [(Routes.apiKeyHeader, token)],
                       [(HTTPField.Name.authorization, "Bearer " + token), (Routes.apiKeyHeader, token)]] {
            let presented = PresentedKey(Self.request(fields))
            #expect(try presented.token.get() == token)
            #expect(presented.digest == APIToken.digest(token))
        }
        let none = PresentedKey(Self.request([]))
        #expect(try none.token.get() == nil && none.digest == nil)
        let malformed = PresentedKey(Self.request([(.authorization, "Bearer not-a-token")]))
        #expect(try malformed.token.get() == "not-a-token" && malformed.digest == nil, "no digest of a token the server cannot have issued")
        let two = PresentedKey(Self.request([(.authorization, "Bearer " + token), (Routes.apiKeyHeader, APIToken.generate())]))
        #expect(throws: ServerRefusal.self) { try two.token.get() }
        #expect(two.digest == nil)
        let shown = PresentedKey(Self.request([(.authorization, "Bearer " + token)]))
        for text in ["\(shown)", String(reflecting: shown), String(describing: Mirror(reflecting: shown).children.map(\.value))] {
            #expect(!text.contains(token), "the token is not shown: \(text)")
        }
    }

    @Test("the methods of a path: /v1/… answered without splitting it, as splitting it answers")
    func paperspaceMethodsMatchSplitting() {
        let paths = ["/v1/resolve", "/v1/secrets", "/v1/", "/v1", "/v1/projects/secrets", "/projects/secrets", "/projects/secrets/",
                     "/projects/secrets/db", "/teams/secrets", "/clusters/secrets/x", "/clusters/secret", "/v2/secrets", "/",
                     "", "projects/secrets", "/projects/secrets/a/b", "/v1x/secrets", "//secrets"]
        for path in paths {
            #expect(PaperspaceRoutes.methods(for: path) == PaperspaceRoutes.methodsOfSplitPath(path), "\(path)")
        }
        #expect(PaperspaceRoutes.methods(for: "/projects/secrets/db") == [.put, .delete], "the test reaches a Paperspace path")
    }
}
