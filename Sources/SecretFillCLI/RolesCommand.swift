import ArgumentParser
import Foundation
import SecretFill
import SecretFillAPI

struct RolesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roles",
        abstract: "Create, list and delete OIDC roles: CI jobs sign in with their platform's OIDC token (admin; through --server, or straight to serve's database).",
        discussion: """
            A role accepts an OIDC token (a JWT) from one issuer when its signature verifies with \
            the issuer's keys (RS, PS, ES and EdDSA; never none or HMAC), iss is the issuer, aud \
            names one of the role's audiences, sub is present, exp and iat are present, and exp, \
            nbf and iat hold with 60 s of leeway; every --bound-claim must match (a PATTERN is an \
            exact string or a glob where * matches any run of characters, the empty run included; \
            a list claim matches when any string element does) and --bound-subject must equal sub. \
            The job then gets a short-lived token with the role's grants for --ttl (POST \
            /v1/auth/oidc; `secretfill login`, or SECRETFILL_ROLE with SECRETFILL_OIDC_TOKEN).

            Keys come from ISSUER/.well-known/openid-configuration (https, except on loopback), \
            fetched when first needed and again when a token names an unknown kid (at most once \
            per 10 s), or from --jwks-file for an issuer the server cannot reach. \
            `roles delete` ends every token the role issued: at once on that server, within a \
            second on the others.

            Exit codes: 0 success, 2 the server or the database failed or there is no such role, \
            64 usage error, 77 the server refused the key (not an admin key).

            Examples:
              secretfill roles create gh-main --issuer https://token.actions.githubusercontent.com \\
                --audience https://github.com/acme --bound-claim repository=acme/api \\
                --bound-claim ref=refs/heads/main --grant project:pr-1:read --grant team:read --ttl 15m
              secretfill roles create gitlab-main --issuer https://gitlab.com --audience secretfill \\
                --bound-claim 'project_path=acme/*' --bound-claim ref=main --grant project:pr-1:read --grant team:read
              secretfill roles list --format json
              secretfill roles delete gh-main
            """,
        subcommands: [Create.self, List.self, Delete.self])
}

extension RolesCommand {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a role.")

        @Argument(help: ArgumentHelp("The role's name: [A-Za-z_][A-Za-z0-9_.-]*.", valueName: "name"))
        var name: String
        @Option(help: ArgumentHelp("The issuer, exactly as the tokens' iss claim says it.", valueName: "url"))
        var issuer: String
        @Option(name: .customLong("audience"), help: ArgumentHelp("An accepted aud value (repeatable; at least one).", valueName: "aud"))
        var audiences: [String] = []
        @Option(name: .customLong("bound-claim"), help: ArgumentHelp("A claim that must match a pattern, * matching any run (repeatable).", valueName: "claim=pattern"))
        var boundClaims: [String] = []
        @Option(help: ArgumentHelp("sub must be exactly this.", valueName: "subject"))
        var boundSubject: String?
        @Option(name: .customLong("grant"), help: ArgumentHelp("A grant of the issued tokens (repeatable), as for keys.", valueName: "grant"))
        var grants: [String] = []
        @Option(help: ArgumentHelp("How long an issued token lasts (default 15m).", valueName: "duration"))
        var ttl: String = RoleDraft.defaultTTL
        @Option(help: ArgumentHelp("The longest --ttl allowed (default 1h, at most 24h).", valueName: "duration"))
        var maxTtl: String = RoleDraft.defaultMaxTTL
        @Option(help: ArgumentHelp("The issuer's keys as a JWKS file: nothing is fetched.", valueName: "path"))
        var jwksFile: String?
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            let draft = RoleDraft(name: name, issuer: issuer, audiences: audiences, boundClaims: boundClaims, boundSubject: boundSubject,
                                  grants: grants, ttl: ttl, maxTTL: maxTtl)
            var role: RoleEntry
            do throws(RoleDraft.Problem) { role = try draft.entry() } catch { throw fail(error.description, Exit.usage) }
            if let jwksFile {
                do { role.jwks = String(decoding: try FileIO.readAll(jwksFile), as: UTF8.self) } catch { throw fail("cannot read --jwks-file: \(error.description)", Exit.failure) }
            }
            let made = role
            try withAdministration(serverOptions, database: database) { try await $0.createRole(made) }
            print("Created role '\(made.name)'")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List roles and their settings (json: an array of objects).")

        @Option(help: ListFormat.help)
        var format: ListFormat?
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            let roles = try withAdministration(serverOptions, database: database) { try await $0.listRoles() }
            func claims(_ role: RoleEntry) -> String {
                role.boundClaims.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            }
            switch ListFormat.resolved(format) {
            case .text:
                for role in roles {
                    print("\(role.name)  issuer \(role.issuer)  aud \(role.audiences.joined(separator: ","))  claims \(claims(role).isEmpty ? "-" : claims(role))  "
                        + "subject \(role.boundSubject ?? "-")  grants \(role.grants.joined(separator: ","))  ttl \(role.ttl)s  max-ttl \(role.maxTTL)s  keys \(role.jwks == nil ? "discovery" : "jwks-file")")
                }
            case .table:
                var table = TextTable("NAME", "ISSUER", "AUDIENCES", "BOUND CLAIMS", "SUBJECT", "GRANTS", "TTL", "KEYS")
                for role in roles {
                    table.add(role.name, role.issuer, role.audiences.joined(separator: ","), claims(role).isEmpty ? "-" : claims(role), role.boundSubject ?? "-",
                              role.grants.joined(separator: ","), "\(role.ttl)s/\(role.maxTTL)s", role.jwks == nil ? "discovery" : "jwks-file")
                }
                print(roles.isEmpty ? "(no roles)" : table.rendered())
            case .json:
                let items = roles.map { role in
                    "  {\"name\": \(JSONText.quoted(role.name)), \"issuer\": \(JSONText.quoted(role.issuer)), "
                        + "\"audiences\": [\(role.audiences.map(JSONText.quoted).joined(separator: ", "))], "
                        + "\"bound_claims\": {\(role.boundClaims.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)): \(JSONText.quoted($0.value))" }.joined(separator: ", "))}, "
                        + "\"bound_subject\": \(JSONText.optional(role.boundSubject)), \"grants\": [\(role.grants.map(JSONText.quoted).joined(separator: ", "))], "
                        + "\"ttl_seconds\": \(role.ttl), \"max_ttl_seconds\": \(role.maxTTL), \"keys\": \(JSONText.quoted(role.jwks == nil ? "discovery" : "jwks-file")), "
                        + "\"created\": \(JSONText.optional(role.created))}"
                }
                print(items.isEmpty ? "[]" : "[\n" + items.joined(separator: ",\n") + "\n]")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a role; every token it issued is refused from then on.")

        @Argument(help: ArgumentHelp("The role's name.", valueName: "name"))
        var name: String
        @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
        var database: String?
        @OptionGroup var serverOptions: ServerOptions

        func run() throws {
            guard KeyName.isValid(name) else { throw fail(RoleDraft.nameRule, Exit.usage) }
            let name = self.name
            try withAdministration(serverOptions, database: database) { try await $0.deleteRole(name: name) }
            print("Deleted role '\(name)'; the tokens it issued are refused from now on")
        }
    }
}

/// `secretfill login --role NAME --oidc-token-file PATH --server URL`: a CI
/// job's OIDC token exchanged once, its short-lived token stored for later
/// `--server` verbs.
struct LoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to a team server for the CLI: as yourself through its single sign-on, or as a CI role with a job's OIDC token.",
        discussion: """
            As yourself (no --role): secretfill listens on a loopback port for one redirect, \
            opens the server's sign-in address in your browser (or prints it: --no-browser, or \
            when no browser can be opened), and after you sign in through the company's identity \
            provider receives, through the server, a short-lived CLI token bound to you (--ttl, \
            default 12h, at most the server's --max-cli-ttl). The exchange uses this login's own \
            PKCE verifier, so a code that leaked is useless to anyone else. Your grants are your \
            membership's, read by the server at each request.

            As a CI role (--role with --oidc-token-file): the job's OIDC token for the role's \
            short-lived token.

            The token is stored per server URL in $XDG_CONFIG_HOME/secretfill/credentials (else \
            ~/.config/secretfill/credentials; folder 0700, file 0600), and later --server verbs \
            use it when neither SECRETFILL_TOKEN nor --token-file is given. Nothing is printed \
            but who signed in, where the token was stored and when it expires; never a token.

            Exit codes: 0 stored, 2 the server could not be reached, no sign-in arrived in time or \
            the file not written, 64 usage error (a --ttl above the server's maximum too), 77 the \
            sign-in or the OIDC token was refused (the message says why).

            Examples:
              secretfill login --server https://secrets.acme.dev
              secretfill login --server https://secrets.acme.dev --no-browser --ttl 4h
              secretfill login --role gh-main --oidc-token-file "$RUNNER_TEMP/oidc"
            """)

    @Option(help: ArgumentHelp("The CI role to sign in as (with --oidc-token-file); without it, you sign in as yourself.", valueName: "name"))
    var role: String?
    @Option(help: ArgumentHelp("The job's OIDC token (a JWT) in this file, mode 0600 (with --role).", valueName: "path"))
    var oidcTokenFile: String?
    @Option(help: ArgumentHelp("How long your CLI token lasts: 12h (the default), 30m, 1d; at most the server's --max-cli-ttl.", valueName: "duration"))
    var ttl: String?
    @Flag(help: "Print the sign-in address instead of opening a browser (on a machine without one, open it elsewhere on this machine).")
    var noBrowser = false
    @Option(help: ArgumentHelp("The team server (default: $SECRETFILL_SERVER).", valueName: "url"))
    var server: String?
    @Option(help: ArgumentHelp("Also trust this CA (PEM) for the server's certificate (default: $SECRETFILL_CA_FILE).", valueName: "path"))
    var caFile: String?
    @Flag(help: ArgumentHelp("Allow an http:// --server that is not loopback (the tokens then cross the network in clear)."))
    var insecureHTTP = false

    /// How long `login` waits for the browser's redirect.
    static let waitSeconds = 300

    func run() throws {
        guard let role else { return try signInAsPerson() }
        guard KeyName.isValid(role) else { throw fail(RoleDraft.nameRule, Exit.usage) }
        guard let oidcTokenFile else { throw fail("--role needs --oidc-token-file (the job's OIDC token); without --role you sign in as yourself", Exit.usage) }
        if ttl != nil || noBrowser { throw fail("--ttl and --no-browser are for signing in as yourself (without --role)", Exit.usage) }
        var environment = processEnvironment
        for name in ["SECRETFILL_TOKEN", "SECRETFILL_TOKEN_FILE", "SECRETFILL_OIDC_TOKEN"] { environment[name] = nil }
        environment["SECRETFILL_ROLE"] = role
        let endpoint: ServerEndpoint
        do {
            guard let resolved = try ServerEndpoint.resolve(server: server, tokenFile: nil, caFile: caFile, insecureHTTP: insecureHTTP,
                                                            oidcTokenFile: oidcTokenFile, environment: environment) else {
                throw fail("give --server URL (or set SECRETFILL_SERVER)", Exit.usage)
            }
            endpoint = resolved
        } catch let error as ClientFailure {
            throw fail(error)
        }
        guard let oidc = endpoint.oidc else { throw fail("no OIDC token was read from --oidc-token-file", Exit.usage) }
        let url = endpoint.url
        let environmentCopy = processEnvironment
        let path = try withClient(ServerEndpoint(url: endpoint.url, token: nil, caFile: endpoint.caFile, plainHTTPToRemoteHost: endpoint.plainHTTPToRemoteHost)) { client in
            let answer = try await client.exchangeOIDC(oidc)
            return (try CredentialsFile.store(CredentialsFile.Entry(token: answer.token, expiresAt: answer.expiresAt, role: oidc.role),
                                              for: url, environment: environmentCopy), answer.expiresAt)
        }
        print("Signed in to \(url) as role '\(role)' until \(path.1); the token is stored in \(path.0)")
    }

    func signInAsPerson() throws {
        if oidcTokenFile != nil { throw fail("--oidc-token-file needs --role (a CI role); without them you sign in as yourself", Exit.usage) }
        if let ttl, DurationText.seconds(ttl) == nil { throw fail("--ttl: \(DurationText.ruleDescription)", Exit.usage) }
        let endpoint = try anonymousEndpoint(server: server, caFile: caFile, insecureHTTP: insecureHTTP)
        let url = endpoint.url
        let environment = processEnvironment
        let (ttl, noBrowser) = (self.ttl, self.noBrowser)
        let answer = try withClient(endpoint) { client in
            try await client.signInAsPerson(ttl: ttl, timeoutSeconds: Self.waitSeconds) { address in
                BrowserOpener.show(address, noBrowser: noBrowser, environment: environment)
            }
        }
        let path: String
        do {
            path = try CredentialsFile.store(CredentialsFile.Entry(token: answer.token, expiresAt: answer.expiresAt, role: nil), for: url, environment: environment)
        } catch {
            throw fail(error)
        }
        print("Signed in to \(url) as \(answer.user) until \(answer.expiresAt) (grants: \(answer.grants.joined(separator: " "))); the token is stored in \(path)")
    }
}

/// `--server` (or SECRETFILL_SERVER) without any credential: `login`'s own requests.
func anonymousEndpoint(server: String?, caFile: String?, insecureHTTP: Bool) throws -> ServerEndpoint {
    var environment = processEnvironment
    for name in ["SECRETFILL_TOKEN", "SECRETFILL_TOKEN_FILE", "SECRETFILL_OIDC_TOKEN", "SECRETFILL_ROLE"] { environment[name] = nil }
    environment["XDG_CONFIG_HOME"] = nil
    environment["HOME"] = nil
    do {
        guard let resolved = try ServerEndpoint.resolve(server: server, tokenFile: nil, caFile: caFile, insecureHTTP: insecureHTTP, environment: environment) else {
            throw fail("give --server URL (or set SECRETFILL_SERVER)", Exit.usage)
        }
        return ServerEndpoint(url: resolved.url, token: nil, caFile: resolved.caFile ?? processEnvironment["SECRETFILL_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 },
                              plainHTTPToRemoteHost: resolved.plainHTTPToRemoteHost)
    } catch let error as ClientFailure {
        throw fail(error)
    }
}

/// Shows the sign-in address: in the person's browser (`xdg-open`, when a
/// display is there and `--no-browser` was not given), and always as a line
/// on stderr, which is where a person without a browser on this machine
/// finds it. The address holds no secret: the state and challenge only.
enum BrowserOpener {
    static func show(_ address: String, noBrowser: Bool, environment: [String: String]) {
        var opened = false
        let display = !(environment["DISPLAY"] ?? "").isEmpty || !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty
        if !noBrowser, display, let opener = (environment["PATH"] ?? "").split(separator: ":").map({ $0 + "/xdg-open" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: opener)
            process.arguments = [address]
            // The browser gets no secretfill variable (a child inherits the environment).
            process.environment = environment.filter { !$0.key.hasPrefix("SECRETFILL_") }
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            opened = (try? process.run()) != nil
        }
        let lead = opened ? "Your browser was opened to sign in; if it was not, open" : "Open this address in a browser on this machine to sign in"
        Terminal.warn("\(lead):")
        Terminal.warn("  \(address)")
        Terminal.warn("Waiting up to \(LoginCommand.waitSeconds / 60) minutes for the sign-in...")
    }
}
