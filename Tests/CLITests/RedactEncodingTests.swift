import Foundation
import Testing

/// `redact` on values stored from files (final line breaks), on their encoded
/// forms and on overlapping values, through the built binary.
@Suite("redact: line breaks, encoded forms and overlaps, through the binary", .serialized)
struct RedactEncodingTests {
    static let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7o4qne60TB3pH\n-----END PRIVATE KEY-----\n"
    static let token = "tok_Zq8/+x?~~>>??-a1"
    static let odd = "p\"w 'x' <y> & z/ü"

    /// A store with values set from files, as `--value-file` keeps them (final newline included).
    static func setup() throws -> CLI {
        let cli = try CLI().initialise(team: ["odd": odd, "ov_a": "HEAD-OV1234", "ov_b": "1234-TAIL-XYZ"])
        for (name, value) in [("tls_key", pem), ("token", token + "\n"), ("crlf_token", "crlf-token-value\r\n")] {
            let file = cli.path("\(name).value")
            try Data(value.utf8).write(to: URL(fileURLWithPath: file))
            let outcome = cli.run(["secrets", "set", "team", "--name", name, "--value-file", file])
            try #require(outcome.status == 0, "set \(name): \(outcome.stderr)")
        }
        return cli
    }

    func redact(_ cli: CLI, _ log: String) -> CLI.Outcome {
        cli.run(["redact"], stdin: Array(log.utf8))
    }

    @Test("a value stored with its final line break keeps the log's lines (LF and CRLF, single- and multi-line)")
    func lineBreaksKept() throws {
        let cli = try Self.setup()
        let log = "key:\n\(Self.pem)after the key\ntoken=\(Self.token)\nnext\r\nwin crlf-token-value\r\nlast line\n"
        let outcome = redact(cli, log)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText == "key:\n[secret:tls_key]\nafter the key\ntoken=[secret:token]\nnext\r\nwin [secret:crlf_token]\r\nlast line\n")
        // The same log through a terminal that writes CRLF: still whole, lines kept.
        let crlf = redact(cli, log.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(crlf.stdoutText == "key:\r\n[secret:tls_key]\r\nafter the key\r\ntoken=[secret:token]\r\nnext\r\nwin [secret:crlf_token]\r\nlast line\r\n")
        // One line of the key on its own.
        let line = redact(cli, "dump: BKcwggSjAgEAAoIBAQC7o4qne60TB3pH\nok\n")
        #expect(line.stdoutText == "dump: [secret:tls_key]\nok\n")
    }

    @Test("base64 in each alignment and both alphabets, the Kubernetes way (file bytes, newline included) too")
    func base64() throws {
        let cli = try Self.setup()
        var log = ""
        for prefix in ["", "u", "us", "user:"] {
            let b64 = Data((prefix + Self.token).utf8).base64EncodedString()
            let url = b64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            log += "basic \(b64)\njwt-ish \(url).sig\n"
        }
        let secretData = Data(Self.pem.utf8).base64EncodedString()
        log += "data:\n  tls.key: \(secretData)\n"
        let outcome = redact(cli, log)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let lines = outcome.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == log.split(separator: "\n", omittingEmptySubsequences: false).count)
        #expect(lines.filter { $0.contains("[secret:token]") }.count == 8)
        #expect(outcome.stdoutText.contains("  tls.key: [secret:tls_key]\n"))
        // At most the first group's characters (they hold the prefix's bits) stay before the marker.
        for line in lines where line.contains("[secret:token]") {
            let before = line.split(separator: " ").last.map { String($0.prefix { $0 != "[" }) } ?? ""
            #expect(before.count <= 7, "\(before.count) characters left before the marker")
        }
        #expect(!outcome.stdoutText.contains(String(Data(Self.token.utf8).base64EncodedString().prefix(8))))
    }

    @Test("JSON, URL and XML forms of a value with every special character, and Python's \\u escapes")
    func textEncodings() throws {
        let cli = try Self.setup()
        let json = String(decoding: try JSONEncoder().encode(["password": Self.odd]), as: UTF8.self)
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let url = try #require(Self.odd.addingPercentEncoding(withAllowedCharacters: unreserved))
        let form = url.replacingOccurrences(of: "%20", with: "+").lowercased()
        let xml = "p&quot;w &#39;x&#39; &lt;y&gt; &amp; z/ü"
        let log = """
            \(json)
            {"password": "p\\"w 'x' <y> & z/\\u00fc"}
            GET /login?pw=\(url)&next=/
            POST body: pw=\(form)&remember=1
            <password value="\(xml)"/>
            <p>p"w 'x' &lt;y&gt; &amp; z/ü</p>

            """
        let outcome = redact(cli, log)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText == """
            {"password":"[secret:odd]"}
            {"password": "[secret:odd]"}
            GET /login?pw=[secret:odd]&next=/
            POST body: pw=[secret:odd]&remember=1
            <password value="[secret:odd]"/>
            <p>[secret:odd]</p>

            """)
    }

    @Test("two values that overlap in the stream are redacted as their union")
    func overlap() throws {
        let cli = try Self.setup()
        let outcome = redact(cli, "joined: HEAD-OV1234-TAIL-XYZ.\n")
        #expect(outcome.stdoutText == "joined: [secret:ov_a][secret:ov_b].\n")
        #expect(!outcome.stdoutText.contains("TAIL") && !outcome.stdoutText.contains("OV12"))
    }

    @Test("a log holding every value in every form keeps none of them, on stdout or stderr")
    func nothingSurvives() throws {
        let cli = try Self.setup()
        let values = [Self.pem, Self.token + "\n", "crlf-token-value\r\n", Self.odd, "HEAD-OV1234", "1234-TAIL-XYZ"]
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        var log = ""
        var forbidden: [String] = []
        for value in values {
            let trimmed = value.trimmingCharacters(in: .newlines)
            for text in [value, trimmed] {
                log += "raw \(text)|\n"
                let json = String(decoding: try JSONEncoder().encode([text]), as: UTF8.self)
                let url = try #require(text.addingPercentEncoding(withAllowedCharacters: unreserved))
                log += "json \(json) url \(url)\n"
                forbidden += [String(json.dropFirst(2).dropLast(2)), url]
                for prefix in ["", ":", "::"] {
                    let b64 = Data((prefix + text).utf8).base64EncodedString()
                    log += "b64 \(b64)\n"
                    // Past the first group (prefix bits) and short of the last two characters.
                    forbidden.append(String(b64.dropFirst(4).dropLast(4)))
                }
            }
            forbidden.append(trimmed)
            forbidden += trimmed.split(separator: "\n").map(String.init).filter { $0.count >= 6 }
        }
        let outcome = redact(cli, log)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        for text in forbidden where text.utf8.count >= 6 {
            #expect(!outcome.allOutput.contains(text), "a form of \(text.utf8.count) bytes survived")
        }
        #expect(outcome.stderr.isEmpty)
    }
}
