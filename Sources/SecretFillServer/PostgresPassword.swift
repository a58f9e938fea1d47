#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SecretFill

/// Where a PostgreSQL password comes from when the URL has none, as libpq
/// reads it: `PGPASSWORD`, else the password file (`PGPASSFILE`, else
/// `~/.pgpass`), so the password need not sit in `--database` and `ps`.
///
/// The file's lines are `host:port:database:user:password`; `*` matches
/// anything in the first four fields, `\:` and `\\` are a colon and a
/// backslash, `#` starts a comment line, and the first matching line wins.
/// Like libpq, a file that group or others can read is not used (a warning
/// says so), nor one that is not a regular file.
public enum PostgresPassword {
    public struct Filled: Sendable {
        public var location: DatabaseLocation
        /// For stderr: why a password file was passed over (never its content).
        public var warnings: [String]
    }

    public static func fill(_ location: DatabaseLocation, environment: [String: String]) -> Filled {
        guard case .postgres(let host, let port, let user, nil, let database, let tls) = location else {
            return Filled(location: location, warnings: [])
        }
        func with(_ password: String) -> Filled {
            Filled(location: .postgres(host: host, port: port, user: user, password: password, database: database, tls: tls), warnings: [])
        }
        if let password = environment["PGPASSWORD"], !password.isEmpty { return with(password) }
        let path: String
        if let file = environment["PGPASSFILE"], !file.isEmpty {
            path = file
        } else if let home = environment["HOME"], !home.isEmpty {
            path = home + "/.pgpass"
        } else {
            return Filled(location: location, warnings: [])
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return Filled(location: location, warnings: []) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            return Filled(location: location, warnings: ["the password file \(path) is not a regular file; not used"])
        }
        guard info.st_mode & 0o077 == 0 else {
            return Filled(location: location, warnings: ["the password file \(path) can be read by group or others; not used (make it mode 0600, as libpq asks)"])
        }
        guard let bytes = try? FileIO.readAll(path) else {
            return Filled(location: location, warnings: ["cannot read the password file \(path); not used"])
        }
        let text = String(decoding: bytes, as: UTF8.self)
        if let password = match(text, host: host, port: port, database: database, user: user) { return with(password) }
        return Filled(location: location, warnings: [])
    }

    /// The password of the first line of a `.pgpass` text that matches.
    static func match(_ text: String, host: String, port: Int, database: String, user: String) -> String? {
        let wanted = [host, String(port), database, user]
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            if line.hasPrefix("#") { continue }
            let fields = split(line)
            guard fields.count == 5 else { continue }
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A line's fields at unescaped colons, with `\:` and `\\` unescaped.
    static func split(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}
