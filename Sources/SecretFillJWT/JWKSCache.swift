import AsyncHTTPClient
import JWTKit
import NIOConcurrencyHelpers
import NIOCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where an issuer's keys come from.
public enum JWKSSource: Sendable, Hashable {
    /// `ISSUER/.well-known/openid-configuration` → `jwks_uri` (https, except on loopback).
    case discovery(issuer: String)
    /// A JWKS document given by an administrator (`--jwks-file`): nothing is fetched.
    case document(String)
}

/// The key sets of issuers: fetched when first needed, kept, and fetched
/// again when a token names a `kid` the set does not hold, at most once per
/// `refetchInterval` per issuer (so a provider's key rollover needs nothing
/// from anyone, and a flood of made-up `kid`s costs the issuer one request
/// each 10 s).
public final class JWKSCache: Sendable {
    struct Entry: Sendable {
        let keys: [JWK]
        let fetchedAt: ContinuousClock.Instant
    }

    let client: HTTPClient
    let refetchInterval: Duration
    private let entries = NIOLockedValueBox<[JWKSSource: Entry]>([:])
    /// Fetches made, for tests and metrics.
    private let fetchCount = NIOLockedValueBox<Int>(0)
    /// Called at each fetch from the issuer (the server counts them in `/metrics`).
    let onFetch: (@Sendable () -> Void)?

    /// The client key fetches use. Redirects are not followed: a discovery
    /// document or key set answering 3xx is refused, so an https issuer
    /// cannot send the server on to a plain-http or internal address that
    /// `requireSecure` never saw. It lives as long as the process, as
    /// `HTTPClient.shared` does.
    public static let fetchClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(5))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(client: HTTPClient = JWKSCache.fetchClient, refetchInterval: Duration = .seconds(10), onFetch: (@Sendable () -> Void)? = nil) {
        self.client = client
        self.refetchInterval = refetchInterval
        self.onFetch = onFetch
    }

    public var fetches: Int { fetchCount.withLockedValue { $0 } }

    /// The source's keys, fetched if not known yet.
    public func keys(for source: JWKSSource) async throws(JWTRefusal) -> [JWK] {
        if let entry = entries.withLockedValue({ $0[source] }) { return entry.keys }
        return try await fetch(source)
    }

    /// The source's keys fetched anew, unless they were fetched less than
    /// `refetchInterval` ago (nil then).
    public func refetch(_ source: JWKSSource) async throws(JWTRefusal) -> [JWK]? {
        if case .document = source { return nil }
        let recent = entries.withLockedValue { entries in
            entries[source].map { ContinuousClock.now - $0.fetchedAt < refetchInterval } ?? false
        }
        if recent { return nil }
        return try await fetch(source)
    }

    /// Forgets every source's keys.
    public func clear() { entries.withLockedValue { $0.removeAll() } }

    func fetch(_ source: JWKSSource) async throws(JWTRefusal) -> [JWK] {
        let keys: [JWK]
        switch source {
        case .document(let text):
            keys = try Self.parse(Data(text.utf8))
        case .discovery(let issuer):
            fetchCount.withLockedValue { $0 += 1 }
            onFetch?()
            let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
            let discoveryURL = base + "/.well-known/openid-configuration"
            try Self.requireSecure(discoveryURL, what: "the issuer")
            let document = try await get(discoveryURL)
            guard let parsed = try? JSONDecoder().decode([String: ClaimValue].self, from: document),
                  let jwksURI = parsed["jwks_uri"]?.stringValue else {
                throw .keysUnavailable("the discovery document at \(JWTRefusal.shown(discoveryURL)) has no jwks_uri")
            }
            try Self.requireSecure(jwksURI, what: "jwks_uri")
            keys = try Self.parse(try await get(jwksURI))
        }
        let entry = Entry(keys: keys, fetchedAt: .now)
        entries.withLockedValue { $0[source] = entry }
        return keys
    }

    func get(_ url: String) async throws(JWTRefusal) -> Data {
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await client.execute(request, timeout: .seconds(5))
            guard response.status == .ok else {
                throw JWTRefusal.keysUnavailable("\(JWTRefusal.shown(url)) answered \(response.status.code)")
            }
            let body = try await response.body.collect(upTo: 1 << 20)
            return Data(body.readableBytesView)
        } catch let refusal as JWTRefusal {
            throw refusal
        } catch {
            throw .keysUnavailable("\(JWTRefusal.shown(url)) could not be read")
        }
    }

    /// https, or http to a loopback address written as such.
    public static func requireSecure(_ url: String, what: String) throws(JWTRefusal) {
        if url.hasPrefix("https://") { return }
        if url.hasPrefix("http://") {
            let rest = url.dropFirst("http://".count)
            let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            var host = authority.split(separator: "@").last.map(String.init) ?? ""
            if host.hasPrefix("[") { host = String(host.dropFirst().prefix { $0 != "]" }) } else { host = String(host.prefix { $0 != ":" }) }
            if isLoopback(host) { return }
        }
        throw .keysUnavailable("\(what) \(JWTRefusal.shown(url)) must use https (plain http only on loopback)")
    }

    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" { return true }
        let parts = lowered.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The keys of a JWKS document; a key jwt-kit cannot read (an unknown
    /// `kty`, an encryption key) is left out rather than failing the set.
    public static func parse(_ data: Data) throws(JWTRefusal) -> [JWK] {
        guard let document = try? JSONDecoder().decode([String: ClaimValue].self, from: data), case .array(let items)? = document["keys"] else {
            throw .keysUnavailable("the key set is not a JWKS document (an object with a keys array)")
        }
        var keys: [JWK] = []
        for item in items {
            if case .object(let fields) = item, fields["use"]?.stringValue == "enc" { continue }
            guard let encoded = try? JSONEncoder().encode(item), let key = try? JSONDecoder().decode(JWK.self, from: encoded) else { continue }
            keys.append(key)
        }
        return keys
    }
}
