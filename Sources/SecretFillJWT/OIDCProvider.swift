import AsyncHTTPClient
import NIOCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Issue 25: the company's identity provider, as `serve --oidc-issuer` sees
/// it. Its discovery document gives the authorization and token endpoints
/// and the keys (`jwks_uri`, through `JWKSCache`); the sign-in is the
/// authorization code flow with PKCE S256, `state` and `nonce`. This type
/// speaks HTTP to the provider; keeping the pending sign-ins and the
/// sessions is the server's.
public struct OIDCProvider: Sendable {
    /// What `serve` was given.
    public struct Settings: Sendable {
        /// Compared exactly as given (no trailing slash added or removed).
        public var issuer: String
        public var clientID: String
        /// Never logged, never shown.
        public var clientSecret: String
        /// `--oidc-name`: the sign-in button's words ("Sign in with …").
        public var displayName: String
        /// `--oidc-groups-claim`.
        public var groupsClaim: String?

        public init(issuer: String, clientID: String, clientSecret: String, displayName: String, groupsClaim: String?) {
            self.issuer = issuer
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.displayName = displayName
            self.groupsClaim = groupsClaim
        }
    }

    /// How the token endpoint is told who the client is.
    public enum ClientAuthentication: String, Sendable {
        /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
        case basic = "client_secret_basic"
        /// `client_id` and `client_secret` in the form, when discovery lists only this.
        case post = "client_secret_post"
    }

    /// Why the provider cannot be used, in words for the person starting `serve`.
    public struct SetupError: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// What went wrong at the token endpoint, in words for the sign-in page
    /// (never the code, the secret or a token).
    public struct ExchangeFailure: Error, Sendable, CustomStringConvertible {
        /// The provider's `error` (`invalid_grant`, …) when it sent one it may show, else a short name of ours.
        public let check: String
        public let description: String
    }

    public let settings: Settings
    public let authorizationEndpoint: String
    public let tokenEndpoint: String
    public let clientAuthentication: ClientAuthentication
    /// The ID token's checks (signature against the issuer's keys, claims, nonce).
    public let check: IDTokenCheck
    let client: HTTPClient

    public init(settings: Settings, authorizationEndpoint: String, tokenEndpoint: String, clientAuthentication: ClientAuthentication,
                check: IDTokenCheck, client: HTTPClient = JWKSCache.fetchClient) {
        self.settings = settings
        self.authorizationEndpoint = authorizationEndpoint
        self.tokenEndpoint = tokenEndpoint
        self.clientAuthentication = clientAuthentication
        self.check = check
        self.client = client
    }

    /// Reads the issuer's discovery document and its keys (so a provider
    /// that cannot be used stops `serve` with a reason, not the first sign-in).
    public static func discover(_ settings: Settings, keys: JWKSCache, client: HTTPClient = JWKSCache.fetchClient) async throws(SetupError) -> OIDCProvider {
        let issuer = settings.issuer
        do { try JWKSCache.requireSecure(issuer, what: "--oidc-issuer") } catch {
            throw SetupError("--oidc-issuer \(JWTRefusal.shown(issuer)) must be an https URL (plain http only on a loopback address: 127.0.0.1, [::1] or localhost)")
        }
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        let discoveryURL = base + "/.well-known/openid-configuration"
        let data: Data
        do { data = try await keys.get(discoveryURL) } catch {
            throw SetupError("cannot read the issuer's discovery document: \(error.description)")
        }
        guard let document = try? JSONDecoder().decode([String: ClaimValue].self, from: data) else {
            throw SetupError("the discovery document at \(JWTRefusal.shown(discoveryURL)) is not a JSON object")
        }
        guard document["issuer"]?.stringValue == issuer else {
            throw SetupError("the discovery document at \(JWTRefusal.shown(discoveryURL)) names the issuer \(document["issuer"]?.stringValue.map(JWTRefusal.shown) ?? "(none)"), not \(JWTRefusal.shown(issuer)) exactly as --oidc-issuer gives it (a trailing slash counts)")
        }
        func endpoint(_ name: String) throws(SetupError) -> String {
            guard let url = document[name]?.stringValue else { throw SetupError("the discovery document at \(JWTRefusal.shown(discoveryURL)) has no \(name)") }
            do { try JWKSCache.requireSecure(url, what: name) } catch { throw SetupError("the discovery document's \(error.description)") }
            return url
        }
        let authorization = try endpoint("authorization_endpoint")
        let token = try endpoint("token_endpoint")
        _ = try endpoint("jwks_uri")
        var methods: [String] = []
        if case .array(let listed)? = document["token_endpoint_auth_methods_supported"] { methods = listed.compactMap(\.stringValue) }
        let authentication: ClientAuthentication
        if methods.isEmpty || methods.contains(ClientAuthentication.basic.rawValue) {
            authentication = .basic
        } else if methods.contains(ClientAuthentication.post.rawValue) {
            authentication = .post
        } else {
            throw SetupError("the issuer's token endpoint takes none of client_secret_basic and client_secret_post (it lists \(methods.map(JWTRefusal.shown).joined(separator: ", ")))")
        }
        do {
            _ = try await keys.keys(for: .discovery(issuer: issuer))
        } catch {
            throw SetupError("cannot read the issuer's keys: \(error.description)")
        }
        let check = IDTokenCheck(verifier: JWTVerifier(keys: keys), issuer: issuer, clientID: settings.clientID, groupsClaim: settings.groupsClaim)
        return OIDCProvider(settings: settings, authorizationEndpoint: authorization, tokenEndpoint: token,
                            clientAuthentication: authentication, check: check, client: client)
    }

    /// Where the browser is sent: the authorization endpoint with the code
    /// flow's parameters (`scope=openid email profile`).
    /// `redirectURI` is `PUBLIC_URL/ui/oidc/callback`, registered at the provider.
    public func authorizationURL(state: String, nonce: String, codeChallenge: String, redirectURI: String) -> String {
        let query = FormEncoding.encode([
            ("response_type", "code"),
            ("client_id", settings.clientID),
            ("redirect_uri", redirectURI),
            ("scope", "openid email profile"),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", codeChallenge),
            ("code_challenge_method", "S256"),
        ])
        return authorizationEndpoint + (authorizationEndpoint.contains("?") ? "&" : "?") + query
    }

    /// The ID token the token endpoint gives for `code` (not checked yet: `check.verify` does that).
    public func exchange(code: String, verifier: String, redirectURI: String) async throws(ExchangeFailure) -> String {
        var fields = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", verifier)]
        var request = HTTPClientRequest(url: tokenEndpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        switch clientAuthentication {
        case .basic:
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let pair = FormEncoding.component(settings.clientID) + ":" + FormEncoding.component(settings.clientSecret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        case .post:
            fields += [("client_id", settings.clientID), ("client_secret", settings.clientSecret)]
        }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(fields)))
        let status: UInt
        let body: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            status = response.status.code
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw ExchangeFailure(check: "token-endpoint", description: "the identity provider's token endpoint could not be reached; try again")
        }
        let answer = (try? JSONDecoder().decode([String: ClaimValue].self, from: Data(body.readableBytesView))) ?? [:]
        guard status == 200 else {
            let code = answer["error"]?.stringValue.flatMap(Self.shownErrorCode)
            let words = switch code {
            case "invalid_grant": "the identity provider did not accept the sign-in code (invalid_grant: it expired, was used already, or was issued for another sign-in); sign in again"
            case "invalid_client", "unauthorized_client": "the identity provider did not accept this server as its client (\(code!)): check --oidc-client-id and --oidc-client-secret-file"
            case let code?: "the identity provider refused the sign-in code (\(code))"
            case nil: "the identity provider's token endpoint answered \(status)"
            }
            throw ExchangeFailure(check: code ?? "token-endpoint", description: words)
        }
        guard let idToken = answer["id_token"]?.stringValue, !idToken.isEmpty else {
            throw ExchangeFailure(check: "malformed", description: "the identity provider's answer holds no ID token")
        }
        return idToken
    }

    /// An OAuth error code as a page may show it: RFC 6749's character set, short.
    public static func shownErrorCode(_ text: String) -> String? {
        guard (1...64).contains(text.utf8.count),
              text.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E }) else { return nil }
        return text
    }
}

/// `application/x-www-form-urlencoded`, as RFC 6749 and the WHATWG URL standard write it.
public enum FormEncoding {
    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { component($0.0) + "=" + component($0.1) }.joined(separator: "&")
    }

    /// Unreserved characters as they are, everything else percent-encoded (a space as `%20`).
    public static func component(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]], as: UTF8.self)
            }
        }
        return out
    }
}
