import AsyncHTTPClient
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import SecretFill
import SecretFillAPI
import Foundation

/// The CLI's side of the HTTP API: one JSON request per call, TLS
/// verification on (`--ca-file` adds a CA), every request done within 10 s.
public final class TeamClient: TeamService {
    let endpoint: ServerEndpoint
    let http: HTTPClient

    public init(_ endpoint: ServerEndpoint) throws(ClientFailure) {
        self.endpoint = endpoint
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        // TLS 1.2 at least, and on 1.2 only ECDHE with AEAD ciphers (no CBC, no SHA-1).
        tls.minimumTLSVersion = .tlsv12
        tls.cipherSuites = "ECDHE+AESGCM:ECDHE+CHACHA20"
        if let caFile = endpoint.caFile {
            do {
                let extra = try NIOSSLCertificate.fromPEMFile(caFile)
                tls.trustRoots = .default
                tls.additionalTrustRoots = [.certificates(extra)]
            } catch {
                throw .other("cannot read --ca-file \(caFile): it is not a PEM certificate file")
            }
        }
        http = Self.client(tls: tls, readSeconds: Int64(Self.requestSeconds))
        self.tls = tls
    }

    /// An HTTP client to the server: TLS as configured, no redirects, HTTP/1.1,
    /// giving up when no byte comes for `readSeconds`.
    static func client(tls: TLSConfiguration, readSeconds: Int64) -> HTTPClient {
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(5), read: .seconds(readSeconds)))
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    let tls: TLSConfiguration
    /// Whether the server's certificate was found to name the URL's host (`CertificateNames`).
    private let namesChecked = NIOLockedValueBox(false)

    /// Once per client, before its first request to an https:// URL that names a host.
    func checkCertificateNames(where_: String) async throws(ClientFailure) {
        guard endpoint.url.hasPrefix("https://"), !namesChecked.withLockedValue({ $0 }) else { return }
        let host = ServerEndpoint.host(of: endpoint.url)
        guard CertificateNames.isDNSName(host) else { return }
        let port = ServerEndpoint.port(of: endpoint.url) ?? 443
        try await CertificateNames.check(host: host, port: port, tls: tls, where_: where_)
        namesChecked.withLockedValue { $0 = true }
    }


    public func shutdown() async {
        try? await http.shutdown()
    }

    /// The short-lived token of an OIDC exchange, made once per client (so once per process).
    private let exchanged = NIOLockedValueBox<Task<String, any Error>?>(nil)

    /// The API key to send: the endpoint's, else the role's short-lived token (exchanged at the first request).
    func bearer() async throws(ClientFailure) -> String? {
        if let token = endpoint.token { return token }
        guard let oidc = endpoint.oidc else { return nil }
        let task = exchanged.withLockedValue { task in
            if let task { return task }
            let made = Task { () async throws -> String in try await self.exchangeOIDC(oidc).token }
            task = made
            return made
        }
        do { return try await task.value } catch let failure as ClientFailure { throw failure } catch { throw .unavailable("the OIDC exchange failed") }
    }

    /// `POST /v1/auth/oidc`: the job's OIDC token for the role's short-lived token.
    /// A refusal says which check failed (`.refused`, exit 77), never the token.
    public func exchangeOIDC(_ oidc: OIDCCredential) async throws(ClientFailure) -> OIDCExchangeResponse {
        do {
            return try await send("/v1/auth/oidc", OIDCExchangeRequest(role: oidc.role, jwt: oidc.jwt), bearer: nil)
        } catch .refused(let message) {
            throw .refused("the server refused the OIDC token for role '\(Self.shown(oidc.role))': \(message)")
        }
    }

    static func shown(_ text: String) -> String {
        text.utf8.count <= 128 && text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "'") }) ? text : "<\(text.utf8.count) bytes>"
    }

    public func post<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body, as: Answer.Type = Answer.self) async throws(ClientFailure) -> Answer {
        try await send(path, body, bearer: try await bearer())
    }

    func send<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body, bearer: String?, as: Answer.Type = Answer.self) async throws(ClientFailure) -> Answer {
        let where_ = "the secretfill server at \(endpoint.url)"
        var request = HTTPClientRequest(url: endpoint.url + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        if let token = bearer { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        do {
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        } catch {
            throw .invalid("cannot encode the request")
        }
        try await checkCertificateNames(where_: where_)
        let status: HTTPResponseStatus
        let bytes: ByteBuffer
        do {
            // One deadline for the whole exchange, the body included: a
            // server that trickles a byte every few seconds is given up at
            // 10 s, not 10 s after each read.
            let http = self.http
            let request = request
            (status, bytes) = try await Self.within(seconds: Self.requestSeconds) {
                let response = try await http.execute(request, deadline: .now() + .seconds(Int64(Self.requestSeconds)))
                return (response.status, try await response.body.collect(upTo: 64 << 20))
            }
        } catch is RequestTimedOut {
            throw .unavailable("\(where_) did not answer within \(Self.requestSeconds) s")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw .unavailable("\(where_) did not answer within \(Self.requestSeconds) s")
        } catch let error as NIOSSLError {
            throw .unavailable("cannot reach \(where_): TLS failed (\(error)); for a private CA give --ca-file")
        } catch {
            throw .unavailable("cannot reach \(where_) (\(Self.describe(error)))")
        }
        let data = Data(bytes.readableBytesView)
        if status == .ok {
            do { return try JSONDecoder().decode(Answer.self, from: data) } catch {
                throw .unavailable("\(where_) sent an answer this secretfill cannot read")
            }
        }
        throw Self.failure(status: status, body: data, where_: where_, url: endpoint.url)
    }

    /// A refusal's words (the JSON error's `error`) as the failure its status means.
    static func failure(status: HTTPResponseStatus, body data: Data, where_: String, url: String? = nil) -> ClientFailure {
        var message = (try? JSONDecoder().decode(ErrorBody.self, from: data))?.error ?? "HTTP \(status.code)"
        // The server does not know the address the CLI reaches it at: the hint names it.
        if let url, status.code == 401 { message = message.replacing("run secretfill login", with: "run `secretfill login --server \(url)`") }
        switch status.code {
        case 401, 403: return .refused(message)
        case 400, 413: return .invalid(message)
        case 404: return .notFound(message)
        case 500...: return .unavailable("\(where_) failed: \(message)")
        default: return .other(message)
        }
    }

    /// Seconds a whole request may take, from connecting to the last byte of the answer.
    static let requestSeconds = 10

    struct RequestTimedOut: Error {}

    /// Runs `body`, cancelling it after `seconds` (AsyncHTTPClient's own
    /// deadline stops at the answer's head; its body can still trickle).
    static func within<R: Sendable>(seconds: Int, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw RequestTimedOut() }
            return result
        }
    }

    /// A short reason for the person at the terminal (no NIO internals).
    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOCore.IOError { return String(cString: strerror(error.errnoCode)).lowercased() }
        if let error = error as? HTTPClientError, error == .remoteConnectionClosed { return "the server closed the connection" }
        if let error = error as? ChannelError, error == .ioOnClosedChannel { return "the connection was closed" }
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text.count <= 200 ? text : String(text.prefix(200))
    }
}
