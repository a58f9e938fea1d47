import AsyncHTTPClient
import CryptoExtras
import Foundation
import Hummingbird
import JWTKit
import NIOConcurrencyHelpers
import NIOCore
import SecretFillJWT
#if canImport(Glibc)
import Glibc
#endif

/// An OIDC issuer on loopback: its discovery document and its key set as
/// files that `python3 -m http.server` serves, which a test changes (key
/// rollover) while it runs. A process of its own: it answers even while the
/// test process's cooperative threads are all busy (Swift Testing runs the
/// suite's blocking process waits on them), which an in-process server
/// cannot, and OpenBao's JWKS fetches would time out.
public final class TestIssuer: @unchecked Sendable {
    let process: Process
    let folder: URL
    public let port: Int
    public var issuer: String { "http://127.0.0.1:\(port)" }
    public var jwksURL: String { issuer + "/jwks" }

    private init(process: Process, folder: URL, port: Int) {
        self.process = process
        self.folder = folder
        self.port = port
    }

    public static func start() async throws -> TestIssuer {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("oidc-issuer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent(".well-known"), withIntermediateDirectories: true)
        var lastFailure = "no attempt"
        for _ in 0..<5 {
            let port = try OpenBaoDev.freePort()
            let base = "http://127.0.0.1:\(port)"
            try Data(#"{"issuer":"\#(base)","jwks_uri":"\#(base)/jwks","id_token_signing_alg_values_supported":["RS256"]}"#.utf8)
                .write(to: folder.appendingPathComponent(".well-known/openid-configuration"))
            try Data(#"{"keys":[]}"#.utf8).write(to: folder.appendingPathComponent("jwks"))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", folder.path]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SECRETFILL_") }
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let issuer = TestIssuer(process: process, folder: folder, port: port)
            for _ in 0..<100 {
                if !process.isRunning { break }
                if let (status, _) = try? await Self.get(base + "/jwks"), status == 200 { return issuer }
                try await Task.sleep(for: .milliseconds(100))
            }
            lastFailure = "python3 -m http.server on port \(port) did not answer"
            issuer.stop()
        }
        throw TestFailure("the loopback issuer did not start: \(lastFailure)")
    }

    static func get(_ url: String) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    /// Replaces the key set the issuer serves (written whole, then renamed into place).
    public func publish(_ keys: [TestKey]) {
        let text = "{\"keys\":[" + keys.map(\.publicJWK).joined(separator: ",") + "]}"
        let temporary = folder.appendingPathComponent("jwks.tmp")
        try? Data(text.utf8).write(to: temporary)
        _ = rename(temporary.path, folder.appendingPathComponent("jwks").path)
    }

    /// Serves `keys` only behind a redirect: the discovery document's
    /// `jwks_uri` names `/moved`, a folder, which python answers with 301 to
    /// `/moved/`, whose index is the key set.
    public func publishBehindRedirect(_ keys: [TestKey]) throws {
        let moved = folder.appendingPathComponent("moved")
        try FileManager.default.createDirectory(at: moved, withIntermediateDirectories: true)
        let text = "{\"keys\":[" + keys.map(\.publicJWK).joined(separator: ",") + "]}"
        try Data(text.utf8).write(to: moved.appendingPathComponent("index.html"))
        try Data(#"{"issuer":"\#(issuer)","jwks_uri":"\#(issuer)/moved","id_token_signing_alg_values_supported":["RS256"]}"#.utf8)
            .write(to: folder.appendingPathComponent(".well-known/openid-configuration"))
    }

    /// SIGKILL: a SIGTERM the test runner ignores is ignored by its children too, and python would not stop.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: folder)
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Claims as a test mints them.
public struct MintedClaims: JWTPayload {
    public var claims: [String: ClaimValue]
    public init(_ claims: [String: ClaimValue]) { self.claims = claims }
    public init(from decoder: any Decoder) throws { claims = try decoder.singleValueContainer().decode([String: ClaimValue].self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(claims)
    }
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// A signing key of the test issuer, and its public JWK.
public struct TestKey: Sendable {
    public enum Kind: Sendable {
        case rsa(JWTKit.Insecure.RSA.PrivateKey)
        case p256(ES256PrivateKey)
        case p384(ES384PrivateKey)
        case p521(ES512PrivateKey)
        case ed(EdDSA.PrivateKey)
    }
    public let kid: String
    public let kind: Kind

    public static func rsa(_ kid: String) throws -> TestKey {
        TestKey(kid: kid, kind: .rsa(try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))))
    }
    public static func p256(_ kid: String) -> TestKey { TestKey(kid: kid, kind: .p256(ES256PrivateKey())) }
    public static func p384(_ kid: String) -> TestKey { TestKey(kid: kid, kind: .p384(ES384PrivateKey())) }
    public static func p521(_ kid: String) -> TestKey { TestKey(kid: kid, kind: .p521(ES512PrivateKey())) }
    public static func ed(_ kid: String) throws -> TestKey { TestKey(kid: kid, kind: .ed(try EdDSA.PrivateKey(curve: .ed25519))) }

    public var publicJWK: String {
        switch kind {
        case .rsa(let key):
            let primitives = try! key.publicKey.getKeyPrimitives()
            return #"{"kty":"RSA","kid":"\#(kid)","use":"sig","n":"\#(Self.b64(primitives.modulus))","e":"\#(Self.b64(primitives.publicExponent))"}"#
        case .p256(let key): return Self.ec(kid, "P-256", key.publicKey.parameters!)
        case .p384(let key): return Self.ec(kid, "P-384", key.publicKey.parameters!)
        case .p521(let key): return Self.ec(kid, "P-521", key.publicKey.parameters!)
        case .ed(let key): return #"{"kty":"OKP","crv":"Ed25519","kid":"\#(kid)","use":"sig","x":"\#(Self.b64(key.publicKey.rawRepresentation))"}"#
        }
    }

    /// The public key as PEM (what an HS256 forgery uses as its secret).
    public var publicPEM: String {
        switch kind {
        case .rsa(let key): key.publicKey.pemRepresentation
        case .p256(let key): key.publicKey.pemRepresentation
        case .p384(let key): key.publicKey.pemRepresentation
        case .p521(let key): key.publicKey.pemRepresentation
        case .ed(let key): key.publicKey.pemRepresentation
        }
    }

    static func ec(_ kid: String, _ curve: String, _ parameters: ECDSAParameters) -> String {
        #"{"kty":"EC","crv":"\#(curve)","kid":"\#(kid)","use":"sig","x":"\#(parameters.x)","y":"\#(parameters.y)"}"#
    }

    public static func b64(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// A JWT signed by jwt-kit with this key; `alg` picks the RSA family
    /// member (RS or PS, 256 to 512); `withKid: false` leaves `kid` out.
    public func sign(_ claims: [String: ClaimValue], alg: String? = nil, withKid: Bool = true, kidOverride: String? = nil) async throws -> String {
        let collection = JWTKeyCollection()
        switch kind {
        case .rsa(let key):
            let alg = alg ?? "RS256"
            let digest: DigestAlgorithm = alg.hasSuffix("384") ? .sha384 : alg.hasSuffix("512") ? .sha512 : .sha256
            if alg.hasPrefix("PS") { await collection.add(pss: key, digestAlgorithm: digest) } else { await collection.add(rsa: key, digestAlgorithm: digest) }
        case .p256(let key): await collection.add(ecdsa: key)
        case .p384(let key): await collection.add(ecdsa: key)
        case .p521(let key): await collection.add(ecdsa: key)
        case .ed(let key): await collection.add(eddsa: key)
        }
        var header = JWTHeader()
        if withKid { header.kid = kidOverride ?? kid }
        return try await collection.sign(MintedClaims(claims), header: header)
    }

    /// An HS256 token whose secret is `secret` (the forgery that passes where a verifier lets `alg` pick HMAC with a public key).
    public static func signHMAC(_ claims: [String: ClaimValue], secret: String, digest: DigestAlgorithm = .sha256, kid: String?) async throws -> String {
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
        var header = JWTHeader()
        if let kid { header.kid = kid }
        return try await collection.sign(MintedClaims(claims), header: header)
    }

    /// `alg: none`, with an empty signature or a made-up one.
    public static func unsigned(_ claims: [String: ClaimValue], kid: String?, signature: String = "") throws -> String {
        var header: [String: ClaimValue] = ["alg": .string("none"), "typ": .string("JWT")]
        if let kid { header["kid"] = .string(kid) }
        return b64(try JSONEncoder().encode(header)) + "." + b64(try JSONEncoder().encode(claims)) + "." + signature
    }
}

/// `bao server -dev` on a free loopback port: in memory, root token `root`,
/// its HOME a folder of the test's own, an environment without SECRETFILL_*.
public final class OpenBaoDev: @unchecked Sendable {
    let process: Process
    public let address: String
    let folder: URL

    public init(bao: String) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("openbao-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let port = try Self.freePort()
        address = "http://127.0.0.1:\(port)"
        process = Process()
        process.executableURL = URL(fileURLWithPath: bao)
        process.arguments = ["server", "-dev", "-dev-root-token-id=root", "-dev-listen-address=127.0.0.1:\(port)"]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SECRETFILL_") && !$0.key.hasPrefix("BAO_") && !$0.key.hasPrefix("VAULT_") }
        environment["HOME"] = folder.path
        process.environment = environment
        let log = folder.appendingPathComponent("bao.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: folder)
    }

    /// Waits for the dev server to answer, up to 30 s.
    public func waitUntilReady() async throws {
        for _ in 0..<300 {
            if let (status, _) = try? await call("GET", "/v1/sys/health"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOf: folder.appendingPathComponent("bao.log"), encoding: .utf8)) ?? ""
        throw TestFailure("bao server -dev did not answer within 30 s; its log: \(log.suffix(2000))")
    }

    @discardableResult
    public func call(_ method: String, _ path: String, _ body: [String: Any]? = nil, token: String? = "root") async throws -> (Int, String) {
        var request = HTTPClientRequest(url: address + path)
        request.method = method == "GET" ? .GET : .POST
        if let token { request.headers.add(name: "X-Vault-Token", value: token) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let data = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: data))
    }

    /// Must answer 2xx.
    public func configure(_ method: String, _ path: String, _ body: [String: Any]) async throws {
        let (status, text) = try await call(method, path, body)
        guard (200..<300).contains(status) else { throw TestFailure("\(method) \(path) answered \(status): \(text)") }
    }

    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("no socket") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0 else { throw TestFailure("cannot bind a loopback port") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
