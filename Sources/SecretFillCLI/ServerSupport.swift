import ArgumentParser
import Dispatch
import SecretFill
import SecretFillAPI

extension Exit {
    /// The team server's access control refused (key unknown, revoked, expired, or missing a grant).
    static let refused = ExitCode(77)
}

func fail(_ error: ClientFailure) -> ExitCode {
    switch error {
    case .refused(let m): fail(m, Exit.refused)
    case .invalid(let m): fail(m, Exit.usage)
    case .unavailable(let m), .notFound(let m), .other(let m): fail(m, Exit.failure)
    }
}

/// `--server`, `--token-file`, `--ca-file` and `--insecure-http`, with what
/// they mean: one definition for `StoreOptions` (verbs that work on the file
/// or a server) and `ServerOptions` (keys and audit, on a server or a database).
protocol ServerChoosing {
    var server: String? { get }
    var tokenFile: String? { get }
    var caFile: String? { get }
    var insecureHTTP: Bool { get }
    var oidcTokenFile: String? { get }
}

extension ServerChoosing {
    static func serverHelp(_ insteadOf: String) -> ArgumentHelp {
        ArgumentHelp("A team server (`secretfill serve`) instead of \(insteadOf) (default: $SECRETFILL_SERVER).", valueName: "url")
    }
    static var tokenFileHelp: ArgumentHelp {
        ArgumentHelp("Read the API key from this file (mode 0600); default: $SECRETFILL_TOKEN, else the file $SECRETFILL_TOKEN_FILE.", valueName: "path")
    }
    static var caFileHelp: ArgumentHelp {
        ArgumentHelp("Also trust this CA (PEM) for the server's certificate (default: $SECRETFILL_CA_FILE).", valueName: "path")
    }
    static var insecureHTTPHelp: ArgumentHelp {
        ArgumentHelp("Allow an http:// --server that is not loopback (the API key then crosses the network in clear; a warning says so).")
    }
    static var oidcTokenFileHelp: ArgumentHelp {
        ArgumentHelp("With SECRETFILL_ROLE and no API key: the CI job's OIDC token in this file, exchanged once for the role's short-lived token (default: $SECRETFILL_OIDC_TOKEN; refused: exit 77).", valueName: "path")
    }

    /// Whether a server is asked for (checked later, by `endpoint()`).
    var asksForServer: Bool { ServerEndpoint.requestedURL(server: server, environment: processEnvironment) != nil }

    /// The options (with `SECRETFILL_SERVER` and `SECRETFILL_TOKEN`) as an
    /// endpoint, or nil when no server is asked for.
    func endpoint() throws -> ServerEndpoint? {
        let endpoint: ServerEndpoint?
        do {
            endpoint = try ServerEndpoint.resolve(server: server, tokenFile: tokenFile, caFile: caFile, insecureHTTP: insecureHTTP,
                                                  oidcTokenFile: oidcTokenFile, environment: processEnvironment)
        } catch {
            throw fail(error)
        }
        if let endpoint, endpoint.plainHTTPToRemoteHost {
            Terminal.warn("secretfill: warning: --insecure-http: the API key and the values go to \(endpoint.url) over plain HTTP, unencrypted")
        }
        return endpoint
    }
}

/// The server options alone, for `keys`, `roles` and `audit` (which otherwise work on a database).
struct ServerOptions: ParsableArguments, ServerChoosing {
    @Option(help: ServerOptions.serverHelp("the local store"))
    var server: String?

    @Option(help: ServerOptions.tokenFileHelp)
    var tokenFile: String?

    @Option(help: ServerOptions.caFileHelp)
    var caFile: String?

    @Flag(help: ServerOptions.insecureHTTPHelp)
    var insecureHTTP = false

    @Option(help: ServerOptions.oidcTokenFileHelp)
    var oidcTokenFile: String?
}

/// Holds an async call's outcome for the thread that waits for it.
private final class Outcome<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs async work from a synchronous command and waits for it. Only the
/// server and client paths use it: a local render starts no event loop.
package func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = Outcome<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { outcome.result = .success(try await body()) } catch { outcome.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome.result!.get()
}

/// Runs `body` with a client for `endpoint`, shut down afterwards; client
/// failures become the documented message and exit status.
func withClient<T: Sendable>(_ endpoint: ServerEndpoint, mapping: (ClientFailure) -> ExitCode? = { _ in nil },
                             _ body: @escaping @Sendable (any TeamService) async throws -> T) throws -> T {
    let components = try TeamComponents.required()
    return try using({ try components.connect(endpoint) }, shutdown: { await $0.shutdown() }, mapping: mapping, body)
}

/// `keys` and `audit`: through the server when one is given (and no
/// `--database`), else straight to the database `serve` uses (`--database`,
/// else `SECRETFILL_DATABASE_URL`, else server.db beside the default store).
func withAdministration<T: Sendable>(_ options: ServerOptions, database: String?,
                                     _ body: @escaping @Sendable (any TeamAdministration) async throws -> T) throws -> T {
    if database == nil, let endpoint = try options.endpoint() {
        return try withClient(endpoint, body)
    }
    let components = try TeamComponents.required()
    return try using({ try await components.administer(database) }, shutdown: { await $0.shutdown() }, mapping: { _ in nil }, body)
}

/// Opens a service, runs `body` with it and shuts it down whatever happens,
/// waiting for the outcome; client failures become their message and exit status.
private func using<Service: Sendable, T: Sendable>(_ open: @escaping @Sendable () async throws -> Service,
                                                   shutdown: @escaping @Sendable (Service) async -> Void, mapping: (ClientFailure) -> ExitCode?,
                                                   _ body: @escaping @Sendable (Service) async throws -> T) throws -> T {
    do {
        return try runBlocking {
            let service = try await open()
            do {
                let result = try await body(service)
                await shutdown(service)
                return result
            } catch {
                await shutdown(service)
                throw error
            }
        }
    } catch let error as ClientFailure {
        throw mapping(error) ?? fail(error)
    }
}

extension JSONText {
    static func optional(_ text: String?) -> String { text.map(JSONText.quoted) ?? "null" }
}
