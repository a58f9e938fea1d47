import ArgumentParser
import Logging
import SecretFill
import SecretFillServer

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the team server: the store in PostgreSQL or SQLite, API keys, an audit log.",
        discussion: """
            Values are sealed with the store key (SECRETFILL_KEY, SECRETFILL_KEY_FILE or the \
            default key file); the database holds ciphertext and token digests only. A \
            non-loopback --listen needs --tls-cert and --tls-key, or --insecure-http. SIGTERM or \
            SIGINT stops accepting, finishes requests in flight (up to 10 s) and exits 0.

            Examples:
              secretfill serve --database postgres://secretfill@db.internal/secretfill
              secretfill serve --listen 0.0.0.0:8470 --tls-cert cert.pem --tls-key key.pem
              secretfill keys create admin --grant admin --database sqlite:server.db
            """)

    @Option(help: ArgumentHelp(
        "postgres://USER[:PASSWORD]@HOST[:PORT]/DB or sqlite:PATH (default: $SECRETFILL_DATABASE_URL, else sqlite: server.db beside the default store).",
        valueName: "url"))
    var database: String?

    @Option(help: ArgumentHelp("Address to listen on (port 0 picks a free one).", valueName: "host:port"))
    var listen: String = "127.0.0.1:8470"

    @Option(help: ArgumentHelp("TLS certificate chain (PEM).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM).", valueName: "file"))
    var tlsKey: String?

    @Flag(help: "Allow plain HTTP on a non-loopback address (prints a warning).")
    var insecureHTTP = false

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw fail("--log-level must be one of trace, debug, info, notice, warning, error, critical", Exit.usage)
        }
        let location = try databaseLocation(database)
        let listenAt: (host: String, port: Int)
        do { listenAt = try Listen.parse(listen) } catch { throw fail(error.description, Exit.usage) }
        let key: StoreKey
        do {
            key = try StoreConfiguration.resolve(storeOption: nil, environment: processEnvironment).loadKey()
        } catch {
            throw fail(error)
        }
        bootstrapLogging()
        let options = ServeOptions(database: location, host: listenAt.host, port: listenAt.port, tlsCertificate: tlsCert,
                                   tlsKey: tlsKey, insecureHTTP: insecureHTTP, logLevel: level)
        do {
            try runBlocking { try await TeamServer.serve(options, key: key) }
        } catch let error as ServeRefusal {
            throw fail(error.description, Exit.failure)
        } catch {
            throw fail("the server stopped: \(type(of: error))", Exit.failure)
        }
    }
}

/// `--database`, else `SECRETFILL_DATABASE_URL`, else the default SQLite file.
func databaseLocation(_ option: String?) throws -> DatabaseLocation {
    let environment = processEnvironment
    guard let text = option ?? environment["SECRETFILL_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 }) else {
        return DatabaseLocation.defaultLocation(environment: environment)
    }
    do { return try DatabaseLocation(parsing: text) } catch { throw fail(error.description, Exit.usage) }
}

private let loggingOnce: Void = {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .trace
        return handler
    }
}()

func bootstrapLogging() { _ = loggingOnce }
