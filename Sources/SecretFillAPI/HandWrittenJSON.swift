import SecretFill

/// An answer the server writes as JSON by hand instead of through
/// JSONEncoder: only for the hot path, `POST /v1/resolve`, where JSONEncoder
/// took about a tenth of the server's CPU per request (perf, bench/server.sh).
/// `WireJSONTests` decodes what it writes back with JSONDecoder.
public protocol HandWrittenJSON: Encodable {
    /// The answer as JSON, keys sorted as JSONEncoder's `.sortedKeys` sorts them.
    var jsonText: String { get }
}

extension ResolveResponse: HandWrittenJSON {
    public var jsonText: String {
        var out = "{\"missing\":["
        for (index, name) in missing.enumerated() {
            if index > 0 { out += "," }
            out += JSONText.quoted(name)
        }
        out += "],\"secrets\":{"
        for (index, (name, secret)) in secrets.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out += "," }
            out += JSONText.quoted(name)
            out += ":{\"id\":" + (secret.id.map(JSONText.quoted) ?? "null")
            out += ",\"scope\":" + JSONText.quoted(secret.scope)
            out += ",\"value\":" + JSONText.quoted(secret.value) + "}"
        }
        return out + "}}"
    }
}
