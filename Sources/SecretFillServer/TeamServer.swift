import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SecretFill
import SecretFillPKCS11
import SecretFillAPI
import SecretFillJWT
import SecretFillWebUI
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `secretfill serve` was asked to do.
public struct ServeOptions: Sendable {
    public var database: DatabaseLocation
    public var host: String
    public var port: Int
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var insecureHTTP: Bool
    public var logLevel: Logger.Level
    /// Requests per second per key (per client address before a key is accepted); 0: no limit.
    public var rateLimit: Int
    /// Connections open at once; nil: derived from the descriptor limit.
    public var maximumConnections: Int?
    /// `--metrics-listen`: where `/metrics` is served (nil: nowhere).
    public var metricsListen: (host: String, port: Int)?
    /// `--log-format`.
    public var logFormat: LogFormat
    /// This team's id on the Paperspace routes (`teamId`); nil: any.
    public var teamID: String?
    /// `--oidc-issuer` and its companions: people sign in through the company's identity provider.
    public var singleSignOn: SingleSignOnOptions?
    /// False with `--no-key-sign-in`: the pages take no API key.
    public var keySignIn: Bool = true
    /// `--max-cli-ttl`: the longest CLI token `secretfill login` may ask for, in seconds.
    public var maxCLITTL: Int = ServerStore.defaultMaxCLITTL

    public init(database: DatabaseLocation, host: String, port: Int, tlsCertificate: String?, tlsKey: String?, insecureHTTP: Bool, logLevel: Logger.Level,
                rateLimit: Int = ServeOptions.defaultRateLimit, maximumConnections: Int? = nil,
                metricsListen: (host: String, port: Int)? = nil, logFormat: LogFormat = .text, teamID: String? = nil) {
        self.database = database
        self.host = host
        self.port = port
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.insecureHTTP = insecureHTTP
        self.logLevel = logLevel
        self.rateLimit = rateLimit
        self.maximumConnections = maximumConnections
        self.metricsListen = metricsListen
        self.logFormat = logFormat
        self.teamID = teamID
    }

    public static let defaultRateLimit = 200
}

/// `serve --oidc-issuer URL --oidc-client-id ID --oidc-client-secret-file FILE
/// [--oidc-name NAME] [--public-url URL] [--oidc-groups-claim CLAIM]`.
public struct SingleSignOnOptions: Sendable {
    public var issuer: String
    public var clientID: String
    /// The client secret's bytes as the file holds them (never logged).
    public var clientSecret: String
    public var name: String
    /// The address browsers use; nil: the listen address.
    public var publicURL: String?
    public var groupsClaim: String?

    public init(issuer: String, clientID: String, clientSecret: String, name: String, publicURL: String?, groupsClaim: String?) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.name = name
        self.publicURL = publicURL
        self.groupsClaim = groupsClaim
    }
}

/// A reason `serve` will not start, said plainly.
public struct ServeRefusal: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Listen {
    /// `HOST:PORT`, `[::1]:PORT`.
    public static func parse(_ text: String, option: String = "--listen") throws(ServeRefusal) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ServeRefusal("\(option) must be HOST:PORT (for example 127.0.0.1:8470), not '\(text)'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ServeRefusal("\(option) needs a host (for example 127.0.0.1:8470)") }
        return (host, port)
    }

    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

public enum TeamServer {
    /// Makes NIO's event-loop threads Swift Concurrency's executor too, so a
    /// request's handler, its database queries and its socket writes run on
    /// the same threads instead of hopping between NIO's threads and the
    /// concurrency pool's at every `await` (bench/server.sh: that hopping was
    /// most of the server's CPU per request). Call it on the main thread,
    /// before any async work starts: `serve` does, nothing else needs it.
    /// See `EventLoopExecutor` for why this is not NIO's own take-over.
    /// `SECRETFILL_EXECUTOR_HOOK=off` in `environment` leaves Swift's own
    /// pool in place (bench/server.sh measures the hook with and without).
    @discardableResult
    public static func takeOverConcurrencyPool(environment: [String: String] = [:]) -> Bool {
        let outcome = EventLoopExecutor.install(environment: environment)
        executorOutcome.withLockedValue { $0 = outcome }
        return outcome == .installed
    }

    /// What `takeOverConcurrencyPool` did, for the start-up log line.
    static let executorOutcome = NIOLockedValueBox<EventLoopExecutor.Outcome?>(nil)

    /// The levels library code (Hummingbird, PostgresNIO) logs at: never
    /// below info, so nothing a library traces (headers, query binds) reaches
    /// the log even at `--log-level trace`.
    static func libraryLogger(_ level: Logger.Level) -> Logger {
        var logger = Logger(label: "secretfill.lib")
        logger.logLevel = max(level, .info)
        return logger
    }

    /// PostgresNIO's pool: its lines (each connection attempt, a lease
    /// before `run()`) only at `--log-level debug` or trace. At other levels
    /// the server's own lines say what matters, once: the probe names a
    /// mistake in the URL, the migration loop says the database cannot be
    /// reached (at the first attempt and every tenth), and a request that
    /// cannot reach it answers 503 in the request log.
    static func poolLogger(_ level: Logger.Level) -> Logger {
        var logger = Logger(label: "secretfill.db")
        logger.logLevel = level <= .debug ? .debug : .critical
        return logger
    }

    /// Runs until SIGTERM or SIGINT: stops accepting, lets in-flight requests
    /// finish (up to 10 s), closes the pool, returns. SIGHUP reads
    /// `--tls-cert` and `--tls-key` again (`CertificateReloadService`).
    public static func serve(_ options: ServeOptions, key: ServerStoreKey) async throws {
        var logger = Logger(label: "secretfill")
        logger.logLevel = options.logLevel
        let libraryLogger = libraryLogger(options.logLevel)

        let loopback = Listen.isLoopback(options.host)
        let tls: ReloadableTLS?
        switch (options.tlsCertificate, options.tlsKey) {
        case (let cert?, let keyPath?):
            tls = try ReloadableTLS(certificate: cert, key: keyPath)
        case (nil, nil):
            tls = nil
        default:
            throw ServeRefusal("--tls-cert and --tls-key go together")
        }
        if !loopback && tls == nil {
            guard options.insecureHTTP else {
                throw ServeRefusal("refusing to listen on \(options.host) without TLS: tokens and values would cross the network in clear; give --tls-cert FILE --tls-key FILE, or --insecure-http if something else encrypts the traffic")
            }
            logger.warning("serving plain HTTP on a non-loopback address (--insecure-http): tokens and values cross the network unencrypted")
        }

        if let metricsListen = options.metricsListen, !Listen.isLoopback(metricsListen.host), tls == nil {
            throw ServeRefusal("refusing to serve /metrics on \(metricsListen.host) without TLS: give --tls-cert FILE --tls-key FILE (it is then served with TLS), or a loopback address")
        }
        // SIGHUP trapped from here on, before the database is waited for: it
        // reloads the certificate, never ends the server.
        let reload = await CertificateReloadService(tls: tls, logger: logger)

        if let outcome = executorOutcome.withLockedValue({ $0 }) {
            logger.notice("concurrency executor hook \(outcome)")
        }
        let softLimit = DescriptorBudget.raiseSoftLimit()
        let maximumConnections = options.maximumConnections ?? DescriptorBudget.defaultMaximumConnections(softLimit: softLimit)
        if maximumConnections + DescriptorBudget.reserved > softLimit {
            logger.warning("--max-connections \(maximumConnections) leaves fewer than \(DescriptorBudget.reserved) of the \(softLimit) descriptors this process may open for the database and files")
        }
        // When the database answers now, the listener opens only after the
        // schema is migrated and the store key checked, so a wrong key stops
        // the start before "serving on …". A database not up yet is waited
        // for with the listener open (healthz says 503 meanwhile).
        var databaseAnswered = true
        do {
            try await PostgresProbe.check(options.database, logger: poolLogger(options.logLevel))
        } catch {
            // A mistake in the URL stops the start.
            if error.permanent { throw ServeRefusal("cannot use the database \(options.database): \(error.description)") }
            logger.warning("cannot reach the database yet; retrying", metadata: ["reason": "\(error.description)"])
            databaseAnswered = false
        }
        let scheme = tls == nil ? "http" : "https"
        let shownListenHost = options.host.contains(":") ? "[\(options.host)]" : options.host
        // The identity provider is read before anything listens: one that
        // cannot be used stops the start with its reason.
        var discovered: (OIDCProvider, PublicURL)?
        if let sso = options.singleSignOn {
            let settings = OIDCProvider.Settings(issuer: sso.issuer, clientID: sso.clientID, clientSecret: sso.clientSecret,
                                                 displayName: sso.name, groupsClaim: sso.groupsClaim)
            do {
                discovered = (try await OIDCProvider.discover(settings, keys: JWKSCache()),
                            PublicURL(sso.publicURL ?? "\(scheme)://\(shownListenHost):\(options.port)"))
            } catch {
                throw ServeRefusal("cannot use the identity provider \(sso.issuer): \(error.description)")
            }
            logger.notice("single sign-on through \(sso.issuer) (\(sso.name))")
        }
        let provider = discovered
        let database = try await openDatabase(options.database, logger: poolLogger(options.logLevel))
        let metrics = ServerMetrics()
        let store = ServerStore(database: database, key: key, logger: logger, metrics: metrics)
        let health = HealthState(format: options.logFormat)
        let singleSignOn = provider.map { ServerSingleSignOn(store: store, provider: $0.0, publicURL: $0.1) }
        let router = try buildRouter(store: store, health: health, logger: logger, rateLimit: options.rateLimit, tls: tls != nil,
                                     opaqueOriginAllowed: tls == nil && !loopback, logFormat: options.logFormat, teamID: options.teamID,
                                     singleSignOn: singleSignOn, keySignIn: options.keySignIn, maxCLITTL: options.maxCLITTL)
        let limits = ConnectionLimits(maximumConnections: maximumConnections)
        let count = ConnectionCount(maximum: maximumConnections)

        let server = HTTPServerBuilder { responder in
            let http = GuardedHTTP1Channel(responder: responder, limits: limits, count: count)
            if let tls { return ReloadableTLSChannel(http, tls: tls) }
            return http
        }
        let app = AfterMigration(waits: databaseAnswered, health: health, service: Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                let shownHost = shownListenHost
                if let (_, publicURL) = provider, options.singleSignOn?.publicURL == nil {
                    publicURL.set("\(scheme)://\(shownHost):\(port)")
                }
                health.listening(line: "secretfill: serving on \(scheme)://\(shownHost):\(port) (database \(options.database))\n")
            },
            logger: libraryLogger
        ))
        // Started in this order, stopped in reverse: the listener first, the pool last.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: DatabaseService(database: database)),
            .init(service: MigrationService(database: database, store: store, key: key, health: health, logger: logger, location: options.database)),
            .init(service: reload),
            .init(service: app),
        ]
        if let metricsListen = options.metricsListen {
            services.append(.init(service: NamedListener(option: "--metrics-listen", host: metricsListen.host, port: metricsListen.port,
                                                         service: try metricsApplication(metrics: metrics, database: database, at: metricsListen,
                                                                                         tls: tls, logger: logger, libraryLogger: libraryLogger))))
        }
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint, .sigquit], logger: libraryLogger)
        configuration.maximumGracefulShutdownDuration = Duration.seconds(10)
        configuration.maximumCancellationDuration = Duration.seconds(2)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch let error as NIOCore.IOError where [EADDRINUSE, EACCES, EADDRNOTAVAIL].contains(error.errnoCode) {
            await database.close()
            let shownHost = options.host.contains(":") ? "[\(options.host)]" : options.host
            switch error.errnoCode {
            case EADDRINUSE: throw ServeRefusal("\(shownHost):\(options.port) is already in use (another server?); give --listen HOST:PORT with a free port")
            case EACCES: throw ServeRefusal("may not listen on \(shownHost):\(options.port): ports below 1024 need privileges; use a higher port")
            default: throw ServeRefusal("cannot listen on \(shownHost):\(options.port): this machine has no such address")
            }
        } catch {
            await database.close()
            throw error
        }
        await store.refusals.flushAll()
        await database.close()
        logger.notice("secretfill server stopped")
    }
}

extension TeamServer {
    /// Every route of the API and the web page, with the middleware in the
    /// order each request meets it: the log line, the security headers (and
    /// HSTS under TLS), the rate limit (before any database work), 405 for
    /// a known path asked with another method. `teamID`: see `PaperspaceRoutes`.
    static func buildRouter(store: ServerStore, health: HealthState, logger: Logger, rateLimit: Int, tls: Bool,
                            opaqueOriginAllowed: Bool = false, logFormat: LogFormat = .text, teamID: String? = nil,
                            singleSignOn: ServerSingleSignOn? = nil, keySignIn: Bool = true,
                            maxCLITTL: Int = ServerStore.defaultMaxCLITTL) throws -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: RequestLogMiddleware(logger: logger, metrics: store.metrics, format: logFormat))
        router.add(middleware: SecurityHeadersMiddleware<ServerRequestContext>())
        if tls { router.add(middleware: StrictTransportSecurityMiddleware()) }
        if rateLimit > 0 { router.add(middleware: RateLimitMiddleware(limiter: RateLimiter(perSecond: rateLimit), keyCache: store.keyCache)) }
        router.add(middleware: MethodNotAllowedMiddleware())
        var routes = Routes(store: store, health: health, logger: logger)
        routes.maxCLITTL = maxCLITTL
        routes.install(on: router)
        PaperspaceRoutes(routes: routes, teamID: teamID).install(on: router)
        try WebUI(backend: ServerWebUIBackend(store: store), secureCookies: tls, opaqueOriginAllowed: opaqueOriginAllowed,
                  singleSignOn: singleSignOn, keySignIn: keySignIn).addRoutes(to: router)
        return router
    }
}

extension TeamServer {
    /// `--metrics-listen`: `GET /metrics` (Prometheus' text format) on its
    /// own address, with TLS when the server has a certificate; nothing else.
    static func metricsApplication(metrics: ServerMetrics, database: any ServerDatabase, at address: (host: String, port: Int),
                                   tls: ReloadableTLS?, logger: Logger, libraryLogger: Logger) throws -> some Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            let bytes = metrics.scrape(connectionsInUse: database.connectionsInUse)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let scheme = tls == nil ? "http" : "https"
        // The same certificate as --listen's, reloaded with it on SIGHUP.
        let server = HTTPServerBuilder { responder in
            let http = HTTP1Channel(responder: responder)
            if let tls { return ReloadableTLSChannel(http, tls: tls) }
            return http
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                let shownHost = address.host.contains(":") ? "[\(address.host)]" : address.host
                logger.notice("metrics on \(scheme)://\(shownHost):\(port)/metrics")
            },
            logger: libraryLogger
        )
    }
}

/// A listener other than `--listen`'s: a port it cannot have is named with its option.
struct NamedListener<Wrapped: Service>: Service {
    let option: String
    let host: String
    let port: Int
    let service: Wrapped

    func run() async throws {
        do {
            try await service.run()
        } catch let error as NIOCore.IOError where [EADDRINUSE, EACCES, EADDRNOTAVAIL].contains(error.errnoCode) {
            let shown = (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
            switch error.errnoCode {
            case EADDRINUSE: throw ServeRefusal("\(option) \(shown) is already in use (another server?); give a free port")
            case EACCES: throw ServeRefusal("may not listen on \(shown) (\(option)): ports below 1024 need privileges; use a higher port")
            default: throw ServeRefusal("cannot listen on \(shown) (\(option)): this machine has no such address")
            }
        }
    }
}

/// Runs `service` (the HTTP listener) once the schema is migrated and the
/// store key checked, when `waits`; at once otherwise.
struct AfterMigration<Wrapped: Service>: Service {
    let waits: Bool
    let health: HealthState
    let service: Wrapped

    func run() async throws {
        if waits {
            while !health.isMigrated {
                // Cancelled when the migration stops the server (a wrong key): the listener never opens.
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try await service.run()
    }
}

/// Keeps the database client's pool running for the server's lifetime.
struct DatabaseService: Service {
    let database: any ServerDatabase

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await database.run()
        }
    }
}

/// Migrates on start, retrying while the database is unreachable (healthz
/// says 503 meanwhile); a schema newer than this binary, or another store
/// key, stops the server.
struct MigrationService: Service {
    let database: any ServerDatabase
    let store: ServerStore
    let key: ServerStoreKey
    let health: HealthState
    let logger: Logger
    let location: DatabaseLocation

    func run() async throws {
        var attempts = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let applied = try await withDeadline(seconds: 10) { try await Migrations.migrate(database) }
                try await Migrations.checkKey(database, fingerprint: key.fingerprint)
                // The first start on a database makes its data key (issue 27).
                try await store.prepareDataKeys()
                if !applied.isEmpty { logger.notice("database schema migrated to version \(Migrations.latest)") }
                // Before the first request: statistics that match the tables (issue 22, item 8).
                await store.prepareStatistics(migrated: !applied.isEmpty)
                health.markMigrated()
                break
            } catch let error as Migrations.TooNew {
                throw ServeRefusal(error.description)
            } catch let error as Migrations.KeyMismatch {
                throw ServeRefusal(error.description)
            } catch let error as PKCS11Error {
                // The token, not the database: retrying would not help.
                throw ServeRefusal(error.description)
            } catch {
                attempts += 1
                if attempts == 1 || attempts % 10 == 0 {
                    logger.error("cannot reach the database \(location) yet; retrying", metadata: ["reason": "\(ErrorWords.describe(error))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        try? await gracefulShutdown()
    }
}

/// `keys` and `audit` without a server: straight to the database `serve`
/// uses, as its owner (whoever can write the database holds everything
/// anyway). The schema is migrated first, as `serve` would; the store key
/// is not needed, since nothing here seals or opens a value.
public final class DatabaseAdministration: TeamAdministration {
    let location: DatabaseLocation
    let database: any ServerDatabase
    let store: ServerStore
    let pool: Task<Void, Never>

    public static func open(_ location: DatabaseLocation) async throws -> DatabaseAdministration {
        let logger = TeamServer.poolLogger(.notice)
        do {
            try await PostgresProbe.check(location, logger: logger)
        } catch {
            throw ServeRefusal("cannot use the database \(location): \(error.description)")
        }
        let database = try await openDatabase(location, logger: logger)
        let administration = DatabaseAdministration(location: location, database: database, logger: logger)
        do {
            _ = try await withDeadline(seconds: 10) { try await Migrations.migrate(database) }
        } catch {
            await administration.shutdown()
            switch error {
            case is DatabaseUnavailable: throw ServeRefusal("cannot reach the database \(location) within 10 s")
            case let error as Migrations.TooNew: throw ServeRefusal(error.description)
            default: throw ServeRefusal("cannot use the database \(location): \(ErrorWords.describe(error))")
            }
        }
        return administration
    }

    private init(location: DatabaseLocation, database: any ServerDatabase, logger: Logger) {
        self.location = location
        self.database = database
        self.store = ServerStore(database: database, key: nil, logger: logger)
        self.pool = Task { await database.run() }
    }

    /// The store's refusals and failures as the client's, so the commands print them the same way.
    private func mapped<T: Sendable>(_ body: () async throws -> T) async throws(ClientFailure) -> T {
        do {
            return try await body()
        } catch let refusal as ServerRefusal {
            switch refusal {
            case .unauthenticated(let m), .denied(let m): throw .refused(m)
            case .invalid(let m), .tooLarge(let m): throw .invalid(m)
            case .notFound(let m): throw .notFound(m)
            case .conflict(let m): throw .other(m)
            }
        } catch {
            throw .unavailable("the database \(location) failed: \(ErrorWords.describe(error))")
        }
    }

    public func createKey(name: String, grants: [String], expiresIn: Int?) async throws(ClientFailure) -> String {
        try await mapped { try await store.createKey(name: name, grants: grants, expiresIn: expiresIn, by: .databaseOwner, client: "local") }
    }

    public func listKeys() async throws(ClientFailure) -> [KeyEntry] {
        try await mapped { try await store.listKeys(by: .databaseOwner, client: "local") }
    }

    public func revokeKey(name: String) async throws(ClientFailure) {
        try await mapped { try await store.revokeKey(name: name, by: .databaseOwner, client: "local") }
    }

    public func audit(since: Int?, key: String?, secret: String?, limit: Int) async throws(ClientFailure) -> (entries: [AuditEntry], more: Bool) {
        try await audit(since: since, key: key, secret: secret, role: nil, user: nil, limit: limit)
    }

    public func createRole(_ role: RoleEntry) async throws(ClientFailure) {
        try await mapped { try await store.createRole(role, by: .databaseOwner, client: "local") }
    }

    public func listRoles() async throws(ClientFailure) -> [RoleEntry] {
        try await mapped { try await store.listRoles(by: .databaseOwner, client: "local") }
    }

    public func deleteRole(name: String) async throws(ClientFailure) {
        try await mapped { try await store.deleteRole(name: name, by: .databaseOwner, client: "local") }
    }

    public func addMember(name: String, grants: [String]) async throws(ClientFailure) -> AddMemberResponse {
        try await mapped { try await store.addMember(name: name, grants: grants, by: .databaseOwner, client: "local") }
    }

    public func listMembers() async throws(ClientFailure) -> [MemberEntry] {
        try await mapped { try await store.listMembers(by: .databaseOwner, client: "local") }
    }

    public func removeMember(name: String) async throws(ClientFailure) {
        try await mapped { try await store.removeMember(name: name, by: .databaseOwner, client: "local") }
    }

    public func audit(since: Int?, key: String?, secret: String?, role: String?, user: String?, limit: Int) async throws(ClientFailure) -> (entries: [AuditEntry], more: Bool) {
        try await mapped {
            var entries: [AuditEntry] = []
            var before: String?
            while true {
                let page = try await store.auditEntries(since: since, key: key, secret: secret, limit: min(ServerStore.auditPageMaximum, limit - entries.count),
                                                        before: before, role: role, user: user, by: .databaseOwner, client: "local")
                entries += page.entries
                guard let next = page.next else { return (entries, false) }
                if entries.count >= limit { return (entries, true) }
                before = next
            }
        }
    }

    public func shutdown() async {
        await database.close()
        pool.cancel()
        await pool.value
    }
}
