import ArgumentParser
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
        abstract: "Exchange a CI job's OIDC token for a role's short-lived token and store it for this server.",
        discussion: """
            The token is stored per server URL in $XDG_CONFIG_HOME/secretfill/credentials (else \
            ~/.config/secretfill/credentials; folder 0700, file 0600), and later --server verbs \
            use it when neither SECRETFILL_TOKEN nor --token-file is given. Nothing is printed \
            but where it was stored and when it expires; never a token.

            Exit codes: 0 stored, 2 the server could not be reached or the file not written, \
            64 usage error, 77 the server refused the OIDC token (the message names the failed \
            check: issuer, audience, expiry, a bound claim...).

            Example (GitHub Actions):
              secretfill login --role gh-main --oidc-token-file "$RUNNER_TEMP/oidc" --server https://secrets.acme.dev
            """)

    @Option(help: ArgumentHelp("The role to sign in as.", valueName: "name"))
    var role: String
    @Option(help: ArgumentHelp("The job's OIDC token (a JWT) in this file, mode 0600.", valueName: "path"))
    var oidcTokenFile: String
    @Option(help: ArgumentHelp("The team server (default: $SECRETFILL_SERVER).", valueName: "url"))
    var server: String?
    @Option(help: ArgumentHelp("Also trust this CA (PEM) for the server's certificate (default: $SECRETFILL_CA_FILE).", valueName: "path"))
    var caFile: String?
    @Flag(help: ArgumentHelp("Allow an http:// --server that is not loopback (the tokens then cross the network in clear)."))
    var insecureHTTP = false

    func run() throws {
        guard KeyName.isValid(role) else { throw fail(RoleDraft.nameRule, Exit.usage) }
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
}
