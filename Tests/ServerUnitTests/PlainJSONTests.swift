import Foundation
import SecretFillAPI
@testable import SecretFillServer
import Testing

@Suite("POST /v1/resolve bodies read without JSONDecoder agree with JSONDecoder")
struct PlainJSONTests {
    static func plain(_ text: String) -> ResolveRequest? {
        Array(text.utf8).withUnsafeBytes { ResolveRequest.plain($0) }
    }

    static func decoded(_ text: String) -> ResolveRequest? {
        try? JSONDecoder().decode(ResolveRequest.self, from: Data(text.utf8))
    }

    static func same(_ a: ResolveRequest, _ b: ResolveRequest) -> Bool {
        a.project == b.project && a.cluster == b.cluster && a.names == b.names
    }

    /// Whatever `plain` reads, JSONDecoder reads the same; what it leaves, JSONDecoder still decides.
    static func agrees(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let fast = plain(text) else { return }
        guard let slow = decoded(text) else {
            Issue.record("plain read \(text.debugDescription) but JSONDecoder refuses it", sourceLocation: sourceLocation)
            return
        }
        #expect(same(fast, slow), "\(text.debugDescription)", sourceLocation: sourceLocation)
    }

    @Test("what clients send is read plainly, as JSONDecoder reads it")
    func clientBodies() throws {
        let encoder = JSONEncoder()
        for request in [ResolveRequest(project: nil, cluster: nil, names: ["a"]),
                        ResolveRequest(project: "pr-1", cluster: "c.9", names: ["db_password", "API_KEY", "x"]),
                        ResolveRequest(project: nil, cluster: "c", names: []),
                        ResolveRequest(project: "p", cluster: nil, names: (0..<500).map { "s\($0)" })] {
            for formatting: JSONEncoder.OutputFormatting in [[], [.sortedKeys], [.prettyPrinted], [.prettyPrinted, .sortedKeys]] {
                encoder.outputFormatting = formatting
                let text = String(decoding: try encoder.encode(request), as: UTF8.self)
                let fast = try #require(Self.plain(text), "\(text)")
                #expect(Self.same(fast, request))
            }
        }
        // JSONEncoder leaves out nil optionals; null, spacing and any key order read the same.
        for text in [#"{"project": null, "cluster": null, "names": ["a", "b"]}"#, #" { "names" : [ ] , "project" : "p" } "#,
                     "{\"cluster\":\"c\",\r\n\t\"names\":[\"a\"]}"] {
            #expect(Self.plain(text) != nil, "\(text)")
            Self.agrees(text)
        }
    }

    @Test("anything outside the plain form is left to JSONDecoder", arguments: [
        "", "{}", "[]", "null", #"{"names":["a"]"#, #"{"names":["a"]}}"#, #"{"names":["a"]} x"#, #"{"names":["a"],}"#,
        #"{"names":["a",]}"#, #"{"names":"a"}"#, #"{"names":[1]}"#, #"{"names":[null]}"#, #"{"names":["a"],"names":["b"]}"#,
        #"{"project":"p","project":"q","names":[]}"#, #"{"project":1,"names":[]}"#, #"{"project":nul,"names":[]}"#,
        #"{"project":nullx,"names":[]}"#, #"{"names":["a\"b"]}"#, #"{"names":["a\u0062"]}"#, #"{"n\u0061mes":["a"]}"#,
        #"{"names":["é"]}"#, "{\"names\":[\"a\tb\"]}", #"{"names":["a"],"extra":1}"#, #"{"project":"p"}"#,
        "\u{FEFF}{\"names\":[]}", #"{"names":["a"] "project":null}"#, #"{"names"["a"]}"#,
    ])
    func leftAlone(_ text: String) {
        #expect(Self.plain(text) == nil, "\(text.debugDescription)")
    }

    @Test("generated and mutated bodies: whatever is read plainly, JSONDecoder reads the same")
    func differential() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["{", "}", "[", "]", ",", ":", " ", "\n", "null", "\"names\"", "\"project\"", "\"cluster\"", "\"a\"",
                      "\"pr-1\"", "\"\"", "\"x y\"", "\"\\\"\"", "\"é\"", "1", "true", "\"names\":[\"a\"]"]
        var plainlyRead = 0
        for _ in 0..<3000 {
            var text: String
            if Bool.random(using: &generator) {
                // A valid body, then a mutation or none.
                let names = (0..<Int.random(in: 0...3, using: &generator)).map { "\"n\($0)\"" }.joined(separator: ",")
                var members = ["\"names\":[\(names)]"]
                if Bool.random(using: &generator) { members.append("\"project\":" + (Bool.random(using: &generator) ? "null" : "\"p\"")) }
                if Bool.random(using: &generator) { members.append("\"cluster\":" + (Bool.random(using: &generator) ? "null" : "\"c\"")) }
                text = "{" + members.shuffled(using: &generator).joined(separator: ",") + "}"
                if Bool.random(using: &generator) {
                    var bytes = Array(text.utf8)
                    let at = Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: bytes.remove(at: at)
                    case 1: bytes.insert(Array(pieces.randomElement(using: &generator)!.utf8)[0], at: at)
                    default: bytes[at] = UInt8.random(in: 0x20..<0x7F, using: &generator)
                    }
                    text = String(decoding: bytes, as: UTF8.self)
                }
            } else {
                text = (0..<Int.random(in: 1...12, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            }
            if Self.plain(text) != nil { plainlyRead += 1 }
            Self.agrees(text)
        }
        // The generator does reach the plain path (the check above is not vacuous).
        #expect(plainlyRead > 500)
    }
}
