import SecretFill
import Testing

@Suite("Redacting logs")
struct RedactTests {
    func redactor(_ pairs: [(String, String)]) throws -> StreamRedactor {
        StreamRedactor(secrets: try pairs.map { ($0.0, try SecretValue(validating: $0.1)) })
    }

    /// Feeds `text` in chunks of `size` bytes and returns the whole output.
    func run(_ redactor: inout StreamRedactor, _ text: String, chunk size: Int) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + size)
            out += bytes.withUnsafeBufferPointer { redactor.feed(UnsafeBufferPointer(rebasing: $0[i..<end])) }
            i = end
        }
        out += redactor.finish()
        return String(decoding: out, as: UTF8.self)
    }

    @Test("values split across every possible buffer boundary are still found", arguments: [1, 2, 3, 5, 7, 13, 64])
    func acrossBoundaries(_ size: Int) throws {
        var r = try redactor([("db", "hunter2-password"), ("token", "tok_ABCDEF")])
        let text = "login hunter2-password ok; token=tok_ABCDEF;tok_ABCDEFhunter2-password end"
        #expect(run(&r, text, chunk: size) == "login [secret:db] ok; token=[secret:token];[secret:token][secret:db] end")
    }

    @Test("when one value contains another, the longer wins")
    func overlapping() throws {
        var r = try redactor([("short", "secret1"), ("long", "xxsecret1yy"), ("prefix", "secret1-more")])
        #expect(run(&r, "a xxsecret1yy b secret1-more c secret1 d", chunk: 4)
            == "a [secret:long] b [secret:prefix] c [secret:short] d")
    }

    @Test("multi-line values are redacted whole and line by line")
    func multiLine() throws {
        let pem = "-----BEGIN KEY-----\nMIIBVgIBADANBgkqhkiG9w0B\n-----END KEY-----"
        var r = try redactor([("pem", pem)])
        let text = "whole: \(pem)\nsplit: MIIBVgIBADANBgkqhkiG9w0B\n"
        #expect(run(&r, text, chunk: 9) == "whole: [secret:pem]\nsplit: [secret:pem]\n")
    }

    @Test("short values are skipped and named, never matched")
    func shortValues() throws {
        var r = try redactor([("pin", "1234"), ("ok", "longenough")])
        #expect(r.skipped == ["pin"])
        #expect(run(&r, "1234 longenough", chunk: 3) == "1234 [secret:ok]")
    }

    @Test("output is released as soon as no value can still match across it")
    func prompt() throws {
        var r = try redactor([("db", "hunter2-password")])
        let first = Array("line one is done\nhunt".utf8).withUnsafeBufferPointer { r.feed($0) }
        #expect(String(decoding: first, as: UTF8.self) == "line one is done\n")
        let second = Array("er2-password\n".utf8).withUnsafeBufferPointer { r.feed($0) }
        #expect(String(decoding: second, as: UTF8.self) == "[secret:db]\n")
    }

    @Test("with no values the stream passes through untouched")
    func noValues() throws {
        var r = try redactor([])
        #expect(run(&r, "anything at all", chunk: 2) == "anything at all")
    }
}
