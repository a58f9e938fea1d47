import ArgumentParser
import SecretFill
import SecretFillAPI

/// `secretfill logout`: ends the CLI token `login` stored for a server, on
/// the server and in the credentials file.
struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "End your CLI sign-in to a team server: the server refuses the token from then on, and it is removed from the credentials file.",
        discussion: """
            Afterwards, --server verbs without SECRETFILL_TOKEN or --token-file exit 77 and say to \
            run `secretfill login --server URL`. Exit codes: 0 signed out (or there was nothing to \
            end), 2 the server could not be reached or the file not written, 64 usage error.

            Example:
              secretfill logout --server https://secrets.acme.dev
            """)

    @Option(help: ArgumentHelp("The team server (default: $SECRETFILL_SERVER).", valueName: "url"))
    var server: String?
    @Option(help: ArgumentHelp("Also trust this CA (PEM) for the server's certificate (default: $SECRETFILL_CA_FILE).", valueName: "path"))
    var caFile: String?
    @Flag(help: ArgumentHelp("Allow an http:// --server that is not loopback (the token then crosses the network in clear)."))
    var insecureHTTP = false

    func run() throws {
        let endpoint = try anonymousEndpoint(server: server, caFile: caFile, insecureHTTP: insecureHTTP)
        let url = endpoint.url
        let environment = processEnvironment
        let stored: String?
        do { stored = try CredentialsFile.storedToken(for: url, environment: environment) } catch { throw fail(error) }
        guard let stored else {
            print("Not signed in to \(url): the credentials file holds no token for it")
            return
        }
        var ended = "ended on the server"
        do {
            try withClient(ServerEndpoint(url: url, token: stored, caFile: endpoint.caFile, plainHTTPToRemoteHost: endpoint.plainHTTPToRemoteHost),
                           mapping: { failure in if case .refused = failure { return Exit.refused } else { return nil } }) { client in
                try await client.logout()
            }
        } catch let exit as ExitCode where exit == Exit.refused {
            // The server no longer takes it (expired, ended, or the person is no member): nothing more to end there.
            ended = "no longer accepted by the server"
        }
        do { _ = try CredentialsFile.remove(for: url, environment: environment) } catch { throw fail(error) }
        print("Signed out of \(url): the CLI token was \(ended) and removed from the credentials file")
    }
}

/// `secretfill whoami`: who the server takes this CLI to be.
struct WhoamiCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Show who a team server takes you to be: the person, key or role, how they signed in, their grants and when the token expires.",
        discussion: """
            The token is the one every --server verb would use: --token-file, SECRETFILL_TOKEN, \
            SECRETFILL_TOKEN_FILE, a CI role's OIDC token, else what `secretfill login` stored. \
            Exit codes: 0, 2 the server could not be reached, 64 usage error, 77 no token or one the \
            server refuses (expired, ended by logout, a person no longer a member).

            Example:
              secretfill whoami --server https://secrets.acme.dev
            """)

    @Option(help: ArgumentHelp("text (the default) or json.", valueName: "format"))
    var format: String = "text"
    @OptionGroup var serverOptions: ServerOptions

    func validate() throws {
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
    }

    func run() throws {
        guard let endpoint = try serverOptions.endpoint() else { throw fail("give --server URL (or set SECRETFILL_SERVER)", Exit.usage) }
        let answer = try withClient(endpoint) { try await $0.whoami() }
        if format == "json" {
            var fields = ["\"actor\": \(JSONText.quoted(answer.actor))"]
            if let via = answer.via { fields.append("\"via\": \(JSONText.quoted(via))") }
            fields.append("\"grants\": [" + answer.grants.map(JSONText.quoted).joined(separator: ", ") + "]")
            if let expires = answer.expiresAt { fields.append("\"expiresAt\": \(JSONText.quoted(expires))") }
            print("{" + fields.joined(separator: ", ") + "}")
            return
        }
        print(answer.actor + (answer.via.map { " (signed in with \($0))" } ?? ""))
        print("grants: " + (answer.grants.isEmpty ? "(none)" : answer.grants.joined(separator: " ")))
        print("expires: " + (answer.expiresAt ?? "never"))
    }
}
