import Hummingbird
import HTTPTypes
import NIOSSL

/// What `serve` accepts of TLS: version 1.2 at least, and on 1.2 only
/// ECDHE key exchange with an AEAD cipher (no CBC, no SHA-1 MAC, no static
/// RSA). TLS 1.3's suites are all AEAD and are left as BoringSSL has them.
enum TLSPolicy {
    static let tls12Ciphers: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]

    static func apply(to configuration: inout TLSConfiguration) {
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = tls12Ciphers
    }
}

/// `Strict-Transport-Security` on every answer over HTTPS: a browser that
/// has seen it once never falls back to plain HTTP for this host for a year.
struct StrictTransportSecurityMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    static let value = "max-age=31536000"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("Strict-Transport-Security")!] = Self.value
        return response
    }
}
