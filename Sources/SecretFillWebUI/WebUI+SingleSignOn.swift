import Hummingbird
import HTTPTypes
import NIOCore

/// Issue 25: people sign in through the company's identity provider
/// (OpenID Connect). The pages start the sign-in and end it; the server
/// (`WebUISingleSignOn`) keeps the pending sign-ins, talks to the provider,
/// checks the ID token and the member list, and makes the session.
public protocol WebUISingleSignOn: Sendable {
    /// `--oidc-name`: "Sign in with <name>".
    var providerName: String { get }
    /// The provider's authorization endpoint's origin (`https://login.acme.dev`):
    /// the sign-in page's CSP lets its form lead there (`form-action` holds
    /// for the redirect after a form too).
    var providerOrigin: String { get }
    /// Starts a sign-in for the browser whose pending-sign-in cookie has
    /// this digest: the provider's address to send the browser to. `cli`:
    /// for `secretfill login`, whose loopback address gets the result.
    func begin(binding: String, cli: CLISignIn?, client: String) async throws -> String
    /// Ends one from the provider's redirect. `binding` is the digest of
    /// the browser's pending-sign-in cookie (nil when it sent none).
    func finish(_ callback: SignInCallback, binding: String?, client: String) async -> SignInOutcome
}

/// `secretfill login`'s part of a sign-in: where its loopback listener
/// waits (`http://127.0.0.1:PORT/callback?state=…`) and the S256 challenge of
/// its own PKCE verifier.
public struct CLISignIn: Sendable {
    public var redirect: String
    public var challenge: String

    public init(redirect: String, challenge: String) {
        self.redirect = redirect
        self.challenge = challenge
    }
}

/// The provider's redirect back: its query's fields, as they came (never logged or shown).
public struct SignInCallback: Sendable {
    public var code: String?
    public var state: String?
    /// The provider's `error` (`access_denied`, …).
    public var error: String?

    public init(code: String?, state: String?, error: String?) {
        self.code = code
        self.state = state
        self.error = error
    }
}

/// How a sign-in through the provider ended.
public enum SignInOutcome: Sendable {
    /// A session was made: its id, for the session cookie.
    case session(id: String)
    /// A CLI sign-in: the browser goes on to the CLI's loopback address with a one-time code.
    case redirect(String)
    /// Refused: a page says why in words (never a code, a token or a secret).
    case refused(status: HTTPResponse.Status, title: String, words: String)
    /// The database or the provider could not be reached.
    case unavailable
}

extension WebUI {
    /// The short-lived cookie that binds a pending sign-in to this browser.
    /// `SameSite=Lax`: the provider's redirect back is a cross-site
    /// navigation, on which a `Strict` cookie is not sent.
    public static let pendingCookie = "sf_oidc"
    /// A pending sign-in lasts this long.
    public static let pendingSeconds = 600

    func addSingleSignOnRoutes<Context: WebUIRequestContext>(to group: RouterGroup<Context>) {
        group.post("/ui/oidc/start") { request, context in await self.startSingleSignOn(request, context) }
        group.get("/ui/oidc/callback") { request, context in await self.finishSingleSignOn(request, context) }
        group.get("/ui/oidc/cli") { request, context in await self.startCLISignOn(request, context) }
    }

    func startSingleSignOn<Context: WebUIRequestContext>(_ request: Request, _ context: Context) async -> Response {
        guard let singleSignOn else { return Self.noSingleSignOn(self) }
        let form: SignInForm
        switch await readForm(SignInForm.self, request, limits: Self.signInFormLimits) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        guard signInNonceMatches(form.csrf, request) else { return signInFormRefusal() }
        return await begin(singleSignOn, cli: nil, context)
    }

    /// A pending sign-in bound to this browser by a fresh Lax cookie, and the browser sent on to the provider.
    func begin<Context: WebUIRequestContext>(_ singleSignOn: any WebUISingleSignOn, cli: CLISignIn?, _ context: Context) async -> Response {
        let binding = SessionTokens.random()
        let location: String
        do {
            location = try await singleSignOn.begin(binding: SessionTokens.digest(binding), cli: cli, client: context.webUIClient)
        } catch {
            return unavailable(session: nil)
        }
        var response = Self.redirect(location)
        response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.pendingCookie, binding, maxAge: Self.pendingSeconds, sameSite: "Lax")))
        return response
    }

    static func noSingleSignOn(_ web: WebUI) -> Response {
        web.message(status: .notFound, title: "No single sign-on", "this server has no identity provider configured (serve --oidc-issuer)", back: "/", session: nil)
    }

    /// `secretfill login` opens this in the person's browser:
    /// `/ui/oidc/cli?port=P&state=S&challenge=C` (the CLI's loopback port,
    /// its own state, and the S256 challenge of its verifier).
    func startCLISignOn<Context: WebUIRequestContext>(_ request: Request, _ context: Context) async -> Response {
        guard let singleSignOn else { return Self.noSingleSignOn(self) }
        let query = request.uri.queryParameters
        guard let port = query.get("port").flatMap({ Int($0) }), (1024...65535).contains(port),
              let state = query.get("state"), SessionTokens.isWellFormed(state),
              let challenge = query.get("challenge"), SessionTokens.isWellFormed(challenge) else {
            return message(status: .badRequest, title: "Not a sign-in", "this address is for secretfill login, which gives it a loopback port, a state and a PKCE challenge; run secretfill login --server URL", back: "/", session: nil)
        }
        return await begin(singleSignOn, cli: CLISignIn(redirect: "http://127.0.0.1:\(port)/callback?state=\(state)", challenge: challenge), context)
    }

    func finishSingleSignOn<Context: WebUIRequestContext>(_ request: Request, _ context: Context) async -> Response {
        guard let singleSignOn else { return Self.noSingleSignOn(self) }
        let query = request.uri.queryParameters
        let callback = SignInCallback(code: query.get("code"), state: query.get("state"), error: query.get("error"))
        let binding = cookieValue(request, Self.pendingCookie).flatMap { SessionTokens.isWellFormed($0) ? SessionTokens.digest($0) : nil }
        let outcome = await singleSignOn.finish(callback, binding: binding, client: context.webUIClient)
        var response: Response
        switch outcome {
        case .session(let id):
            // A page of this server that moves on to /ui/team: that navigation
            // is same-site, so the Strict session cookie goes with it (a
            // redirect straight from the provider's site would not send it).
            response = render("signed-in", title: "Signed in", status: .ok, data: ["refresh": "/ui/team"], session: nil, nav: nil)
            response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.sessionCookie, id, maxAge: nil)))
        case .redirect(let location):
            response = Self.redirect(location)
        case .refused(let status, let title, let words):
            response = render("sign-in-refused", title: title, status: status, data: ["title": title, "message": words, "provider": singleSignOn.providerName],
                              session: nil, nav: nil)
        case .unavailable:
            response = unavailable(session: nil)
        }
        response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.pendingCookie, "", maxAge: 0, sameSite: "Lax")))
        return response
    }
}
