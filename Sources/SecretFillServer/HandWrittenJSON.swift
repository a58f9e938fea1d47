import SecretFill
import SecretFillAPI

/// An answer the server writes as JSON by hand instead of through
/// JSONEncoder: only for the hot path, `POST /v1/resolve`, where JSONEncoder
/// took about a tenth of the server's CPU per request (perf, bench/server.sh).
/// `HotPathTests.resolveAnswerRoundTrips` (ServerUnitTests) decodes what it
/// writes back with JSONDecoder, and checks its key order against JSONEncoder's.
protocol HandWrittenJSON: Encodable {
    /// The answer as JSON in UTF-8, keys sorted as JSONEncoder's `.sortedKeys` sorts them.
    var jsonBytes: [UInt8] { get }
}

extension ResolveResponse: HandWrittenJSON {
    /// Written as bytes, the form the response body takes: built as a
    /// `String`, its 60 appends were 7% of a resolve's instructions
    /// (callgrind, BENCHMARKS.md).
    var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        // Room for the fixed text and each entry's quotes and keys: one allocation, not several.
        out.reserveCapacity(32 + missing.reduce(0) { $0 + $1.utf8.count + 3 }
            + secrets.reduce(0) { $0 + $1.key.utf8.count + $1.value.value.utf8.count + ($1.value.id?.utf8.count ?? 4) + 48 })
        out.append(contentsOf: #"{"missing":["#.utf8)
        for (index, name) in missing.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            Self.appendQuoted(name, to: &out)
        }
        out.append(contentsOf: #"],"secrets":{"#.utf8)
        for (index, (name, secret)) in secrets.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            Self.appendQuoted(name, to: &out)
            out.append(contentsOf: #":{"id":"#.utf8)
            if let id = secret.id { Self.appendQuoted(id, to: &out) } else { out.append(contentsOf: "null".utf8) }
            out.append(contentsOf: #","scope":"#.utf8)
            Self.appendQuoted(secret.scope, to: &out)
            out.append(contentsOf: #","value":"#.utf8)
            Self.appendQuoted(secret.value, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    /// `JSONText.appendQuoted` into bytes: text with nothing to escape is
    /// copied whole, any other goes JSONText's general path.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        if JSONText.needsEscape(text) {
            out.append(contentsOf: JSONText.quotedScalarByScalar(text).utf8)
        } else {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: text.utf8)
            out.append(UInt8(ascii: "\""))
        }
    }
}
