import SecretFill

/// Why a server request did not succeed, each with its exit status.
public enum ClientFailure: Error, Sendable, CustomStringConvertible {
    /// The server's access control refused: unknown, revoked or expired key, or a missing grant (exit 77).
    case refused(String)
    /// The server cannot be reached, timed out or answered 5xx (exit 2).
    case unavailable(String)
    /// The server said the request was malformed (exit 64).
    case invalid(String)
    /// A name, key or version that is not there (exit 2, as the local store says it).
    case notFound(String)
    /// Anything else the server said no to (exit 2).
    case other(String)

    public var description: String {
        switch self {
        case .refused(let m), .unavailable(let m), .invalid(let m), .notFound(let m), .other(let m): m
        }
    }
}

/// Where the server is and which key to use: `--server`/`SECRETFILL_SERVER`,
/// `SECRETFILL_TOKEN` or `--token-file` (refused when group or others may read it).
public struct ServerEndpoint: Sendable {
    public let url: String
    public let token: String?
    public let caFile: String?

    public init(url: String, token: String?, caFile: String?) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.caFile = caFile
    }

    /// The server URL asked for (`--server`, else a non-empty `SECRETFILL_SERVER`), unchecked.
    public static func requestedURL(server: String?, environment: [String: String]) -> String? {
        server ?? environment["SECRETFILL_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static func resolve(server: String?, tokenFile: String?, caFile: String?, environment: [String: String]) throws(ClientFailure) -> ServerEndpoint? {
        guard let url = requestedURL(server: server, environment: environment) else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw .invalid("the server URL must start with http:// or https://, not '\(url)'")
        }
        var token: String?
        if let tokenFile {
            guard let mode = FileIO.permissions(of: tokenFile) else { throw .other("cannot read the token file \(tokenFile): it does not exist") }
            guard mode & 0o077 == 0 else {
                throw .other("the token file \(tokenFile) can be read by group or others (mode \(String(mode & 0o777, radix: 8))); run: chmod 600 \(tokenFile)")
            }
            let bytes: [UInt8]
            do { bytes = try FileIO.readAll(tokenFile) } catch { throw .other("cannot read the token file \(tokenFile): \(error.description)") }
            token = trimmed(bytes)
        } else if let inline = environment["SECRETFILL_TOKEN"], !inline.isEmpty {
            token = trimmed(Array(inline.utf8))
        }
        return ServerEndpoint(url: url, token: token, caFile: caFile)
    }

    /// The token without surrounding ASCII whitespace (a file's final newline).
    static func trimmed(_ bytes: [UInt8]) -> String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}

/// What the CLI asks of a team server, one call per verb. `SecretFillClient`
/// answers it over HTTP; the CLI library sees only this, so it links no
/// networking.
public protocol TeamService: Sendable {
    /// render, env, exec: every name a spec references, in one `/v1/resolve`.
    func resolveSnapshot(names: [String], in chain: ScopeChain) async throws(ClientFailure) -> ResolvedSecretSnapshot
    /// redact: every value of the chain, shadowed ones included.
    func valuesSnapshot(in chain: ScopeChain) async throws(ClientFailure) -> ResolvedSecretSnapshot
    /// check, list, which: the names of each scope.
    func namesSnapshot(_ scopes: [Scope]) async throws(ClientFailure) -> ResolvedSecretSnapshot
    func set(_ values: [(name: String, value: SecretValue)], in scope: Scope) async throws(ClientFailure) -> [NameVersion]
    func delete(_ name: String, in scope: Scope, purge: Bool) async throws(ClientFailure)
    func history(of name: String, in scope: Scope) async throws(ClientFailure) -> HistoryResponse
    func rollback(_ name: String, in scope: Scope, to version: Int) async throws(ClientFailure) -> Int
    func createKey(name: String, grants: [String], expiresIn: Int?) async throws(ClientFailure) -> String
    func listKeys() async throws(ClientFailure) -> [KeyEntry]
    func revokeKey(name: String) async throws(ClientFailure)
    func audit(since: Int?, key: String?, secret: String?) async throws(ClientFailure) -> [AuditEntry]
    /// Closes the connections; call once, last.
    func shutdown() async
}
