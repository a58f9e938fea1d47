import Hummingbird
import HTTPTypes
import NIOCore
import SecretFill
import SecretFillAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The secrets routes of the Paperspace API, as the real `gradient` CLI
/// (2.0.6) sends them to `PAPERSPACE_CONFIG_HOST`, its key in `X-API-Key`:
///
///     PUT    /{teams|projects|clusters}/secrets/{name}[?projectId=|clusterId=]   {"value": V}
///     GET    /{teams|projects|clusters}/secrets[?projectId=|clusterId=]          → [{"name": N}, …]
///     DELETE /{teams|projects|clusters}/secrets/{name}[?projectId=|clusterId=]
///
/// Each runs the store's own set, list or delete, so grants, audit rows,
/// versions and messages are those of `secrets set/list/delete --server`.
/// A `teamId` may come on any of them: this server is one team, so it is
/// accepted when it is this team's (`serve --team-id`; without it, any)
/// and refused with 404 otherwise. Errors are `{"message": "…"}` alone:
/// gradient prints every `error`, `message` and `details` it finds.
struct PaperspaceRoutes {
    let routes: Routes
    /// `serve --team-id`; nil: any `teamId` is this team.
    let teamID: String?

    var store: ServerStore { routes.store }

    /// The path segment of each scope kind, and the query parameter with its id.
    static let kinds: [(segment: String, kind: Scope.Kind, idParameter: String?)] = [
        ("teams", .team, nil), ("projects", .project, "projectId"), ("clusters", .cluster, "clusterId"),
    ]

    /// The methods a Paperspace path takes (nil: not one of these paths).
    static func methods(for path: String) -> [HTTPRequest.Method]? {
        // Asked of every request (`MethodNotAllowedMiddleware`); nearly all
        // are to /v1/…, which no kind's segment is. Splitting their paths
        // was 0.7% of a resolve's instructions (callgrind, BENCHMARKS.md).
        if path.utf8.starts(with: "/v1/".utf8) { return nil }
        return methodsOfSplitPath(path)
    }

    /// `methods(for:)` for any path, by its segments.
    static func methodsOfSplitPath(_ path: String) -> [HTTPRequest.Method]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3 || parts.count == 4, parts[0].isEmpty, parts[2] == "secrets",
              kinds.contains(where: { $0.segment == parts[1] }) else { return nil }
        if parts.count == 3 { return [.get] }
        return parts[3].isEmpty ? nil : [.put, .delete]
    }

    func install(on router: Router<ServerRequestContext>) {
        for (segment, kind, idParameter) in Self.kinds {
            router.get("/\(segment)/secrets") { request, context in
                await answer(request, context, action: "list") { key, query in
                    let scope = try Self.scope(kind, query, idParameter)
                    let listed = try await store.names(in: [scope], by: key, client: context.client)
                    let names = listed.first?.1.map { SecretNameItem(name: $0.name) } ?? []
                    return Self.json(.ok, names)
                }
            }
            router.put("/\(segment)/secrets/:name") { request, context in
                await answer(request, context, action: "set", readsBody: true) { key, query in
                    let name = try Self.name(context)
                    let scope = try Self.scope(kind, query, idParameter)
                    let body = try Self.decodeBody(query.body)
                    let value: SecretValue
                    switch Result(catching: { () throws(SecretInputError) -> SecretValue in try SecretValue(validating: body.value) }) {
                    case .success(let valid): value = valid
                    case .failure(let error): throw ServerRefusal.invalid("\(scope) secret '\(name)': \(error.description)")
                    }
                    _ = try await store.set([(name, value)], in: scope, by: key, client: context.client)
                    return Self.noContent()
                }
            }
            router.delete("/\(segment)/secrets/:name") { request, context in
                await answer(request, context, action: "delete") { key, query in
                    let name = try Self.name(context)
                    let scope = try Self.scope(kind, query, idParameter)
                    try await store.delete(name, in: scope, purge: false, by: key, client: context.client)
                    return Self.noContent()
                }
            }
        }
    }

    /// What a handler reads besides the key: the query's parameters and the body.
    struct Input {
        var parameters: [String: String]
        /// Names given more than once.
        var repeated: Set<String>
        var body: ByteBuffer
    }

    /// `{"value": V}`, PUT's body.
    struct SetBody: Decodable {
        var value: String
    }

    /// One entry of GET's answer.
    struct SecretNameItem: Encodable {
        var name: String
    }

    struct MessageBody: Encodable {
        var message: String
    }

    /// Authenticates (Bearer or X-API-Key), checks `teamId`, runs `body`, and
    /// turns every refusal and failure into `{"message": …}` with the status
    /// the other routes give it.
    func answer(_ request: Request, _ context: ServerRequestContext, action: String, readsBody: Bool = false,
                _ body: (ActingKey, Input) async throws -> Response) async -> Response {
        let key: ActingKey
        do {
            let presented = context.presentedKey(request)
            guard let token = try presented.token.get(), !token.isEmpty else {
                throw ServerRefusal.unauthenticated("no API key was given (gradient sends PAPERSPACE_API_KEY in the X-API-Key header)")
            }
            key = try await store.authenticate(presented)
        } catch let refusal as ServerRefusal {
            await store.refusals.note(client: context.client, action: action)
            return Self.message(.unauthorized, refusal.description)
        } catch {
            return failure(error)
        }
        context.note.keyName = key.name
        let (parameters, repeated) = Self.queryParameters(request.uri.query)
        var input = Input(parameters: parameters, repeated: repeated, body: ByteBuffer())
        if let twice = ["teamId", "projectId", "clusterId"].first(where: repeated.contains) {
            return Self.message(.badRequest, "\(twice) is given more than once; give it once")
        }
        if readsBody {
            do {
                input.body = try await request.body.collect(upTo: API.maximumBodyBytes)
            } catch {
                return Self.message(.contentTooLarge, "the request body is over \(API.maximumBodyBytes) bytes")
            }
        }
        if let given = input.parameters["teamId"], let teamID, given != teamID {
            return Self.message(.notFound, "there is no team '\(ServerStore.shown(given))' on this server (it serves team '\(teamID)')")
        }
        do {
            return try await body(key, input)
        } catch {
            return failure(error)
        }
    }

    func failure(_ error: any Error) -> Response {
        let (status, message, _) = routes.refusal(error)
        return Self.message(status, message)
    }

    /// The path's secret name, percent-decoded, checked with the CLI's words.
    static func name(_ context: ServerRequestContext) throws -> String {
        let raw = context.parameters.get("name") ?? ""
        let name = percentDecoded(Substring(raw), plusIsSpace: false) ?? raw
        do {
            try SecretInputError.checkName(name)
        } catch .invalidName(_) {
            throw ServerRefusal.invalid(SecretInputError.invalidName(shown(name)).description)
        } catch {
            throw ServerRefusal.invalid(error.description)
        }
        return name
    }

    /// A refused name as a message may show it: as given when it is printable
    /// (the message quotes and cuts it), else its length.
    static func shown(_ name: String) -> String {
        name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) })
            ? name : "<\(name.utf8.count) bytes>"
    }

    static func scope(_ kind: Scope.Kind, _ input: Input, _ idParameter: String?) throws -> Scope {
        let id = idParameter.flatMap { input.parameters[$0] }
        do {
            return try Scope(kind: kind, id: id)
        } catch {
            throw ServerRefusal.invalid(error.description)
        }
    }

    static func decodeBody(_ bytes: ByteBuffer) throws -> SetBody {
        do {
            let data = bytes.readableBytes == 0 ? Data("{}".utf8) : Data(bytes.readableBytesView)
            return try JSONDecoder().decode(SetBody.self, from: data)
        } catch let error as DecodingError {
            throw ServerRefusal.invalid(Routes.describe(error))
        } catch {
            throw ServerRefusal.invalid("the request body is not valid JSON")
        }
    }

    /// `a=1&b=2` as form encoding reads it (`+` is a space, `%XX` a byte),
    /// and the names given more than once (the first counts). A part that
    /// does not decode is left out.
    static func queryParameters(_ query: String?) -> (parameters: [String: String], repeated: Set<String>) {
        guard let query else { return ([:], []) }
        var parameters: [String: String] = [:]
        var repeated: Set<String> = []
        for part in query.split(separator: "&") {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecoded(pair[0], plusIsSpace: true),
                  let value = percentDecoded(pair.count > 1 ? pair[1] : "", plusIsSpace: true) else { continue }
            if parameters[name] == nil { parameters[name] = value } else { repeated.insert(name) }
        }
        return (parameters, repeated)
    }

    /// `%XX` decoded (and `+` as a space when asked); nil when an escape is
    /// broken or the bytes are not UTF-8.
    static func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        func hex(_ byte: UInt8?) -> UInt8? {
            switch byte {
            case let b? where b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"): b - UInt8(ascii: "0")
            case let b? where b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
            case let b? where b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = hex(iterator.next()), let low = hex(iterator.next()) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("[]".utf8)
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func noContent() -> Response {
        Response(status: .noContent, headers: [.cacheControl: "no-store"])
    }

    /// `{"message": …}`, the one field gradient reads.
    static func message(_ status: HTTPResponse.Status, _ text: String) -> Response {
        json(status, MessageBody(message: text))
    }
}
