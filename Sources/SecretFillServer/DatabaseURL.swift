import SecretFill

/// Where `serve` keeps the team's store: `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=MODE&sslrootcert=FILE]`
/// or `sqlite:PATH`. Its description never shows the password.
public enum DatabaseLocation: Sendable, Hashable, CustomStringConvertible {
    case postgres(host: String, port: Int, user: String, password: String?, database: String, tls: PostgresTLS = PostgresTLS())
    case sqlite(path: String)

    /// libpq's `sslmode` and `sslrootcert`, with libpq's meanings: `disable`
    /// (never TLS), `allow` and `prefer` (TLS when the server offers it,
    /// unverified; the default), `require` (TLS or no connection, unverified),
    /// `verify-ca` (TLS, the certificate chains to `sslrootcert`, else the
    /// system's roots), `verify-full` (and it names the host).
    public struct PostgresTLS: Sendable, Hashable {
        public enum Mode: String, Sendable, CaseIterable {
            case disable, allow, prefer, require
            case verifyCA = "verify-ca"
            case verifyFull = "verify-full"
        }

        public var mode: Mode = .prefer
        public var rootCertificate: String?

        public init(mode: Mode = .prefer, rootCertificate: String? = nil) {
            self.mode = mode
            self.rootCertificate = rootCertificate
        }
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let detail: String
        public var description: String {
            "the database URL is not usable (\(detail)); give postgres://USER[:PASSWORD]@HOST[:PORT]/DB or sqlite:PATH"
        }
    }

    public init(parsing text: String) throws(ParseError) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw ParseError(detail: "sqlite: needs a path") }
            self = .sqlite(path: path)
            return
        }
        let schemes = ["postgres://", "postgresql://"]
        guard let scheme = schemes.first(where: { text.hasPrefix($0) }) else {
            throw ParseError(detail: "unknown scheme")
        }
        let rest = text.dropFirst(scheme.count)
        guard let at = rest.lastIndex(of: "@") else { throw ParseError(detail: "no USER@ part") }
        let userInfo = rest[..<at]
        let hostPart = rest[rest.index(after: at)...]
        guard let slash = hostPart.firstIndex(of: "/") else { throw ParseError(detail: "no /DB part") }
        let hostPort = hostPart[..<slash]
        var database = String(hostPart[hostPart.index(after: slash)...])
        var tls = PostgresTLS()
        if let query = database.firstIndex(of: "?") {
            for pair in database[database.index(after: query)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                let value = parts.count > 1 ? Self.percentDecoded(parts[1]) : ""
                switch name {
                case "sslmode":
                    guard let mode = PostgresTLS.Mode(rawValue: value) else {
                        throw ParseError(detail: "sslmode must be one of \(PostgresTLS.Mode.allCases.map(\.rawValue).joined(separator: ", ")), not '\(value.prefix(32))'")
                    }
                    tls.mode = mode
                case "sslrootcert":
                    guard !value.isEmpty else { throw ParseError(detail: "sslrootcert needs a file") }
                    tls.rootCertificate = value
                default:
                    throw ParseError(detail: "unknown parameter '\(name.prefix(32))': only sslmode and sslrootcert are understood")
                }
            }
            database = String(database[..<query])
        }
        guard !database.isEmpty else { throw ParseError(detail: "no database name") }
        let user: String
        let password: String?
        if let colon = userInfo.firstIndex(of: ":") {
            user = Self.percentDecoded(userInfo[..<colon])
            password = Self.percentDecoded(userInfo[userInfo.index(after: colon)...])
        } else {
            user = Self.percentDecoded(userInfo)
            password = nil
        }
        guard !user.isEmpty else { throw ParseError(detail: "no user name") }
        var host = String(hostPort)
        var port = 5432
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let parsed = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(parsed) else {
                throw ParseError(detail: "bad port")
            }
            port = parsed
            host = String(hostPort[..<colon])
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ParseError(detail: "no host") }
        self = .postgres(host: host, port: port, user: user, password: password, database: database, tls: tls)
    }

    /// `sqlite:` + `server.db` beside the default store.
    public static func defaultLocation(environment: [String: String]) -> DatabaseLocation {
        .sqlite(path: StoreConfiguration.defaultDirectory(environment: environment) + "/server.db")
    }

    public var description: String {
        switch self {
        case .postgres(let host, let port, let user, _, let database, let tls):
            "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)\(tls.mode == .prefer ? "" : "?sslmode=\(tls.mode.rawValue)")"
        case .sqlite(let path): "sqlite:\(path)"
        }
    }

    private static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
