import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The TLS context `serve` hands each new connection: built from
/// `--tls-cert` and `--tls-key` at the start, built again from the same
/// files on SIGHUP. A connection keeps the context it was accepted with, so
/// a swap never touches one already open.
final class ReloadableTLS: Sendable {
    let certificatePath: String
    let keyPath: String
    private let current: NIOLockedValueBox<NIOSSLContext>

    /// Loads the pair; throws `ServeRefusal` naming both files when it cannot be used.
    init(certificate: String, key: String) throws(ServeRefusal) {
        certificatePath = certificate
        keyPath = key
        current = NIOLockedValueBox(try Self.load(certificate: certificate, key: key))
    }

    var context: NIOSSLContext { current.withLockedValue { $0 } }

    /// The chain and the key read again, under `TLSPolicy`; BoringSSL
    /// refuses a key that does not belong to the chain's first certificate
    /// when the context is built. On failure the context in use stays.
    func reload() throws(ServeRefusal) {
        let fresh = try Self.load(certificate: certificatePath, key: keyPath)
        current.withLockedValue { $0 = fresh }
    }

    static func load(certificate: String, key: String) throws(ServeRefusal) -> NIOSSLContext {
        func refusal(_ reason: String) -> ServeRefusal {
            ServeRefusal("cannot use --tls-cert \(certificate) / --tls-key \(key): \(reason)")
        }
        func problem(_ file: String, _ error: any Error, _ notPEM: String) -> String {
            if let error = error as? IOError { return "\(file): \(ErrorWords.describe(error))" }
            return notPEM
        }
        // NIOSSL says "failed to load" for a missing file as for a bad one: name the file's own problem first.
        for file in [certificate, key] where access(file, R_OK) != 0 {
            throw refusal("\(file): \(String(cString: strerror(errno)).lowercased())")
        }
        let chain: [NIOSSLCertificateSource]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        } catch {
            throw refusal(problem(certificate, error, "\(certificate) is not a PEM certificate chain"))
        }
        guard !chain.isEmpty else { throw refusal("\(certificate) holds no PEM certificate") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw refusal(problem(key, error, "\(key) is not a PEM private key (or it is encrypted)"))
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        TLSPolicy.apply(to: &configuration)
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch NIOSSLError.failedToLoadPrivateKey {
            // The key parsed above, so BoringSSL refused it for not being the certificate's.
            throw refusal("the private key in \(key) is not the key of the first certificate in \(certificate)")
        } catch {
            throw refusal(ErrorWords.describe(error))
        }
    }
}

/// Hummingbird's `TLSChannel`, except that the context is taken from
/// `ReloadableTLS` when each connection is accepted instead of fixed once.
struct ReloadableTLSChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    typealias Value = BaseChannel.Value
    let baseChannel: BaseChannel
    let tls: ReloadableTLS

    init(_ baseChannel: BaseChannel, tls: ReloadableTLS) {
        self.baseChannel = baseChannel
        self.tls = tls
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
        }.flatMap {
            baseChannel.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: BaseChannel.Value, logger: Logger) async {
        await baseChannel.handle(value: value, logger: logger)
    }
}

extension ReloadableTLSChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { baseChannel.responder }
}

/// SIGHUP: the certificate and key read again (`ReloadableTLS.reload`),
/// with a log line either way. Without TLS there is nothing to reload; the
/// signal is logged and the server goes on (SIGHUP's default action would
/// end the process). The signal is trapped when this is made, before the
/// listener opens, so no SIGHUP after "serving on" can end the server.
struct CertificateReloadService: Service {
    let tls: ReloadableTLS?
    let logger: Logger
    let signals: UnixSignalsSequence

    init(tls: ReloadableTLS?, logger: Logger) async {
        self.tls = tls
        self.logger = logger
        signals = await UnixSignalsSequence(trapping: .sighup)
    }

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            reload()
        }
    }

    func reload() {
        guard let tls else {
            logger.notice("SIGHUP: serving plain HTTP, no TLS certificate to reload")
            return
        }
        do {
            try tls.reload()
            logger.notice("TLS certificate reloaded from \(tls.certificatePath) and \(tls.keyPath); new connections use it")
        } catch {
            logger.error("TLS certificate reload refused: \(error.description); still serving the previous one")
        }
    }
}
