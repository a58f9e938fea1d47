import ArgumentParser
import SecretFill
import SecretFillAPI

package struct ServeCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the team server: the store in PostgreSQL or SQLite, API keys, an audit log.",
        discussion: """
            Values are sealed with the store key (SECRETFILL_KEY, SECRETFILL_KEY_FILE or the \
            default key file; or --key-pkcs11, else SECRETFILL_KEY_PKCS11, for a key kept in an \
            HSM); the database holds \
            ciphertext and token digests only. A \
            non-loopback --listen needs --tls-cert and --tls-key, or --insecure-http. SIGTERM, \
            SIGINT or SIGQUIT stops accepting, finishes requests in flight (up to 10 s) and exits 0. \
            SIGHUP reads --tls-cert and --tls-key again: new connections get the new pair, open \
            ones keep theirs; a pair that cannot be used is refused in the log and the old one kept. \
            A request's head must arrive within 10 s of its first byte, and an idle connection \
            is closed after 60 s.

            Examples:
              secretfill serve --database postgres://secretfill@db.internal/secretfill
              secretfill serve --listen 0.0.0.0:8470 --tls-cert cert.pem --tls-key key.pem
              secretfill serve --metrics-listen 127.0.0.1:9470 --log-format json
              secretfill serve --oidc-issuer https://login.acme.dev --oidc-client-id secretfill \\
                --oidc-client-secret-file oidc-secret --oidc-name "Acme SSO" --public-url https://secrets.acme.dev
              secretfill keys create admin --grant admin --database sqlite:server.db
            """)

    @Option(help: ArgumentHelp(
        "postgres://USER[:PASSWORD]@HOST[:PORT]/DB or sqlite:PATH (default: $SECRETFILL_DATABASE_URL, else sqlite: server.db beside the default store).",
        valueName: "url"))
    package var database: String?

    @Option(name: .customLong("key-pkcs11"), help: ArgumentHelp(PKCS11Help.key, valueName: "spec"))
    package var keyPKCS11: String?

    @Option(help: ArgumentHelp("Address to listen on (port 0 picks a free one).", valueName: "host:port"))
    package var listen: String = "127.0.0.1:8470"

    @Option(help: ArgumentHelp("TLS certificate chain (PEM).", valueName: "file"))
    package var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM).", valueName: "file"))
    package var tlsKey: String?

    @Flag(help: "Allow plain HTTP on a non-loopback address (prints a warning).")
    package var insecureHTTP = false

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    package var logLevel: String = "info"

    @Option(help: ArgumentHelp("text (the default: one line per event) or json (one JSON object a line: time, level, message and a request's fields).",
                               valueName: "format"))
    package var logFormat: String = "text"

    @Option(help: ArgumentHelp(
        "Serve /metrics (Prometheus text format) on this address; off by default. Loopback only, unless --tls-cert is given: then with TLS and the same certificate.",
        valueName: "host:port"))
    package var metricsListen: String?

    @Option(help: ArgumentHelp(
        "Requests a second per API key (per client address for requests no key was accepted for yet); over it: 429 with Retry-After. 0: no limit.",
        valueName: "n"))
    package var rateLimit: Int = 200

    @Option(help: ArgumentHelp(
        "Connections open at once; one more is accepted and closed at once (default: the descriptor limit, raised to its hard maximum, less 128).",
        valueName: "n"))
    package var maxConnections: Int?

    @Option(help: ArgumentHelp(
        "This team's id on the Paperspace routes the gradient CLI uses: a request with another teamId is refused with 404 (default: any teamId is this team's).",
        valueName: "id"))
    package var teamId: String?

    @Option(help: ArgumentHelp(
        "People sign in to the pages through this OpenID Connect issuer (https; plain http only on loopback), compared exactly as given (default: $SECRETFILL_OIDC_ISSUER). Needs --oidc-client-id and --oidc-client-secret-file.",
        valueName: "url"))
    package var oidcIssuer: String?

    @Option(help: ArgumentHelp("The client id this server is registered under at the issuer (default: $SECRETFILL_OIDC_CLIENT_ID).", valueName: "id"))
    package var oidcClientId: String?

    @Option(help: ArgumentHelp(
        "A file holding the client secret: yours, mode 0600, one trailing newline dropped (default: $SECRETFILL_OIDC_CLIENT_SECRET_FILE).",
        valueName: "file"))
    package var oidcClientSecretFile: String?

    @Option(help: ArgumentHelp("The sign-in button's words: \"Sign in with NAME\" (default: $SECRETFILL_OIDC_NAME, else single sign-on).", valueName: "name"))
    package var oidcName: String?

    @Option(help: ArgumentHelp(
        "The address people's browsers reach this server at (behind a proxy); the redirect URI to register at the issuer is PUBLIC_URL/ui/oidc/callback (default: $SECRETFILL_PUBLIC_URL, else the --listen address).",
        valueName: "url"))
    package var publicUrl: String?

    @Option(help: ArgumentHelp(
        "The ID token claim that lists a person's groups; members named group:NAME then count for everyone in NAME (default: $SECRETFILL_OIDC_GROUPS_CLAIM, else none).",
        valueName: "claim"))
    package var oidcGroupsClaim: String?

    @Option(help: ArgumentHelp("The longest CLI token `secretfill login --ttl` may ask for (default 24h).", valueName: "duration"))
    package var maxCliTtl: String = "24h"

    @Flag(help: "The pages take no API key (people sign in through --oidc-issuer only); programs keep their keys on the API.")
    package var noKeySignIn = false

    package func validate() throws {
        if let teamId, teamId.isEmpty || teamId.utf8.count > 128 || !teamId.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw ValidationError("--team-id must be 1 to 128 printable characters without spaces")
        }
        guard rateLimit >= 0 else { throw ValidationError("--rate-limit must be 0 (no limit) or more requests a second") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
        guard DurationText.seconds(maxCliTtl) != nil else { throw ValidationError("--max-cli-ttl: \(DurationText.ruleDescription)") }
    }

    package init() {}

    /// The server itself is in `secretfill-team`, which this command is
    /// handed to before it runs.
    package func run() throws {
        try TeamComponents.required().serve(self)
    }
}
