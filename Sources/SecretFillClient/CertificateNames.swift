import NIOCore
import NIOTLS
import NIOPosix
import NIOSSL
import SecretFillAPI
import X509

/// The host check the CLI adds to TLS: a server whose URL names a host by
/// its DNS name must present a certificate whose DNS names (its subject
/// alternative names) include that name. swift-nio-ssl's own check, which
/// AsyncHTTPClient uses, also accepts a certificate whose IP address entry
/// matches the address it connected to, so a certificate made for
/// 10.0.0.5 would pass for `https://secrets.acme.example` when that name
/// resolves there. AsyncHTTPClient gives no hook into its verification, so
/// this is one TLS handshake of its own (the chain verified as the
/// requests' are), made once per program run before the first request.
enum CertificateNames {
    /// Whether `host` (as written in the URL) is a DNS name rather than an IP literal.
    static func isDNSName(_ host: String) -> Bool {
        if host.contains(":") { return false }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        let ipv4 = parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        return !ipv4
    }

    /// RFC 6125 matching: case-insensitive, a wildcard only as the whole
    /// leftmost label, matching exactly one label.
    static func matches(_ pattern: String, host: String) -> Bool {
        let pattern = pattern.lowercased().hasSuffix(".") ? String(pattern.lowercased().dropLast()) : pattern.lowercased()
        let host = host.lowercased().hasSuffix(".") ? String(host.lowercased().dropLast()) : host.lowercased()
        if pattern == host { return true }
        guard pattern.hasPrefix("*.") else { return false }
        let suffix = pattern.dropFirst(1)
        guard host.hasSuffix(suffix), suffix.split(separator: ".").count >= 2 else { return false }
        let first = host.dropLast(suffix.count)
        return !first.isEmpty && !first.contains(".")
    }

    /// The DNS names of a certificate's subject alternative names.
    static func dnsNames(_ certificate: NIOSSLCertificate) throws -> [String] {
        let parsed = try Certificate(derEncoded: try certificate.toDERBytes())
        guard let names = try parsed.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            if case .dnsName(let dns) = name { return dns }
            return nil
        }
    }

    /// Connects to `host:port`, completes a TLS handshake with `tls` (chain
    /// verified, names left to this check), and refuses a certificate that
    /// does not name `host` among its DNS names.
    static func check(host: String, port: Int, tls: TLSConfiguration, where_: String) async throws(ClientFailure) {
        var configuration = tls
        configuration.certificateVerification = .noHostnameVerification
        let names: [String]
        do {
            let context = try NIOSSLContext(configuration: configuration)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: host))
                        try channel.pipeline.syncOperations.addHandler(HandshakeWait(promise: channel.eventLoop.makePromise()))
                    }
                }
                .connect(host: host, port: port).get()
            defer { channel.close(promise: nil) }
            let wait = try await channel.pipeline.handler(type: HandshakeWait.self).get()
            try await wait.promise.futureResult.get()
            guard let certificate = try await channel.nioSSL_peerCertificate().get() else {
                throw ClientFailure.unavailable("cannot reach \(where_): it presented no certificate")
            }
            names = try dnsNames(certificate)
        } catch let failure as ClientFailure {
            throw failure
        } catch let error as NIOSSLError {
            throw .unavailable("cannot reach \(where_): TLS failed (\(error)); for a private CA give --ca-file")
        } catch {
            throw .unavailable("cannot reach \(where_) (\(TeamClient.describe(error)))")
        }
        guard names.contains(where: { matches($0, host: host) }) else {
            let shown = names.prefix(5).map { "'\($0)'" }.joined(separator: ", ")
            throw .unavailable("cannot reach \(where_): its certificate does not name \(host) among its DNS names (it names \(shown.isEmpty ? "none" : shown)); an IP address entry is not enough for a URL that names a host")
        }
    }
}

/// Completes `promise` when the TLS handshake has completed, fails it on an error.
final class HandshakeWait: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    let promise: EventLoopPromise<Void>

    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { promise.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}
