import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import SecretFill
import SecretFillAPI
import SecretFillCLI
import SecretFillClient
import SecretFillJWT
import SecretFillPKCS11
import SecretFillServer

/// The networking parts the CLI library leaves out: the HTTP client, the
/// server, and direct access to the server's database for the first key.
enum TeamWiring {
    static let components = TeamComponents(
        connect: { (endpoint: ServerEndpoint) throws(ClientFailure) -> any TeamService in try TeamClient(endpoint) },
        serve: TeamWiring.serve,
        administer: TeamWiring.administer,
        backup: TeamWiring.backup,
        restore: TeamWiring.restore,
        rekey: TeamWiring.rekey)

    /// The store key, as serve reads it, for backup, restore and rekey: in the
    /// token `pkcs11` names, else the key file.
    static func storeKey(pkcs11: PKCS11Choice?) throws -> ServerStoreKey {
        if let pkcs11 { return .token(try tokenKey(pkcs11.spec, option: pkcs11.origin)) }
        do {
            return .file(try StoreConfiguration.resolve(storeOption: nil, environment: processEnvironment).loadKey())
        } catch .keyMissing {
            throw fail("no store key: a backup is sealed and checked with the key the database was sealed with; put it in the key file, or set SECRETFILL_KEY_FILE or SECRETFILL_KEY", Exit.failure)
        } catch {
            throw fail(error)
        }
    }

    /// The key in the token of `text` (`module=PATH;token=LABEL;key=LABEL`), logged in with
    /// SECRETFILL_PKCS11_PIN. A malformed spec is bad usage (64); a token or key that cannot be used, 2.
    static func tokenKey(_ text: String, option: String, format: LogFormat = .text) throws -> PKCS11Key {
        let refuse = { (message: String, code: ExitCode) -> ExitCode in
            guard format == .json else { return fail(message, code) }
            JSONLogHandler.write(level: .error, message: "secretfill: error: \(message)")
            return code
        }
        do {
            return try PKCS11Choice.openKey(text, origin: option)
        } catch {
            if case .keyChoice = error { throw refuse(error.description, Exit.usage) }
            throw refuse(error.description, Exit.failure)
        }
    }

    static func backup(_ database: String?, _ file: String, _ audit: Bool, _ keyPKCS11: PKCS11Choice?) throws -> String {
        let location = try databaseLocation(database)
        let key = try storeKey(pkcs11: keyPKCS11)
        // A progress line every 5000 rows, on a terminal only (a large database takes a while).
        let progress: (@Sendable (Int) -> Void)? = isatty(2) == 1 ? { @Sendable (rows: Int) in
            if rows % 5000 == 0 { Terminal.warn("secretfill: backup: \(rows) rows…") }
        } : nil
        do {
            let summary: ServerBackup.Summary = try runBlocking {
                try await ServerBackup.backup(location, key: key, to: file, audit: audit, progress: progress)
            }
            return describe(summary)
        } catch {
            throw fail("backup of \(location) failed, nothing was written: \(ErrorWords.describe(error))", Exit.failure)
        }
    }

    static func restore(_ database: String?, _ file: String, _ keyPKCS11: PKCS11Choice?) throws -> String {
        let location = try databaseLocation(database)
        let key = try storeKey(pkcs11: keyPKCS11)
        do {
            return describe(try runBlocking { try await ServerBackup.restore(location, key: key, from: file) })
        } catch {
            throw fail("restore into \(location) failed, nothing was written: \(ErrorWords.describe(error))", Exit.failure)
        }
    }

    static func rekey(_ request: RekeyCommand.Request) throws -> String {
        let location = try databaseLocation(request.database)
        if request.status {
            do {
                return try runBlocking { try await DatabaseRekey.status(location) }
            } catch {
                throw fail("cannot read the rotation's state from \(location): \(ErrorWords.describe(error))", Exit.failure)
            }
        }
        let key = try storeKey(pkcs11: request.keyPKCS11)
        // On a terminal, a progress line at each 5000 values (a large database takes a while).
        let progress: (@Sendable (Int, Int) -> Void)? = isatty(2) == 1 ? { @Sendable (seen: Int, total: Int) in
            if seen % 5000 == 0 || seen == total { Terminal.warn("secretfill: rekey: \(seen) of \(total) values…") }
        } : nil
        if request.newKeyFile != nil || request.newKeyPKCS11 != nil {
            let newKey: ServerStoreKey
            let start: String
            if let spec = request.newKeyPKCS11 {
                let token = try tokenKey(spec, option: "--new-key-pkcs11")
                newKey = .token(token)
                start = "with --key-pkcs11 '\(TerminalText.escaped(token.spec.description))' (the PIN in SECRETFILL_PKCS11_PIN)"
            } else {
                let file = request.newKeyFile!
                newKey = .file(try RekeyCommand.newKey(file: file, generate: request.generate))
                start = "with the key in \(TerminalText.escaped(file)) (SECRETFILL_KEY_FILE)"
            }
            do {
                let outcome = try runBlocking { try await DatabaseRekey.rewrap(location, current: key, new: newKey, progress: progress) }
                return "\(outcome.summary). Servers running now keep serving; start servers from now on \(start)."
            } catch {
                throw fail("rekey of \(location) failed, nothing was changed (run it again to finish): \(ErrorWords.describe(error))", Exit.failure)
            }
        }
        do {
            return try runBlocking { try await DatabaseRekey.rotateData(location, key: key, progress: progress) }.summary
        } catch {
            throw fail("rekey --data of \(location) stopped: \(ErrorWords.describe(error)). Every value still opens; run the same command again to finish", Exit.failure)
        }
    }

    /// `3 secrets, 12 versions, 2 keys, 40 audit entries (schema 3)`.
    static func describe(_ summary: ServerBackup.Summary) -> String {
        let words = ["secrets": "secret(s)", "secret_versions": "version(s)", "api_keys": "key(s)", "members": "member(s)",
                     "data_keys": "data key(s)", "audit_log": "audit entr(y/ies)"]
        let parts = summary.rows.compactMap { row in words[row.table].map { "\(row.count) \($0)" } }
        return parts.joined(separator: ", ") + " (schema \(summary.schema))"
    }

    static func serve(_ command: ServeCommand) throws {
        let format = LogFormat(rawValue: command.logFormat) ?? .text
        // Under --log-format json every line serve writes is a JSON object, its refusals too.
        func refuse(_ message: String, _ code: ExitCode) -> ExitCode {
            guard format == .json else { return fail(message, code) }
            JSONLogHandler.write(level: .error, message: "secretfill: error: \(message)")
            return code
        }
        guard let level = Logger.Level(rawValue: command.logLevel) else {
            throw refuse("--log-level must be one of trace, debug, info, notice, warning, error, critical", Exit.usage)
        }
        let location = try databaseLocation(command.database, format: format)
        let listenAt: (host: String, port: Int)
        do { listenAt = try Listen.parse(command.listen) } catch { throw refuse(error.description, Exit.usage) }
        var metricsAt: (host: String, port: Int)?
        if let text = command.metricsListen {
            do { metricsAt = try Listen.parse(text, option: "--metrics-listen") } catch { throw refuse(error.description, Exit.usage) }
        }
        let key: ServerStoreKey
        let pkcs11: PKCS11Choice?
        do { pkcs11 = try PKCS11Choice.choose(option: command.keyPKCS11, environment: processEnvironment) } catch { throw refuse(error.description, Exit.usage) }
        if let pkcs11 {
            key = .token(try tokenKey(pkcs11.spec, option: pkcs11.origin, format: format))
        } else {
            do {
                key = .file(try StoreConfiguration.resolve(storeOption: nil, environment: processEnvironment).loadKey())
            } catch .keyMissing(let path) {
                throw refuse("no store key: the server seals values with one. Create it with `secretfill init --key-only` (it writes \(path)), or set SECRETFILL_KEY_FILE or SECRETFILL_KEY", Exit.failure)
            } catch {
                throw format == .json ? refuse(error.description, Exit.failure) : fail(error)
            }
        }
        let singleSignOn: SingleSignOnOptions?
        do { singleSignOn = try singleSignOnOptions(command) } catch { throw refuse(error.description, Exit.usage) }
        if command.noKeySignIn, singleSignOn == nil {
            throw refuse("--no-key-sign-in needs --oidc-issuer: without it nobody could sign in to the pages", Exit.usage)
        }
        bootstrapLogging(format)
        var serveOptions = ServeOptions(database: location, host: listenAt.host, port: listenAt.port, tlsCertificate: command.tlsCert,
                                   tlsKey: command.tlsKey, insecureHTTP: command.insecureHTTP, logLevel: level,
                                   rateLimit: command.rateLimit, maximumConnections: command.maxConnections,
                                   metricsListen: metricsAt, logFormat: format, teamID: command.teamId)
        serveOptions.singleSignOn = singleSignOn
        serveOptions.keySignIn = !command.noKeySignIn
        serveOptions.maxCLITTL = DurationText.seconds(command.maxCliTtl) ?? ServerStore.defaultMaxCLITTL
        let options = serveOptions
        TeamServer.takeOverConcurrencyPool(environment: processEnvironment)
        do {
            try runBlocking { try await TeamServer.serve(options, key: key) }
        } catch let error as ServeRefusal {
            throw refuse(error.description, Exit.failure)
        } catch {
            throw refuse("the server stopped: \(ErrorWords.describe(error))", Exit.failure)
        }
    }

    /// `--oidc-*` and `--public-url`, each option before its `SECRETFILL_…`
    /// variable; nil when no issuer is given. The client secret file is read
    /// here, by the key file's rules.
    static func singleSignOnOptions(_ command: ServeCommand) throws(ServeRefusal) -> SingleSignOnOptions? {
        let environment = processEnvironment
        func value(_ option: String?, _ variable: String) -> String? {
            option ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        let issuer = value(command.oidcIssuer, "SECRETFILL_OIDC_ISSUER")
        let clientID = value(command.oidcClientId, "SECRETFILL_OIDC_CLIENT_ID")
        let secretFile = value(command.oidcClientSecretFile, "SECRETFILL_OIDC_CLIENT_SECRET_FILE")
        let name = value(command.oidcName, "SECRETFILL_OIDC_NAME")
        let publicURL = value(command.publicUrl, "SECRETFILL_PUBLIC_URL")
        let groupsClaim = value(command.oidcGroupsClaim, "SECRETFILL_OIDC_GROUPS_CLAIM")
        guard let issuer else {
            if clientID != nil || secretFile != nil || name != nil || groupsClaim != nil {
                throw ServeRefusal("--oidc-client-id, --oidc-client-secret-file, --oidc-name and --oidc-groups-claim need --oidc-issuer")
            }
            return nil
        }
        do { try JWKSCache.requireSecure(issuer, what: "--oidc-issuer") } catch {
            throw ServeRefusal("--oidc-issuer must be an https URL (plain http only on a loopback address: 127.0.0.1, [::1] or localhost), not \(JWTRefusal.shown(issuer))")
        }
        guard let clientID, !clientID.isEmpty else { throw ServeRefusal("--oidc-issuer needs --oidc-client-id (the client id registered at the issuer)") }
        guard clientID.utf8.count <= 256, clientID.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw ServeRefusal("--oidc-client-id must be printable ASCII, at most 256 characters")
        }
        guard let secretFile else { throw ServeRefusal("--oidc-issuer needs --oidc-client-secret-file (a file holding the client secret, mode 0600)") }
        var bytes: [UInt8]
        do {
            bytes = try ServerEndpoint.readPrivateFile(secretFile, what: "the client secret file", contents: "the client secret")
        } catch {
            throw ServeRefusal(error.description)
        }
        if bytes.last == 0x0A { bytes.removeLast(); if bytes.last == 0x0D { bytes.removeLast() } }
        guard !bytes.isEmpty, let secret = String(validating: bytes, as: UTF8.self) else {
            throw ServeRefusal("the client secret file \(secretFile) is empty or not UTF-8 text")
        }
        if let name, name.isEmpty || name.utf8.count > 64 || !name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) {
            throw ServeRefusal("--oidc-name must be 1 to 64 printable characters")
        }
        if let groupsClaim, groupsClaim.isEmpty || groupsClaim.utf8.count > 128 || !groupsClaim.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw ServeRefusal("--oidc-groups-claim must be a claim name: 1 to 128 printable characters without spaces")
        }
        if let publicURL {
            let rest = publicURL.hasPrefix("https://") ? publicURL.dropFirst(8) : publicURL.hasPrefix("http://") ? publicURL.dropFirst(7) : nil
            guard let rest, !rest.isEmpty, !rest.hasPrefix("/"), !rest.contains("?"), !rest.contains("#"),
                  rest.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw ServeRefusal("--public-url must be http:// or https:// and a host (and port, and path), without ?query or #fragment: for example https://secrets.acme.dev")
            }
        }
        return SingleSignOnOptions(issuer: issuer, clientID: clientID, clientSecret: secret, name: name ?? "single sign-on",
                                   publicURL: publicURL, groupsClaim: groupsClaim)
    }

    static func administer(_ database: String?) async throws -> any TeamAdministration {
        let location = try databaseLocation(database)
        do {
            return try await DatabaseAdministration.open(location)
        } catch let error as ServeRefusal {
            throw fail(error.description, Exit.failure)
        } catch {
            throw fail("cannot use the database \(location): \(ErrorWords.describe(error))", Exit.failure)
        }
    }

    /// `--database`, else `SECRETFILL_DATABASE_URL`, else the default SQLite file.
    static func databaseLocation(_ option: String?, format: LogFormat = .text) throws -> DatabaseLocation {
        let environment = processEnvironment
        guard let text = option ?? environment["SECRETFILL_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            // The default file's folder is the store's: made as `init` makes it (0700) when missing.
            let location = DatabaseLocation.defaultLocation(environment: environment)
            let folder = StoreConfiguration.defaultDirectory(environment: environment)
            try? FileIO.makeDirectories(folder)
            return location
        }
        let parsed: DatabaseLocation
        do {
            parsed = try DatabaseLocation(parsing: text)
        } catch {
            guard format == .json else { throw fail(error.description, Exit.usage) }
            JSONLogHandler.write(level: .error, message: "secretfill: error: \(error.description)")
            throw Exit.usage
        }
        // No password in the URL: PGPASSWORD, else ~/.pgpass (or PGPASSFILE), as libpq reads them.
        let filled = PostgresPassword.fill(parsed, environment: environment)
        for warning in filled.warnings {
            if format == .json {
                JSONLogHandler.write(level: .warning, message: "secretfill: warning: \(warning)")
            } else {
                Terminal.warn("secretfill: warning: \(warning)")
            }
        }
        return filled.location
    }

    /// Every logger writes through one handler: swift-log's stream lines,
    /// or JSON objects (`--log-format json`). Called once, by `serve`.
    static func bootstrapLogging(_ format: LogFormat) {
        LoggingSystem.bootstrap { label in
            if format == .json { return JSONLogHandler(label: label) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
    }
}
