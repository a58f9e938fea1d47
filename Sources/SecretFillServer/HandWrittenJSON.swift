import SecretFill
import SecretFillAPI

/// An answer the server writes as JSON by hand instead of through
/// JSONEncoder: only for the hot path, `POST /v1/resolve`, where JSONEncoder
/// took about a tenth of the server's CPU per request (perf, bench/server.sh).
/// `HotPathTests.resolveAnswerRoundTrips` (ServerUnitTests) decodes what it
/// writes back with JSONDecoder, and checks its key order against JSONEncoder's.
protocol HandWrittenJSON: Encodable {
    /// The answer as JSON, keys sorted as JSONEncoder's `.sortedKeys` sorts them.
    var jsonText: String { get }
}

extension ResolveResponse: HandWrittenJSON {
    var jsonText: String {
        var out = ""
        // Room for the fixed text and each entry's quotes and keys: one allocation, not several.
        out.reserveCapacity(32 + missing.reduce(0) { $0 + $1.utf8.count + 3 }
            + secrets.reduce(0) { $0 + $1.key.utf8.count + $1.value.value.utf8.count + ($1.value.id?.utf8.count ?? 4) + 48 })
        out += "{\"missing\":["
        for (index, name) in missing.enumerated() {
            if index > 0 { out += "," }
            JSONText.appendQuoted(name, to: &out)
        }
        out += "],\"secrets\":{"
        for (index, (name, secret)) in secrets.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out += "," }
            JSONText.appendQuoted(name, to: &out)
            out += ":{\"id\":"
            if let id = secret.id { JSONText.appendQuoted(id, to: &out) } else { out += "null" }
            out += ",\"scope\":"
            JSONText.appendQuoted(secret.scope, to: &out)
            out += ",\"value\":"
            JSONText.appendQuoted(secret.value, to: &out)
            out += "}"
        }
        out += "}}"
        return out
    }
}
