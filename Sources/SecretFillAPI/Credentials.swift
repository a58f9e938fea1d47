import SecretFill
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A CI job's OIDC token and the role to exchange it for (`SECRETFILL_ROLE`
/// with `SECRETFILL_OIDC_TOKEN` or `--oidc-token-file`). Never printed.
public struct OIDCCredential: Sendable {
    public let role: String
    public let jwt: String

    public init(role: String, jwt: String) {
        self.role = role
        self.jwt = jwt
    }
}

/// `$XDG_CONFIG_HOME/secretfill/credentials` (else `~/.config/…`): the
/// short-lived tokens `secretfill login` stored, one per server URL, as a
/// JSON object `{"servers": {URL: {"token", "expiresAt", "role"}}}`. The
/// folder is 0700 and the file 0600; a file others may read is refused.
public enum CredentialsFile {
    public struct Entry: Codable, Sendable {
        public var token: String
        public var expiresAt: String
        public var role: String?

        public init(token: String, expiresAt: String, role: String?) {
            self.token = token
            self.expiresAt = expiresAt
            self.role = role
        }
    }

    struct Document: Codable {
        var servers: [String: Entry]
    }

    /// The file's path, or nil when neither XDG_CONFIG_HOME nor HOME is set.
    public static func path(environment: [String: String]) -> String? {
        if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") { return config + "/secretfill/credentials" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.config/secretfill/credentials" }
        return nil
    }

    /// The stored token for `url`, if there is one that has not expired.
    public static func token(for url: String, environment: [String: String]) throws(ClientFailure) -> String? {
        guard let path = path(environment: environment), FileIO.exists(path) else { return nil }
        let text = try ServerEndpoint.readTokenFile(path)
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(text.utf8)) else {
            throw .other("the credentials file \(path) is not one secretfill wrote; remove it and run secretfill login again")
        }
        guard let entry = document.servers[normalized(url)] else { return nil }
        if let expires = UTCTime.unixTime(entry.expiresAt), expires <= UTCTime.nowSeconds() { return nil }
        return entry.token
    }

    /// Stores `entry` for `url`, keeping the other servers' entries; the folder is made 0700, the file written 0600.
    public static func store(_ entry: Entry, for url: String, environment: [String: String]) throws(ClientFailure) -> String {
        guard let path = path(environment: environment) else { throw .other("cannot store the token: neither XDG_CONFIG_HOME nor HOME is set") }
        let folder = FileIO.split(path).directory
        do { try FileIO.makeDirectories(folder) } catch { throw .other("cannot create \(folder): \(error.description)") }
        _ = chmod(folder, 0o700)
        var document = Document(servers: [:])
        if FileIO.exists(path) {
            let text = try ServerEndpoint.readTokenFile(path)
            if let existing = try? JSONDecoder().decode(Document.self, from: Data(text.utf8)) { document = existing }
        }
        document.servers[normalized(url)] = entry
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes: [UInt8]
        do { bytes = Array(try encoder.encode(document)) + [0x0A] } catch { throw .other("cannot encode the credentials") }
        do { try FileIO.replaceAtomically(path, with: bytes, mode: 0o600) } catch { throw .other("cannot write \(path): \(error.description)") }
        return path
    }

    /// The token stored for `url`, expired or not (`logout` ends it either way).
    public static func storedToken(for url: String, environment: [String: String]) throws(ClientFailure) -> String? {
        guard let path = path(environment: environment), FileIO.exists(path) else { return nil }
        let text = try ServerEndpoint.readTokenFile(path)
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(text.utf8)) else {
            throw .other("the credentials file \(path) is not one secretfill wrote; remove it and run secretfill login again")
        }
        return document.servers[normalized(url)]?.token
    }

    /// Removes `url`'s entry; true when there was one.
    public static func remove(for url: String, environment: [String: String]) throws(ClientFailure) -> Bool {
        guard let path = path(environment: environment), FileIO.exists(path) else { return false }
        let text = try ServerEndpoint.readTokenFile(path)
        guard var document = try? JSONDecoder().decode(Document.self, from: Data(text.utf8)) else {
            throw .other("the credentials file \(path) is not one secretfill wrote; remove it and run secretfill login again")
        }
        guard document.servers.removeValue(forKey: normalized(url)) != nil else { return false }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes: [UInt8]
        do { bytes = Array(try encoder.encode(document)) + [0x0A] } catch { throw .other("cannot encode the credentials") }
        do { try FileIO.replaceAtomically(path, with: bytes, mode: 0o600) } catch { throw .other("cannot write \(path): \(error.description)") }
        return true
    }

    static func normalized(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}
