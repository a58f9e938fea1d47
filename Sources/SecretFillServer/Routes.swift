import Hummingbird
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SecretFill
import SecretFillAPI
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Per-request context: the client's address and, once known, the key name
/// (for the one log line each request gets).
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let client: String
    let note: RequestNote
    /// The API key the request presents, once `RateLimitMiddleware` has read
    /// it (the route then reads it from here instead of from the headers).
    var presented: PresentedKey?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        client = source.channel.remoteAddress?.ipAddress ?? "-"
        note = RequestNote()
    }

    /// Bodies over 2 MiB are refused with 413.
    public var maxUploadSize: Int { API.maximumBodyBytes }
}

extension ServerRequestContext {
    /// The request's API key: as the rate limiter read it, else read now.
    func presentedKey(_ request: Request) -> PresentedKey { presented ?? PresentedKey(request) }
}

/// The API key a request presents (`Routes.presentedToken`) and, for a
/// well-formed one, its digest: read and hashed once per request, although
/// both the rate limiter (to find the caller's bucket) and the route (to
/// authenticate) need them. Reading the two headers and hashing the token
/// a second time was 1.5% of a resolve's CPU (perf under bench/server.sh).
struct PresentedKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The token, nil when the request presents none, or the refusal of two different ones.
    let token: Result<String?, ServerRefusal>
    /// `APIToken.digest` of the token, when it is well formed.
    let digest: String?

    init(_ request: Request) {
        do {
            let token = try Routes.presentedToken(request)
            self.token = .success(token)
            digest = token.flatMap { APIToken.isWellFormed($0) ? APIToken.digest($0) : nil }
        } catch {
            token = .failure(error)
            digest = nil
        }
    }

    // It holds a token: nothing that prints or mirrors it shows the token.
    var description: String { "<presented key>" }
    var debugDescription: String { "<presented key>" }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

final class RequestNote: Sendable {
    private let box = NIOLockedValueBox<String?>(nil)
    var keyName: String? {
        get { box.withLockedValue { $0 } }
        set { box.withLockedValue { $0 = newValue } }
    }
}

public enum API {
    public static let maximumBodyBytes = 2 << 20
}

/// One line per request: method, path, status, key name, time, request id.
/// Never a header (but the caller's own X-Request-Id), a body, a query
/// string or a token. Also counts the request in `ServerMetrics` (route
/// template, method, status, duration), and answers every request with an
/// `X-Request-Id`: the caller's when it is printable ASCII of at most 200
/// characters, else a new one.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let logger: Logger
    let metrics: ServerMetrics
    let format: LogFormat

    init(logger: Logger, metrics: ServerMetrics = ServerMetrics(), format: LogFormat = .text) {
        self.logger = logger
        self.metrics = metrics
        self.format = format
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let requestID = RequestID.accepted(request.headers[RequestID.header]) ?? RequestID.make()
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Answered here rather than by the router, so that the answer carries the request id too.
            response = try error.response(from: request, context: context)
        } catch {
            // Only the error's type: its text could hold anything.
            logger.error("a request failed", metadata: ["reason": "\(ErrorWords.describe(error))", "request_id": "\(requestID)"])
            response = Response(status: .internalServerError, headers: [.contentLength: "0"])
        }
        response.headers[RequestID.header] = requestID
        finish(request, context, status: response.status.code, start: start, requestID: requestID)
        return response
    }

    /// `12.3`: tenths of a millisecond, without Foundation's formatter.
    static func milliseconds(_ duration: Duration) -> String {
        let tenths = duration.components.seconds * 10_000 + duration.components.attoseconds / 100_000_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    func finish(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant, requestID: String) {
        let elapsed = ContinuousClock.now - start
        let route = ServerMetrics.route(context.endpointPath, path: request.uri.path)
        metrics.request(route: route, method: ServerMetrics.method(request.method), status: status, duration: elapsed)
        guard logger.logLevel <= .info else { return }
        let path = request.uri.path
        let shownPath = path.utf8.count <= 200 && path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) ? path : "<\(path.utf8.count) bytes>"
        let actor = context.note.keyName ?? "-"
        let shownMillis = Self.milliseconds(elapsed)
        let message: Logger.Message = "\(request.method.rawValue) \(shownPath) \(status) key=\(actor) \(shownMillis)ms"
        switch format {
        case .text:
            logger.info(message, metadata: ["client": "\(context.client)", "request_id": "\(requestID)"])
        case .json:
            let method = request.method.rawValue
            let shownMethod = method.utf8.count <= 20 && method.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) ? method : "other"
            logger.info(message, metadata: [
                "method": "\(shownMethod)", "route": "\(route)", "status": .stringConvertible(status), "actor": "\(actor)",
                "duration_ms": .stringConvertible(Double(shownMillis) ?? 0), "request_id": "\(requestID)", "client": "\(context.client)",
            ])
        }
    }
}

/// `X-Request-Id`: the caller's, when it is printable ASCII (space to `~`)
/// of 1 to 200 characters and holds nothing shaped like an API token
/// (`sf_`) or a JWT (`eyJ`, a JSON header in base64url): the id is logged,
/// and a client that put a token there by mistake must not find it in the
/// log. Else a new one: 32 hex digits, a random 64-bit prefix chosen when
/// the server starts and a count of the ids it made. An id only has to tell
/// requests apart, in this server's log and across servers; two random
/// words per request (two `getrandom` calls) were 0.7% of a resolve's CPU.
enum RequestID {
    static let header = HTTPField.Name("X-Request-Id")!
    static let longest = 200

    static func accepted(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= longest, value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        guard !value.contains("sf_"), !value.contains("eyJ") else { return nil }
        return value
    }

    private static let prefix: UInt64 = {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }()
    private static let made = Atomic<UInt64>(0)

    static func make() -> String {
        let count = made.add(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 32) { bytes in
            var high = prefix, low = count
            for index in (0..<16).reversed() {
                bytes[index] = hexDigit(high & 0xF)
                bytes[index + 16] = hexDigit(low & 0xF)
                high >>= 4
                low >>= 4
            }
            return 32
        }
    }

    private static func hexDigit(_ nibble: UInt64) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + UInt8(nibble) : UInt8(ascii: "a") + UInt8(nibble - 10)
    }
}

/// 405 with `Allow` for a path of the API asked with another method (an
/// unknown path stays 404).
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let allowed = PaperspaceRoutes.methods(for: request.uri.path), !allowed.contains(request.method) {
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            var response = PaperspaceRoutes.message(.methodNotAllowed, "\(request.uri.path) takes \(list) only")
            response.headers[.allow] = list
            return response
        }
        if let allowed = Routes.methods[request.uri.path], request.method != allowed, !(allowed == .get && request.method == .head) {
            var response = Routes.error(.methodNotAllowed, "\(request.uri.path) takes \(allowed.rawValue) only", reason: "invalid")
            response.headers[.allow] = allowed.rawValue
            return response
        }
        return try await next(request, context)
    }
}

struct Routes {
    /// Every path `install` serves, with its one method.
    static let methods: [String: HTTPRequest.Method] = {
        var methods: [String: HTTPRequest.Method] = ["/healthz": .get]
        for path in ["/v1/resolve", "/v1/values", "/v1/names", "/v1/scopes", "/v1/secrets/set", "/v1/secrets/delete", "/v1/secrets/history",
                     "/v1/secrets/rollback", "/v1/keys", "/v1/keys/list", "/v1/keys/revoke", "/v1/audit",
                     "/v1/auth/oidc", "/v1/roles", "/v1/roles/list", "/v1/roles/delete", "/v1/members", "/v1/members/list",
                     "/v1/members/remove", "/v1/backup", "/v1/rekey", "/v1/login/token", "/v1/logout", "/v1/whoami"] {
            methods[path] = .post
        }
        return methods
    }()

    let store: ServerStore
    let health: HealthState
    let logger: Logger
    /// `serve --max-cli-ttl`: the longest CLI token `secretfill login` may ask for.
    var maxCLITTL: Int = ServerStore.defaultMaxCLITTL

    func install(on router: Router<ServerRequestContext>) {
        router.get("/healthz") { _, _ -> Response in
            await healthAnswer(head: false)
        }
        // A load balancer's HEAD gets GET's status and headers, without the body.
        router.head("/healthz") { _, _ -> Response in
            await healthAnswer(head: true)
        }
        router.post("/v1/resolve") { request, context in
            await handle(request, context, action: "read", plain: ResolveRequest.plain) { (body: ResolveRequest, key) in
                let chain = try Self.chain(project: body.project, cluster: body.cluster)
                guard body.names.count <= APILimits.resolveNames else {
                    throw ServerRefusal.tooLarge("at most \(APILimits.resolveNames) names per request (this one has \(body.names.count)); send the rest in another request")
                }
                let (found, missing) = try await store.resolve(chain: chain, names: body.names, by: key, client: context.client)
                store.metrics.resolved(names: found.count)
                var secrets: [String: ResolvedSecret] = [:]
                secrets.reserveCapacity(found.count)
                for (name, entry) in found {
                    secrets[name] = ResolvedSecret(value: entry.value.revealed, scope: entry.scope.kind.rawValue, id: entry.scope.id)
                }
                return ResolveResponse(secrets: secrets, missing: missing)
            }
        }
        router.post("/v1/values") { request, context in
            await handle(request, context, action: "read") { (body: ValuesRequest, key) in
                let chain = try Self.chain(project: body.project, cluster: body.cluster)
                let values = try await store.allValues(chain: chain, by: key, client: context.client)
                return ValuesResponse(values: values.map { ScopedValue(name: $0.1, value: $0.2.revealed, scope: $0.0.kind.rawValue, id: $0.0.id) })
            }
        }
        router.post("/v1/names") { request, context in
            await handle(request, context, action: "list") { (body: NamesRequest, key) in
                guard body.scopes.count <= 16 else { throw ServerRefusal.invalid("at most 16 scopes per request") }
                let scopes = try body.scopes.map { try Self.scope($0.scope, $0.id) }
                let listed = try await store.names(in: scopes, by: key, client: context.client)
                return NamesResponse(scopes: listed.map { scope, entries in
                    ScopeNames(scope: scope.kind.rawValue, id: scope.id, secrets: entries.map { NameEntry(name: $0.name, updated: $0.updated) })
                })
            }
        }
        router.post("/v1/scopes") { request, context in
            await handle(request, context, action: "list") { (_: EmptyBody, key) in
                let listed = try await store.listableNames(by: key)
                return ScopesResponse(scopes: listed.map { scope, entries in
                    ScopeNames(scope: scope.kind.rawValue, id: scope.id, secrets: entries.map { NameEntry(name: $0.name, updated: $0.updated) })
                }, every: ServerStore.listsEvery(key.grants).map(\.rawValue))
            }
        }
        router.post("/v1/secrets/set") { request, context in
            await handle(request, context, action: "set") { (body: SetRequest, key) in
                let scope = try Self.scope(body.scope, body.id)
                guard body.secrets.count <= APILimits.setSecrets else {
                    throw ServerRefusal.tooLarge("at most \(APILimits.setSecrets) secrets per request (this one has \(body.secrets.count)); `secretfill secrets import --batch` sends larger imports in batches")
                }
                var pairs: [(name: String, value: SecretValue)] = []
                for entry in body.secrets {
                    guard SecretName.isValid(entry.name) else { throw ServerRefusal.invalid("'\(ServerStore.shown(entry.name))': \(SecretName.ruleDescription)") }
                    switch Result(catching: { () throws(SecretInputError) -> SecretValue in try SecretValue(validating: entry.value) }) {
                    case .success(let value): pairs.append((entry.name, value))
                    case .failure(let error): throw ServerRefusal.invalid("\(scope) secret '\(entry.name)': \(error.description)")
                    }
                }
                let versions = try await store.set(pairs, in: scope, by: key, client: context.client)
                return SetResponse(versions: versions.map { NameVersion(name: $0.name, version: $0.version, replaced: $0.replaced) })
            }
        }
        router.post("/v1/secrets/delete") { request, context in
            await handle(request, context, action: "delete") { (body: DeleteRequest, key) in
                let scope = try Self.scope(body.scope, body.id)
                try await store.delete(body.name, in: scope, purge: body.purge ?? false, by: key, client: context.client)
                return SetResponse(versions: [])
            }
        }
        router.post("/v1/secrets/history") { request, context in
            await handle(request, context, action: "history") { (body: HistoryRequest, key) in
                try await store.history(of: body.name, in: try Self.scope(body.scope, body.id), by: key, client: context.client)
            }
        }
        router.post("/v1/secrets/rollback") { request, context in
            await handle(request, context, action: "rollback") { (body: RollbackRequest, key) in
                let written = try await store.rollback(body.name, in: try Self.scope(body.scope, body.id), to: body.version, by: key, client: context.client)
                return SetResponse(versions: [NameVersion(name: written.name, version: written.version, replaced: written.replaced)])
            }
        }
        router.post("/v1/keys") { request, context in
            await handle(request, context, action: "key.create") { (body: CreateKeyRequest, key) in
                let token = try await store.createKey(name: body.name, grants: body.grants, expiresIn: body.expiresIn, by: key, client: context.client)
                return CreateKeyResponse(name: body.name, token: token)
            }
        }
        router.post("/v1/keys/list") { request, context in
            await handle(request, context, action: "key.list") { (_: EmptyBody, key) in
                KeysResponse(keys: try await store.listKeys(by: key, client: context.client))
            }
        }
        router.post("/v1/keys/revoke") { request, context in
            await handle(request, context, action: "key.revoke") { (body: RevokeKeyRequest, key) in
                try await store.revokeKey(name: body.name, by: key, client: context.client)
                return SetResponse(versions: [])
            }
        }
        router.post("/v1/audit") { request, context in
            await handle(request, context, action: "audit.read") { (body: AuditRequest, key) in
                let page = try await store.auditEntries(since: body.since, key: body.key, secret: body.secret, limit: body.limit,
                                                        before: body.before, role: body.role, user: body.user, by: key, client: context.client)
                return AuditResponse(entries: page.entries, next: page.next)
            }
        }
        router.post("/v1/roles") { request, context in
            await handle(request, context, action: "role.create") { (body: RoleEntry, key) in
                try await store.createRole(body, by: key, client: context.client)
                return SetResponse(versions: [])
            }
        }
        router.post("/v1/roles/list") { request, context in
            await handle(request, context, action: "role.list") { (_: EmptyBody, key) in
                RolesResponse(roles: try await store.listRoles(by: key, client: context.client))
            }
        }
        router.post("/v1/roles/delete") { request, context in
            await handle(request, context, action: "role.delete") { (body: DeleteRoleRequest, key) in
                try await store.deleteRole(name: body.name, by: key, client: context.client)
                return SetResponse(versions: [])
            }
        }
        router.post("/v1/members") { request, context in
            await handle(request, context, action: "member.add") { (body: AddMemberRequest, key) in
                try await store.addMember(name: body.name, grants: body.grants, by: key, client: context.client)
            }
        }
        router.post("/v1/members/list") { request, context in
            await handle(request, context, action: "member.list") { (_: EmptyBody, key) in
                MembersResponse(members: try await store.listMembers(by: key, client: context.client))
            }
        }
        router.post("/v1/members/remove") { request, context in
            await handle(request, context, action: "member.remove") { (body: RemoveMemberRequest, key) in
                try await store.removeMember(name: body.name, by: key, client: context.client)
                return SetResponse(versions: [])
            }
        }
        router.post("/v1/auth/oidc") { request, context in
            await exchange(request, context)
        }
        router.post("/v1/login/token") { request, context in
            await loginToken(request, context)
        }
        router.post("/v1/logout") { request, context in
            await handle(request, context, action: "session.end") { (_: EmptyBody, key) in
                try await store.logout(token: context.presentedKey(request).token.get(), by: key, client: context.client)
                return SetResponse(versions: [])
            }
        }
        router.post("/v1/whoami") { request, context in
            await handle(request, context, action: "whoami") { (_: EmptyBody, key) in
                try await store.whoami(token: context.presentedKey(request).token.get(), key)
            }
        }
        router.post("/v1/rekey") { request, context in
            await handle(request, context, action: "rekey") { (body: RekeyRequest, key) in
                try await store.rekey(body, by: key, client: context.client)
            }
        }
        router.post("/v1/backup") { request, context in
            await respond(request, context, action: "backup") { (body: BackupRequest, key) in
                try await backupResponse(audit: body.audit ?? true, by: key, client: context.client)
            }
        }
    }

    /// `POST /v1/backup`: the server writes the backup file (`ServerBackup`,
    /// one snapshot) into its temporary folder, then sends it whole, with its
    /// length, and removes it. The file is sealed as `secretfill backup`
    /// writes it: the caller needs no store key, and cannot open it without one.
    func backupResponse(audit: Bool, by key: ActingKey, client: String) async throws -> Response {
        let path = try await store.backupForDownload(audit: audit, by: key, client: client)
        let (file, length) = try BackupFileDescriptor.openAndUnlink(path)
        let body = ResponseBody(contentLength: length) { writer in
            defer { file.close() }
            var sent = 0
            while sent < length {
                let chunk = try file.read(upTo: 1 << 16)
                guard !chunk.isEmpty else { break }
                try await writer.write(ByteBuffer(bytes: chunk))
                sent += chunk.count
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-store",
                                               .contentDisposition: "attachment; filename=\"secretfill.backup\""], body: body)
    }

    /// `POST /v1/auth/oidc`: no API key; the body's JWT is the credential.
    /// The JWT is never logged, echoed or audited.
    func exchange(_ request: Request, _ context: ServerRequestContext) async -> Response {
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: API.maximumBodyBytes)
        } catch {
            return Self.error(.contentTooLarge, "the request body is over \(API.maximumBodyBytes) bytes", reason: "too_large")
        }
        let body: OIDCExchangeRequest
        do {
            body = try JSONDecoder().decode(OIDCExchangeRequest.self, from: Data(bytes.readableBytesView))
        } catch let error as DecodingError {
            return Self.error(.badRequest, Self.describe(error), reason: "invalid")
        } catch {
            return Self.error(.badRequest, "the request body is not valid JSON", reason: "invalid")
        }
        do {
            let answer = try await store.exchange(role: body.role, jwt: body.jwt, client: context.client)
            if KeyName.isValid(body.role) { context.note.keyName = "role:" + body.role }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(answer))))
        } catch let refusal as OIDCExchangeRefusal {
            if refusal.unavailable { return Self.error(.serviceUnavailable, refusal.message, reason: "unavailable") }
            let data = (try? JSONEncoder().encode(OIDCRefusalBody(message: refusal.message, check: refusal.check))) ?? Data()
            return Response(status: .unauthorized, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return failure(error)
        }
    }

    /// `POST /v1/login/token`: no API key; the one-time code and the CLI's
    /// PKCE verifier are the credential. Neither is logged, echoed or audited.
    func loginToken(_ request: Request, _ context: ServerRequestContext) async -> Response {
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: API.maximumBodyBytes)
        } catch {
            return Self.error(.contentTooLarge, "the request body is over \(API.maximumBodyBytes) bytes", reason: "too_large")
        }
        let body: LoginTokenRequest
        switch Self.decode(LoginTokenRequest.self, bytes) {
        case .success(let value): body = value
        case .failure(let refusal): return refusal.response
        }
        do {
            let answer = try await store.exchangeLoginCode(body, maxTTL: maxCLITTL, client: context.client)
            context.note.keyName = ActingKey.personPrefix + answer.user
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(answer))))
        } catch {
            return failure(error)
        }
    }

    func healthAnswer(head: Bool) async -> Response {
        let ok = await health.check(store)
        let text = ok ? "ok" : "unavailable"
        return Response(status: ok ? .ok : .serviceUnavailable,
                        headers: [.contentType: "text/plain; charset=utf-8", .contentLength: "\(text.utf8.count)"],
                        body: head ? .init() : .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A body with nothing to say: no body, or a JSON object (anything else
    /// is refused; a key in it is refused by `unknownFields`).
    struct EmptyBody: Codable {
        init(from decoder: any Decoder) throws { _ = try decoder.container(keyedBy: BodyKey.self) }
        func encode(to encoder: any Encoder) throws { _ = encoder.container(keyedBy: BodyKey.self) }
    }

    /// A JSON text's shape: its objects' keys and its arrays, nothing else kept.
    indirect enum JSONShape: Decodable {
        case object([String: JSONShape])
        case array([JSONShape])
        case null
        case scalar


        init(from decoder: any Decoder) throws {
            if let object = try? decoder.container(keyedBy: BodyKey.self) {
                var members: [String: JSONShape] = [:]
                for key in object.allKeys { members[key.stringValue] = try object.decode(JSONShape.self, forKey: key) }
                self = .object(members)
            } else if var array = try? decoder.unkeyedContainer() {
                var elements: [JSONShape] = []
                while !array.isAtEnd { elements.append(try array.decode(JSONShape.self)) }
                self = .array(elements)
            } else {
                self = try decoder.singleValueContainer().decodeNil() ? .null : .scalar
            }
        }
    }

    /// The keys of `sent` (the body as parsed) that `known` (the decoded body
    /// encoded again) lacks: fields this server does not know, such as a
    /// misspelt "projet", which JSONDecoder would drop without a word and so
    /// resolve without the project. The document says the same with
    /// `additionalProperties: false`. A key sent as null sets nothing and passes.
    static func unknownFields(_ sent: JSONShape, _ known: JSONShape?, path: String = "") -> [String] {
        switch sent {
        case .object(let object):
            guard case .object(let knownObject)? = known else { return [] }
            return object.keys.sorted().flatMap { key -> [String] in
                let value = object[key]!
                if case .null = value { return [] }
                let here = path.isEmpty ? key : path + "." + key
                guard let counterpart = knownObject[key] else { return [here] }
                return unknownFields(value, counterpart, path: here)
            }
        case .array(let array):
            guard case .array(let knownArray)? = known else { return [] }
            return array.indices.flatMap { index in
                unknownFields(array[index], index < knownArray.count ? knownArray[index] : nil, path: "\(path)[\(index)]")
            }
        case .null, .scalar:
            return []
        }
    }

    /// Why `data` holds fields that `decoded` has no place for, or nil.
    static func unknownFields<Body>(in data: Data, decoded: Body) throws -> String? {
        guard let encodable = decoded as? any Encodable else { return nil }
        let sent = try JSONDecoder().decode(JSONShape.self, from: data)
        let known = try JSONDecoder().decode(JSONShape.self, from: JSONEncoder().encode(encodable))
        let unknown = unknownFields(sent, known)
        guard !unknown.isEmpty else { return nil }
        let shown = unknown.prefix(5).map { "'\(ServerStore.shown($0))'" }.joined(separator: ", ")
        return "the request body has \(unknown.count == 1 ? "a field" : "fields") this API does not know: \(shown)\(unknown.count > 5 ? ", …" : "") (see openapi.yaml)"
    }

    /// Authenticates, decodes the body, runs `body`, and turns every refusal
    /// and failure into a JSON error with the right status.
    /// `plain` reads the body without JSONDecoder when it can (nil: it
    /// cannot, and JSONDecoder decides).
    func handle<Body: Decodable, Answer: Encodable>(
        _ request: Request, _ context: ServerRequestContext, action: String,
        plain: ((UnsafeRawBufferPointer) -> Body?)? = nil,
        _ body: (Body, ActingKey) async throws -> Answer
    ) async -> Response {
        await respond(request, context, action: action, plain: plain) { (decoded: Body, key) in
            let answer = try await body(decoded, key)
            let buffer: ByteBuffer
            if let written = answer as? any HandWrittenJSON {
                buffer = ByteBuffer(bytes: written.jsonBytes)
            } else {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                buffer = ByteBuffer(bytes: try encoder.encode(answer))
            }
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: buffer))
        }
    }

    /// As `handle`, for a route that makes its own answer (the backup file).
    func respond<Body: Decodable>(
        _ request: Request, _ context: ServerRequestContext, action: String,
        plain: ((UnsafeRawBufferPointer) -> Body?)? = nil,
        _ body: (Body, ActingKey) async throws -> Response
    ) async -> Response {
        let key: ActingKey
        do {
            key = try await store.authenticate(context.presentedKey(request))
        } catch let refusal as ServerRefusal {
            // Counted per address and second, written without the body.
            await store.refusals.note(client: context.client, action: action)
            return Self.error(.unauthorized, refusal.description, reason: "unauthenticated")
        } catch {
            return failure(error)
        }
        context.note.keyName = key.name
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: API.maximumBodyBytes)
        } catch {
            return Self.error(.contentTooLarge, "the request body is over \(API.maximumBodyBytes) bytes", reason: "too_large")
        }
        let decoded: Body
        if let plain, let read = bytes.withUnsafeReadableBytes(plain) {
            decoded = read
        } else {
            switch Self.decode(Body.self, bytes) {
            case .success(let value): decoded = value
            case .failure(let refusal): return refusal.response
            }
        }
        do {
            return try await body(decoded, key)
        } catch {
            return failure(error)
        }
    }

    /// A refused body: the 400 it is answered with.
    struct BodyRefusal: Error { let response: Response }

    /// The body as `Body` (an empty one as `{}`), or the 400 that says why
    /// not: malformed JSON, a field of the wrong type, or one the type does not know.
    static func decode<Body: Decodable>(_ type: Body.Type, _ bytes: ByteBuffer) -> Result<Body, BodyRefusal> {
        do {
            let data = bytes.readableBytes == 0 ? Data("{}".utf8) : Data(bytes.readableBytesView)
            let decoded = try JSONDecoder().decode(Body.self, from: data)
            if let unknown = try unknownFields(in: data, decoded: decoded) {
                return .failure(BodyRefusal(response: error(.badRequest, unknown, reason: "invalid")))
            }
            return .success(decoded)
        } catch let failure as DecodingError {
            return .failure(BodyRefusal(response: error(.badRequest, describe(failure), reason: "invalid")))
        } catch {
            return .failure(BodyRefusal(response: Self.error(.badRequest, "the request body is not valid JSON", reason: "invalid")))
        }
    }

    func failure(_ error: any Error) -> Response {
        let (status, message, reason) = refusal(error)
        return Self.error(status, message, reason: reason)
    }

    /// The status, words and reason an error is answered with (logging
    /// what the operator needs to know, never a value or a token).
    func refusal(_ error: any Error) -> (HTTPResponse.Status, String, String) {
        switch error {
        case let refusal as ServerRefusal:
            switch refusal {
            case .unauthenticated(let m): return (.unauthorized, m, "unauthenticated")
            case .denied(let m): return (.forbidden, m, "denied")
            case .invalid(let m): return (.badRequest, m, "invalid")
            case .notFound(let m): return (.notFound, m, "not_found")
            case .conflict(let m): return (.conflict, m, "conflict")
            case .tooLarge(let m): return (.contentTooLarge, m, "too_large")
            }
        case let input as SecretInputError:
            return (.badRequest, input.description, "invalid")
        case let rolledBack as WriteRolledBack:
            logger.error("a transaction ran past its deadline and was rolled back", metadata: ["seconds": "\(rolledBack.seconds)"])
            return (.serviceUnavailable, "the server's \(rolledBack.description)", "unavailable")
        case let store as StoreError:
            logger.error("a stored value could not be opened", metadata: ["error": "\(store.description)"])
            return (.internalServerError, store.description, "internal")
        default:
            // Only the error's type: a database error's text is not shown.
            logger.error("the database is unavailable", metadata: ["reason": "\(ErrorWords.describe(error))"])
            return (.serviceUnavailable, "the server's database is unavailable; try again", "unavailable")
        }
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, reason: String) -> Response {
        let data = (try? JSONEncoder().encode(ErrorBody(error: message, reason: reason))) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
            let shown = text.utf8.count <= 200 && text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) ? text : "<field>"
            return shown.isEmpty ? "the body" : String(shown.drop(while: { $0 == "." }))
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context)) must be \(Self.jsonType(type))"
        case .valueNotFound(let type, let context): return "\(path(context)) must be \(Self.jsonType(type)), not null"
        case .keyNotFound(let key, let context):
            let prefix = path(context) == "the body" ? "" : path(context) + "."
            let name = key.stringValue.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) ? key.stringValue : "<field>"
            return "\(prefix)\(name) is missing"
        case .dataCorrupted: return "the request body is not valid JSON"
        @unknown default: return "the request body is not valid JSON"
        }
    }

    static func jsonType(_ type: Any.Type) -> String {
        if type == String.self { return "a string" }
        if type == Int.self { return "a number" }
        if type == Bool.self { return "true or false" }
        if type is [Any].Type { return "an array" }
        return "an object"
    }

    static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix) else { return "" }
        return String(header.dropFirst(prefix.count))
    }

    /// `X-API-Key`, the header the Paperspace `gradient` CLI sends its key in.
    static let apiKeyHeader = HTTPField.Name("X-API-Key")!

    /// The API key a request presents, on every route: `Authorization:
    /// Bearer TOKEN` or `X-API-Key: TOKEN` (the same key either way); nil
    /// when it presents none. Both headers with different keys are refused.
    static func presentedToken(_ request: Request) throws(ServerRefusal) -> String? {
        let bearer = bearerToken(request)
        guard let apiKey = request.headers[apiKeyHeader] else { return bearer }
        guard let bearer else { return apiKey }
        guard bearer == apiKey else {
            throw .unauthenticated("Authorization and X-API-Key carry different API keys; send one key, in either header")
        }
        return bearer
    }

    static func scope(_ kind: String, _ id: String?) throws -> Scope {
        guard let parsed = Scope.Kind(rawValue: kind) else { throw ServerRefusal.invalid("scope must be team, project or cluster") }
        do { return try Scope(kind: parsed, id: id) } catch { throw ServerRefusal.invalid(error.description) }
    }

    static func chain(project: String?, cluster: String?) throws -> ScopeChain {
        do {
            if let project { try Scope.validateID(project) }
            if let cluster { try Scope.validateID(cluster) }
        } catch {
            throw ServerRefusal.invalid(error.description)
        }
        return ScopeChain(project: project, cluster: cluster)
    }
}


/// Any key of a JSON object: how `EmptyBody` and `JSONShape` read objects whose keys they do not know in advance.
private struct BodyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
