import Foundation
import Testing

/// `serve --log-format json` and `X-Request-Id`.
@Suite("JSONLog", .serialized)
struct JSONLogTests {
    /// Each line of `log` as a JSON object (an issue for any line that is not one).
    static func objects(_ log: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        log.split(separator: "\n").compactMap { line in
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation)
                return nil
            }
            for field in ["time", "level", "message"] {
                #expect(object[field] is String, "\(field) in \(line)", sourceLocation: sourceLocation)
            }
            return object
        }
    }

    @Test("every line is one JSON object, the serving line included; a request's line has its fields and the caller's X-Request-Id")
    func jsonLines() throws {
        let team = try ServerTests.Team(.sqlite, serverArguments: ["--log-format", "json", "--metrics-listen", "127.0.0.1:0"])
        let reader = try team.key("reader", ["team:read"])
        let sent = "client-rid-\(UUID().uuidString)"
        let answer = team.server.exchange("POST", "/v1/resolve", body: "{\"names\": [\"a\"]}", token: reader, headers: ["X-Request-Id": sent])
        #expect(answer.status == 200)
        #expect(answer.headers["x-request-id"] == sent, "the caller's id comes back")
        // Too long, not printable ASCII, or holding something shaped like a token (it would be logged): a new one.
        for refused in [String(repeating: "r", count: 201), "caf\u{e9}-id", "oops-\(reader)", "eyJhbGciOiJSUzI1NiJ9.e30.sig"] {
            let other = team.server.exchange("GET", "/healthz", body: nil, token: nil, headers: ["X-Request-Id": refused])
            let made = try #require(other.headers["x-request-id"])
            #expect(made != refused && made.utf8.count == 32 && made.allSatisfy(\.isHexDigit), "\(made)")
        }
        let unknown = team.server.exchange("GET", "/no/such/path", body: nil, token: nil)
        #expect(unknown.status == 404)
        #expect(unknown.headers["x-request-id"]?.utf8.count == 32, "a 404 carries one too")
        #expect(team.server.stop() == 0)

        #expect(!team.server.log.contains(reader), "a token sent as a request id is not logged")
        let lines = Self.objects(team.server.log)
        #expect(lines.count >= 5)
        let serving = lines.first { ($0["message"] as? String)?.contains("serving on http://127.0.0.1:") ?? false }
        #expect(serving != nil, "the serving line is a JSON object whose message a script can find")
        #expect(lines.contains { ($0["message"] as? String)?.contains("metrics on http://127.0.0.1:") ?? false })
        let request = try #require(lines.first { $0["request_id"] as? String == sent }, "the log line names the caller's id")
        #expect(request["method"] as? String == "POST")
        #expect(request["route"] as? String == "/v1/resolve")
        #expect(request["status"] as? Int == 200)
        #expect(request["actor"] as? String == "reader")
        #expect(request["duration_ms"] is Double || request["duration_ms"] is Int)
        #expect(request["level"] as? String == "info")
        let notFound = try #require(lines.first { $0["status"] as? Int == 404 })
        #expect(notFound["route"] as? String == "unmatched")
        #expect(lines.contains { $0["message"] as? String == "secretfill server stopped" })
    }

    @Test("text mode keeps its lines, and names the request id")
    func textLines() throws {
        let team = try ServerTests.Team(.sqlite)
        let reader = try team.key("reader", ["team:read"])
        let sent = "text-rid-\(UUID().uuidString)"
        let answer = team.server.exchange("POST", "/v1/resolve", body: "{\"names\": [\"a\"]}", token: reader, headers: ["X-Request-Id": sent])
        #expect(answer.status == 200 && answer.headers["x-request-id"] == sent)
        #expect(team.server.stop() == 0)
        let log = team.server.log
        #expect(log.contains("secretfill: serving on http://127.0.0.1:"))
        let line = try #require(log.split(separator: "\n").first { $0.contains("POST /v1/resolve 200 key=reader") })
        #expect(line.contains("request_id=\(sent)"), "\(line)")
        #expect(!log.contains("{\"time\""))
    }

    @Test("a refusal at start is a JSON line too under --log-format json")
    func refusalLine() throws {
        let cli = try CLI()
        let refused = cli.run(["serve", "--database", "sqlite:" + cli.path("r.db"), "--listen", "0.0.0.0:0", "--log-format", "json"])
        #expect(refused.status == 2)
        let lines = Self.objects(refused.stderr)
        #expect(lines.count == 1 && (lines.first?["message"] as? String)?.contains("refusing to listen on 0.0.0.0") == true, "\(refused.stderr)")
        #expect(cli.run(["serve", "--log-format", "yaml"]).status == 64)
    }
}
