import SecretFill
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// `--token-file`, `SECRETFILL_TOKEN` or `SECRETFILL_TOKEN_FILE` (a file is refused when group or others may
/// read it, when another user owns it, or when it is not a regular file).
public struct ServerEndpoint: Sendable {
    public let url: String
    public let token: String?
    public let caFile: String?
    /// True when `--insecure-http` let a token go to a non-loopback host in clear (the CLI warns).
    public let plainHTTPToRemoteHost: Bool
    /// With no API key: a CI job's OIDC token, exchanged once per process for a role's short-lived token.
    public let oidc: OIDCCredential?

    public init(url: String, token: String?, caFile: String?, plainHTTPToRemoteHost: Bool = false, oidc: OIDCCredential? = nil) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.caFile = caFile
        self.plainHTTPToRemoteHost = plainHTTPToRemoteHost
        self.oidc = token == nil ? oidc : nil
    }

    /// The server URL asked for (`--server`, else a non-empty `SECRETFILL_SERVER`), unchecked.
    public static func requestedURL(server: String?, environment: [String: String]) -> String? {
        server ?? environment["SECRETFILL_SERVER"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static func resolve(server: String?, tokenFile: String?, caFile: String?, insecureHTTP: Bool = false, oidcTokenFile: String? = nil,
                               environment: [String: String]) throws(ClientFailure) -> ServerEndpoint? {
        guard let url = requestedURL(server: server, environment: environment) else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw .invalid("the server URL must start with http:// or https://, not '\(url)'")
        }
        var plainToRemote = false
        if url.hasPrefix("http://") {
            let host = Self.host(of: url)
            if !Self.isLiteralLoopback(host) {
                // Checked before anything is read or sent: the token would cross the network in clear.
                guard insecureHTTP else {
                    throw .invalid("refusing to send the API key to \(Self.shown(host)) over plain http://: it would cross the network in clear; use https:// (the server's --tls-cert), or give --insecure-http if something else encrypts the link")
                }
                plainToRemote = true
            }
        }
        func given(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        // The key: --token-file, else SECRETFILL_TOKEN, else SECRETFILL_TOKEN_FILE.
        var token: String?
        if let tokenFile {
            token = try readTokenFile(tokenFile)
        } else if let inline = given("SECRETFILL_TOKEN") {
            token = trimmed(Array(inline.utf8))
        } else if let path = given("SECRETFILL_TOKEN_FILE") {
            token = try readTokenFile(path)
        }
        // Else a CI job's OIDC token for SECRETFILL_ROLE, else what `secretfill login` stored for this server.
        var oidc: OIDCCredential?
        if token == nil {
            let role = given("SECRETFILL_ROLE")
            var jwt: String?
            if let oidcTokenFile { jwt = try readTokenFile(oidcTokenFile) } else if let inline = given("SECRETFILL_OIDC_TOKEN") { jwt = trimmed(Array(inline.utf8)) }
            switch (role, jwt) {
            case (let role?, let jwt?): oidc = OIDCCredential(role: role, jwt: jwt)
            case (nil, _?): throw .invalid("an OIDC token was given (SECRETFILL_OIDC_TOKEN or --oidc-token-file) but no role: set SECRETFILL_ROLE")
            case (_?, nil): throw .invalid("SECRETFILL_ROLE is set but no OIDC token was given: set SECRETFILL_OIDC_TOKEN or give --oidc-token-file")
            case (nil, nil): token = try CredentialsFile.token(for: url, environment: environment)
            }
        }
        return ServerEndpoint(url: url, token: token, caFile: caFile ?? given("SECRETFILL_CA_FILE"), plainHTTPToRemoteHost: plainToRemote, oidc: oidc)
    }

    /// `host[:port]` of `scheme://[userinfo@]host[:port][/...]`.
    static func authority(of url: String) -> Substring {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return "" }
        let start = url.index(colon, offsetBy: 3)
        let authority = url[start...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard let at = authority.lastIndex(of: "@") else { return authority }
        return authority[authority.index(after: at)...]
    }

    /// The port the URL gives, if any.
    public static func port(of url: String) -> Int? {
        var authority = authority(of: url)
        if let close = authority.lastIndex(of: "]") { authority = authority[authority.index(after: close)...] }
        guard let colon = authority.lastIndex(of: ":") else { return nil }
        return Int(authority[authority.index(after: colon)...])
    }

    /// The host of `scheme://[userinfo@]host[:port][/...]`, brackets kept off an IPv6 literal.
    public static func host(of url: String) -> String {
        let authority = authority(of: url)
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return String(authority) }
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        return String(authority.prefix { $0 != ":" })
    }

    /// Loopback by its spelling alone: `localhost`, `::1` or an IPv4 literal
    /// in 127.0.0.0/8. A name that resolves to 127.0.0.1 does not count
    /// (resolution can change, and the check must hold before any lookup).
    public static func isLiteralLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" || lowered == "0:0:0:0:0:0:0:1" { return true }
        let parts = lowered.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) && (Int(part) ?? 256) <= 255
        }
    }

    static func shown(_ host: String) -> String {
        host.utf8.count <= 253 && host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) ? host : "<host>"
    }

    /// The token in `path`: a regular file of yours that group and others
    /// cannot read. A FIFO or device is refused before it is opened (a read
    /// could block forever), as is a file another user owns.
    public static func readTokenFile(_ path: String) throws(ClientFailure) -> String {
        trimmed(try readPrivateFile(path, what: "the token file", contents: "the API key"))
    }

    /// The bytes of `path` (`what` names it in messages, `contents` what belongs in it): a regular file of yours that group and
    /// others cannot read (a token file, `serve --oidc-client-secret-file`).
    public static func readPrivateFile(_ path: String, what: String, contents: String) throws(ClientFailure) -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { throw .other("cannot read \(what) \(path): it does not exist") }
            throw .other("cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            let kind = switch info.st_mode & S_IFMT {
            case S_IFDIR: "a directory"
            case S_IFIFO: "a FIFO"
            case S_IFCHR, S_IFBLK: "a device"
            case S_IFSOCK: "a socket"
            default: "not a regular file"
            }
            throw .other("\(what) \(path) is \(kind), not a regular file; write \(contents) into a file of its own (mode 0600)")
        }
        let mode = info.st_mode & 0o7777
        guard mode & 0o077 == 0 else {
            throw .other("\(what) \(path) can be read by group or others (mode \(String(mode & 0o777, radix: 8))); run: chmod 600 \(path)")
        }
        guard info.st_uid == geteuid() else {
            throw .other("\(what) \(path) is owned by uid \(info.st_uid), not by you (uid \(geteuid())); it must be your own (make your own copy, mode 0600)")
        }
        let bytes: [UInt8]
        do { bytes = try FileIO.readAll(path) } catch { throw .other("cannot read \(what) \(path): \(error.description)") }
        return bytes
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
/// What `keys` and `audit` need: through a server (`TeamService`), or
/// straight from the database `serve` uses when no server is given.
public protocol TeamAdministration: Sendable {
    func createKey(name: String, grants: [String], expiresIn: Int?) async throws(ClientFailure) -> String
    func listKeys() async throws(ClientFailure) -> [KeyEntry]
    func revokeKey(name: String) async throws(ClientFailure)
    /// The newest `limit` entries, newest first, and whether older ones exist.
    func audit(since: Int?, key: String?, secret: String?, limit: Int) async throws(ClientFailure) -> (entries: [AuditEntry], more: Bool)
    /// `audit --role NAME`: the same, only the role's entries.
    func audit(since: Int?, key: String?, secret: String?, role: String?, user: String?, limit: Int) async throws(ClientFailure) -> (entries: [AuditEntry], more: Bool)
    func createRole(_ role: RoleEntry) async throws(ClientFailure)
    func listRoles() async throws(ClientFailure) -> [RoleEntry]
    func deleteRole(name: String) async throws(ClientFailure)
    /// `members add`: the member with these grants (replacing an existing member's; `updated` then).
    func addMember(name: String, grants: [String]) async throws(ClientFailure) -> AddMemberResponse
    func listMembers() async throws(ClientFailure) -> [MemberEntry]
    func removeMember(name: String) async throws(ClientFailure)
    /// Closes the connections; call once, last.
    func shutdown() async
}

public protocol TeamService: TeamAdministration {
    /// render, env, exec: every name a spec references, in one `/v1/resolve`.
    func resolveSnapshot(names: [String], in chain: ScopeChain) async throws(ClientFailure) -> ResolvedSecretSnapshot
    /// redact: every value of the chain, shadowed ones included.
    func valuesSnapshot(in chain: ScopeChain) async throws(ClientFailure) -> ResolvedSecretSnapshot
    /// check, list, which: the names of each scope.
    func namesSnapshot(_ scopes: [Scope]) async throws(ClientFailure) -> ResolvedSecretSnapshot
    /// Hints: every scope the key may list that holds names, with its names (`/v1/scopes`).
    func listableNames() async throws(ClientFailure) -> ResolvedSecretSnapshot.NameDirectory
    func set(_ values: [(name: String, value: SecretValue)], in scope: Scope) async throws(ClientFailure) -> [NameVersion]
    func delete(_ name: String, in scope: Scope, purge: Bool) async throws(ClientFailure)
    func history(of name: String, in scope: Scope) async throws(ClientFailure) -> HistoryResponse
    func rollback(_ name: String, in scope: Scope, to version: Int) async throws(ClientFailure) -> Int
    /// `login`: a CI job's OIDC token for a role's short-lived token (`POST /v1/auth/oidc`).
    func exchangeOIDC(_ credential: OIDCCredential) async throws(ClientFailure) -> OIDCExchangeResponse
    /// `login` as a person (issue 25): listens on a loopback port for one
    /// redirect, has `open` show the person the server's sign-in address
    /// (their browser, or a printed line), waits up to `timeoutSeconds` for
    /// the code, and exchanges it with this login's own PKCE verifier.
    func signInAsPerson(ttl: String?, timeoutSeconds: Int, open: @escaping @Sendable (String) -> Void) async throws(ClientFailure) -> LoginTokenResponse
    /// `logout`: ends the CLI token this client presents (`POST /v1/logout`).
    func logout() async throws(ClientFailure)
    /// `whoami` (`POST /v1/whoami`).
    func whoami() async throws(ClientFailure) -> WhoamiResponse
    /// `backup --server`: the server's backup file (`POST /v1/backup`, admin) into `path`; its size in bytes.
    /// `progress` is told the bytes written so far, after each part that arrives.
    func downloadBackup(audit: Bool, to path: String, progress: (@Sendable (Int) -> Void)?) async throws(ClientFailure) -> Int
    /// `rekey --server`: `POST /v1/rekey` (admin), with the server's own store key.
    func rekey(_ request: RekeyRequest) async throws(ClientFailure) -> RekeyResponse
}
