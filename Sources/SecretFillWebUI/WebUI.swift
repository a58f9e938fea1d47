import Hummingbird
import HTTPTypes
import Mustache
import NIOCore
import SecretFill
import SecretFillAPI

/// A request context the pages can run in: it knows the client's address
/// (for the audit log).
public protocol WebUIRequestContext: RequestContext {
    var webUIClient: String { get }
}

/// The web UI of `secretfill serve`: server-rendered pages over plain forms
/// (no script; redirect after POST), a session cookie per sign-in, a CSRF
/// token per session, and the backend's grant checks behind every action.
/// No page, header, URL or redirect ever holds a secret value or a token,
/// except the one page that shows a newly created key's token once.
public struct WebUI: Sendable {
    /// No script at all, styles and images from this server only, forms
    /// only to this server, no framing.
    public static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    public static let sessionCookie = "sf_session"
    /// The double-submit cookie the sign-in form is checked against (there is no session yet).
    public static let signInCookie = "sf_signin"
    /// Under TLS both cookies carry this prefix: the browser then accepts
    /// them only with `Secure`, `Path=/` and no `Domain`, so neither a
    /// sibling subdomain nor a plain-HTTP page can plant one.
    public static let hostPrefix = "__Host-"
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    /// Sessions end after this long without a request.
    public static let idleSeconds = 12 * 3600
    /// Forms sent before anyone is signed in (sign-in): small, so a flood
    /// of them costs nothing before the nonce is checked.
    static let signInFormLimits = FormLimits(bytes: 8 << 10, fields: 4)
    /// Forms behind the sign-in: a 1 MiB value and room for the rest.
    static let formLimits = FormLimits(bytes: (1 << 20) + (16 << 10), fields: 20)

    let backend: any WebUIBackend
    /// `Secure` on the cookies: set when serving TLS.
    let secureCookies: Bool
    let library: MustacheLibrary
    /// The company's identity provider (issue 25), when `serve --oidc-issuer` names one.
    let singleSignOn: (any WebUISingleSignOn)?
    /// False with `serve --no-key-sign-in`: the sign-in page offers no key
    /// form, and a key posted to `/sign-in` is refused.
    let keySignIn: Bool

    /// Whether a POST with `Origin: null` and no `Sec-Fetch-Site` is let
    /// through to the CSRF checks: only when serving plain HTTP to other
    /// hosts (`--insecure-http`), where browsers send no fetch metadata and
    /// the pages' no-referrer policy makes their own forms' Origin `null`.
    let opaqueOriginAllowed: Bool

    public init(backend: any WebUIBackend, secureCookies: Bool, opaqueOriginAllowed: Bool = false,
                singleSignOn: (any WebUISingleSignOn)? = nil, keySignIn: Bool = true) throws {
        self.backend = backend
        self.singleSignOn = singleSignOn
        self.keySignIn = keySignIn
        self.secureCookies = secureCookies
        self.opaqueOriginAllowed = opaqueOriginAllowed
        var library = MustacheLibrary()
        for (name, text) in Templates.all { try library.register(text, named: name) }
        self.library = library
    }

    /// Adds `/`, `/sign-in`, `/sign-out` and `/ui/...` to `router`, every
    /// response with the security headers.
    public func addRoutes<Context: WebUIRequestContext>(to router: Router<Context>) {
        let refusal = message(status: .forbidden, title: "Refused",
                              "this form was sent from another site or port, not from this server's own pages; nothing was changed. Open the page on this server and retry",
                              back: "/", session: nil)
        let group = router.group().add(middleware: SecurityHeadersMiddleware<Context>())
            .add(middleware: SameOriginPostMiddleware<Context>(secure: secureCookies, opaqueOriginAllowed: opaqueOriginAllowed, refusal: refusal))
        group.get("/") { request, _ in await self.home(request) }
        group.post("/sign-in") { request, context in await self.signIn(request, context) }
        group.post("/sign-out") { request, context in await self.signOut(request, context) }
        addSingleSignOnRoutes(to: group)
        group.get("/ui/style.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(string: Templates.stylesheet)))
        }
        group.get("/ui/open") { request, context in await self.openScope(request, context) }
        group.get("/ui/secrets") { request, context in await self.signedIn(request, context) { await self.secretsIndex($0, request, context) } }
        for kind in Scope.Kind.allCases {
            let base = kind == .team ? "/ui/team" : "/ui/\(kind.rawValue)/:id"
            group.get(RouterPath(base)) { request, context in await self.withScope(kind, request, context) { await self.secretsPage($0, $1, request, context) } }
            group.post(RouterPath(base + "/add")) { request, context in await self.withScope(kind, request, context) { await self.addSecret($0, $1, request, context) } }
            group.get(RouterPath(base + "/delete")) { request, context in await self.withScope(kind, request, context) { await self.confirmDelete($0, $1, request, context) } }
            group.post(RouterPath(base + "/delete")) { request, context in await self.withScope(kind, request, context) { await self.deleteSecret($0, $1, request, context) } }
            group.get(RouterPath(base + "/history")) { request, context in await self.withScope(kind, request, context) { await self.historyPage($0, $1, request, context) } }
            group.get(RouterPath(base + "/rollback")) { request, context in await self.withScope(kind, request, context) { await self.confirmRollback($0, $1, request, context) } }
            group.post(RouterPath(base + "/rollback")) { request, context in await self.withScope(kind, request, context) { await self.rollbackSecret($0, $1, request, context) } }
        }
        group.get("/ui/keys") { request, context in await self.signedIn(request, context) { await self.keysPage($0, request, context) } }
        group.post("/ui/keys/create") { request, context in await self.signedIn(request, context) { await self.createKey($0, request, context) } }
        group.get("/ui/keys/revoke") { request, context in await self.signedIn(request, context) { await self.confirmRevoke($0, request, context) } }
        group.post("/ui/keys/revoke") { request, context in await self.signedIn(request, context) { await self.revokeKey($0, request, context) } }
        addRoleRoutes(to: group)
        addMemberRoutes(to: group)
        group.get("/ui/audit") { request, context in await self.signedIn(request, context) { await self.auditPage($0, request, context) } }
    }

    // MARK: sign-in and sessions

    func home(_ request: Request) async -> Response {
        if case .some = try? await currentSession(request) { return Self.redirect("/ui/team") }
        return signInPage(status: .ok, error: nil)
    }

    func signInPage(status: HTTPResponse.Status, error: String?) -> Response {
        let nonce = SessionTokens.random()
        var data: [String: Any] = ["csrf": nonce, "keySignIn": keySignIn]
        if let error { data["error"] = error }
        if let singleSignOn { data["provider"] = singleSignOn.providerName }
        var response = render("sign-in", title: "Sign in", status: status, data: data, session: nil, nav: nil)
        if let singleSignOn {
            // "Sign in with …" is a form to this server that redirects to the provider: form-action must allow both.
            response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy.replacing("form-action 'self'", with: "form-action 'self' \(singleSignOn.providerOrigin)")
        }
        response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.signInCookie, nonce, maxAge: 3600)))
        return response
    }

    struct SignInForm: Decodable { var token: String?; var csrf: String? }

    func signIn<Context: WebUIRequestContext>(_ request: Request, _ context: Context) async -> Response {
        let form: SignInForm
        switch await readForm(SignInForm.self, request, limits: Self.signInFormLimits) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        // The form's nonce must match its cookie: another site cannot sign a browser in with its own key.
        guard signInNonceMatches(form.csrf, request) else { return signInFormRefusal() }
        guard keySignIn else {
            let other = singleSignOn.map { "sign in with \($0.providerName)" } ?? "use the API"
            return message(status: .forbidden, title: "Refused", "signing in to the pages with an API key is turned off on this server (serve --no-key-sign-in); \(other)", back: "/", session: nil)
        }
        let token = form.token ?? ""
        let principal: ActingKey?
        do {
            principal = token.isEmpty || token.utf8.count > 512 ? nil : try await backend.authenticate(token: token, client: context.webUIClient)
        } catch {
            return unavailable(session: nil)
        }
        guard let principal else { return signInPage(status: .unauthorized, error: "That key was not accepted") }
        let id = SessionTokens.random()
        do {
            try await backend.createSession(idDigest: SessionTokens.digest(id), keyName: principal.name,
                                            csrfToken: SessionTokens.random(), client: context.webUIClient)
        } catch {
            return unavailable(session: nil)
        }
        var response = Self.redirect("/ui/team")
        response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.sessionCookie, id, maxAge: nil)))
        response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.signInCookie, "", maxAge: 0)))
        return response
    }

    /// Whether a sign-in form's nonce is its cookie's (double submit: there is no session yet).
    func signInNonceMatches(_ sent: String?, _ request: Request) -> Bool {
        guard let nonce = cookieValue(request, Self.signInCookie), let sent else { return false }
        return SessionTokens.isWellFormed(nonce) && SessionTokens.constantTimeEqual(nonce, sent)
    }

    func signInFormRefusal() -> Response {
        message(status: .forbidden, title: "Refused", "the sign-in form was not sent from this page; open it again and sign in", back: "/", session: nil)
    }

    struct CSRFForm: Decodable { var csrf: String? }

    func signOut<Context: WebUIRequestContext>(_ request: Request, _ context: Context) async -> Response {
        await signedIn(request, context) { session in
            switch await readForm(CSRFForm.self, request) {
            case .failure(let box): return box.response
            case .success(let form):
                guard Self.csrfMatches(form.csrf, session) else { return csrfRefusal(session) }
            }
            guard let id = cookieValue(request, Self.sessionCookie) else { return Self.redirect("/") }
            do { try await backend.deleteSession(idDigest: SessionTokens.digest(id), client: context.webUIClient) } catch { return unavailable(session: session) }
            var response = Self.redirect("/")
            response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.sessionCookie, "", maxAge: 0)))
            return response
        }
    }

    /// The session the request's cookie names, if it is live.
    func currentSession(_ request: Request) async throws -> WebUISession? {
        guard let id = cookieValue(request, Self.sessionCookie), SessionTokens.isWellFormed(id) else { return nil }
        return try await backend.session(idDigest: SessionTokens.digest(id), idleSeconds: Self.idleSeconds)
    }

    /// Runs `body` for a signed-in request; anything else goes to the sign-in page.
    func signedIn<Context: WebUIRequestContext>(_ request: Request, _ context: Context, _ body: (WebUISession) async -> Response) async -> Response {
        let session: WebUISession?
        do { session = try await currentSession(request) } catch { return unavailable(session: nil) }
        guard let session else {
            var response = Self.redirect("/")
            if cookieValue(request, Self.sessionCookie) != nil {
                response.headers.append(HTTPField(name: .setCookie, value: cookie(Self.sessionCookie, "", maxAge: 0)))
            }
            return response
        }
        return await body(session)
    }

    /// A cookie as this server names it: `__Host-` prefixed under TLS.
    func cookieName(_ name: String) -> String { secureCookies ? Self.hostPrefix + name : name }

    func cookie(_ name: String, _ value: String, maxAge: Int?, sameSite: String = "Strict") -> String {
        var text = "\(cookieName(name))=\(value); Path=/; HttpOnly; SameSite=\(sameSite)"
        if let maxAge { text += "; Max-Age=\(maxAge)" }
        if secureCookies { text += "; Secure" }
        return text
    }

    /// The value of cookie `name` (by this server's name for it: a plain
    /// `sf_session` is not read under TLS, where only `__Host-` ones count).
    func cookieValue(_ request: Request, _ name: String) -> String? {
        guard let value = request.cookies[cookieName(name)]?.value, !value.isEmpty else { return nil }
        return value
    }

    static func csrfMatches(_ sent: String?, _ session: WebUISession) -> Bool {
        guard let sent else { return false }
        return SessionTokens.constantTimeEqual(sent, session.csrfToken)
    }

    func csrfRefusal(_ session: WebUISession) -> Response {
        message(status: .forbidden, title: "Refused", "the form did not carry this session's token (CSRF); nothing was changed. Open the page again and retry", back: "/ui/team", session: session)
    }

    // MARK: scopes and secrets

    func openScope<Context: WebUIRequestContext>(_ request: Request, _ context: Context) async -> Response {
        await signedIn(request, context) { session in
            let kind = request.uri.queryParameters.get("kind").flatMap(Scope.Kind.init(rawValue:)) ?? .project
            let id = request.uri.queryParameters.get("id") ?? ""
            guard kind != .team else { return Self.redirect("/ui/team") }
            do throws(SecretInputError) {
                try Scope.validateID(id)
            } catch {
                return message(status: .badRequest, title: "Not a valid id", error.description, back: "/ui/team", session: session)
            }
            return Self.redirect("/ui/\(kind.rawValue)/\(id)")
        }
    }

    func withScope<Context: WebUIRequestContext>(_ kind: Scope.Kind, _ request: Request, _ context: Context,
                                                 _ body: (Scope, WebUISession) async -> Response) async -> Response {
        await signedIn(request, context) { session in
            let scope: Scope
            do throws(SecretInputError) {
                scope = try Scope(kind: kind, id: kind == .team ? nil : context.parameters.get("id"))
            } catch {
                return message(status: .badRequest, title: "Not a valid scope", error.description, back: "/ui/team", session: session)
            }
            return await body(scope, session)
        }
    }

    static func base(_ scope: Scope) -> String {
        switch scope {
        case .team: "/ui/team"
        case .project(let id): "/ui/project/\(id)"
        case .cluster(let id): "/ui/cluster/\(id)"
        }
    }

    func secretsPage<Context: WebUIRequestContext>(_ scope: Scope, _ session: WebUISession, _ request: Request, _ context: Context,
                                                   status: HTTPResponse.Status = .ok, error: String? = nil, formName: String? = nil) async -> Response {
        // The backend checks the grants (and audits a refusal); the pages only choose which forms to show.
        let principal = session.principal
        let rows: [WebUISecretRow]
        var shadowed: Set<String> = []
        do {
            rows = try await backend.secrets(in: scope, as: principal, client: context.webUIClient)
                .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            if scope != .team, principal.may(.names, in: .team) {
                shadowed = Set(try await backend.secrets(in: .team, as: principal, client: context.webUIClient).map(\.name))
            }
        } catch {
            return failure(error, session: session, back: nil)
        }
        let canWrite = principal.may(.write, in: scope)
        var data: [String: Any] = [
            "scopeTitle": Self.title(scope), "scopeText": scope.description, "base": Self.base(scope),
            "canWrite": canWrite, "hasRows": !rows.isEmpty, "csrf": session.csrfToken, "formName": formName ?? "",
            "rows": rows.map { row -> [String: Any] in
                var entry: [String: Any] = ["name": row.name, "updated": WebUITime.fields(row.updated), "updatedBy": row.updatedBy]
                if shadowed.contains(row.name) { entry["shadows"] = "team" }
                return entry
            },
        ]
        if let error { data["error"] = error }
        if let name = request.uri.queryParameters.get("set"), SecretName.isValid(name) {
            data["notice"] = "Set \(scope) secret '\(name)'"
        } else if let name = request.uri.queryParameters.get("updated"), SecretName.isValid(name) {
            // As the CLI says it when the name had a value.
            data["notice"] = "Updated \(scope) secret '\(name)'"
        } else if let name = request.uri.queryParameters.get("deleted"), SecretName.isValid(name) {
            data["notice"] = "Deleted \(scope) secret '\(name)'"
        }
        let nav = await navigation(session, context, current: scope == .team ? "team" : "")
        return render("secrets", title: "\(Self.title(scope)) secrets", status: status, data: data, session: session, nav: nav)
    }

    static func title(_ scope: Scope) -> String {
        switch scope {
        case .team: "Team"
        case .project(let id): "Project \(id)"
        case .cluster(let id): "Cluster \(id)"
        }
    }

    struct SecretForm: NamedForm { var csrf: String?; var name: String?; var value: String?; var replace: String? }

    func addSecret<Context: WebUIRequestContext>(_ scope: Scope, _ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let form: SecretForm
        switch await readForm(SecretForm.self, request) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        guard Self.csrfMatches(form.csrf, session) else { return csrfRefusal(session) }
        let name = form.name ?? ""
        let value: SecretValue
        do throws(SecretInputError) {
            try SecretInputError.checkName(name)
            value = try SecretValue(validating: form.value ?? "")
        } catch {
            // The form comes back with the name (if it is one), never the value.
            return await secretsPage(scope, session, request, context, status: .badRequest, error: error.description,
                                     formName: name.utf8.count <= 256 ? name : "")
        }
        if form.replace != "1",
           (try? await backend.secretExists(name: name, in: scope, as: session.principal, client: context.webUIClient)) == true {
            // The name has a value: ask first. The page never holds the value
            // sent; its form asks for it again, with `replace=1`.
            let data: [String: Any] = ["name": name, "scopeText": scope.description, "base": Self.base(scope), "csrf": session.csrfToken]
            let nav = await navigation(session, context, current: "")
            return render("confirm-replace", title: "Replace \(name)?", status: .ok, data: data, session: session, nav: nav)
        }
        let replaced: Bool
        do {
            replaced = try await backend.setSecretReporting(name: name, value: value, in: scope, as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: Self.base(scope))
        }
        return Self.redirect("\(Self.base(scope))?\(replaced ? "updated" : "set")=\(name)")
    }

    // MARK: history and rollback

    /// The name in `?name=`, or a page saying why it is not one.
    func nameParameter(_ request: Request, _ scope: Scope, _ session: WebUISession) -> Result<String, ResponseBox> {
        let name = request.uri.queryParameters.get("name").map { String($0) } ?? ""
        do throws(SecretInputError) { try SecretInputError.checkName(name) } catch {
            return .failure(ResponseBox(message(status: .badRequest, title: "Not a valid name", error.description, back: Self.base(scope), session: session)))
        }
        return .success(name)
    }

    static func version(_ text: String?) -> Int? {
        guard let text, !text.isEmpty, text.utf8.count <= 9, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let number = Int(text), number >= 1 else { return nil }
        return number
    }

    static let versionRule = "a version is a whole number from 1, as `secretfill secrets history` lists them"

    func historyPage<Context: WebUIRequestContext>(_ scope: Scope, _ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let name: String
        switch nameParameter(request, scope, session) {
        case .success(let value): name = value
        case .failure(let box): return box.response
        }
        let history: HistoryResponse
        do {
            history = try await backend.history(name: name, in: scope, as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: Self.base(scope))
        }
        let canWrite = session.principal.may(.write, in: scope)
        var data: [String: Any] = [
            "name": name, "scopeText": scope.description, "base": Self.base(scope), "deleted": history.deleted,
            "rows": history.versions.sorted { $0.version > $1.version }.map { row -> [String: Any] in
                ["version": row.version, "time": WebUITime.fields(row.time), "key": row.key, "current": row.current,
                 "canRollBack": canWrite && !row.current]
            },
        ]
        if let version = Self.version(request.uri.queryParameters.get("rolledback").map { String($0) }),
           let now = Self.version(request.uri.queryParameters.get("now").map { String($0) }) {
            // The CLI's words for `secrets rollback`.
            data["notice"] = "Rolled back \(scope) secret '\(name)' to version \(version) (now version \(now))"
        }
        let nav = await navigation(session, context, current: "")
        return render("history", title: "History of \(name)", status: .ok, data: data, session: session, nav: nav)
    }

    func confirmRollback<Context: WebUIRequestContext>(_ scope: Scope, _ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let name: String
        switch nameParameter(request, scope, session) {
        case .success(let value): name = value
        case .failure(let box): return box.response
        }
        guard let version = Self.version(request.uri.queryParameters.get("version").map { String($0) }) else {
            return message(status: .badRequest, title: "Not a valid version", Self.versionRule, back: Self.base(scope), session: session)
        }
        guard session.principal.may(.write, in: scope) else {
            return message(status: .forbidden, title: "Not allowed", session.principal.refusal(.write, scope).description, back: Self.base(scope), session: session)
        }
        let data: [String: Any] = ["name": name, "version": version, "scopeText": scope.description, "base": Self.base(scope), "csrf": session.csrfToken]
        let nav = await navigation(session, context, current: "")
        return render("confirm-rollback", title: "Roll back \(name)?", status: .ok, data: data, session: session, nav: nav)
    }

    struct RollbackForm: NamedForm { var csrf: String?; var name: String?; var version: String? }

    func rollbackSecret<Context: WebUIRequestContext>(_ scope: Scope, _ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let (form, name): (RollbackForm, String)
        switch await readNamedForm(RollbackForm.self, request, scope, session) {
        case .success(let read): (form, name) = read
        case .failure(let box): return box.response
        }
        guard let version = Self.version(form.version) else {
            return message(status: .badRequest, title: "Not a valid version", Self.versionRule, back: Self.base(scope), session: session)
        }
        let now: Int
        do {
            now = try await backend.rollback(name: name, in: scope, to: version, as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: "\(Self.base(scope))/history?name=\(name)")
        }
        return Self.redirect("\(Self.base(scope))/history?name=\(name)&rolledback=\(version)&now=\(now)")
    }

    // MARK: the Secrets index

    func secretsIndex<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let query = (request.uri.queryParameters.get("q").map { String($0) } ?? "").trimmingSpaces
        let kind = request.uri.queryParameters.get("kind").flatMap { Scope.Kind(rawValue: String($0)) }
        let scopes: [WebUIScopeCount]
        do {
            scopes = try await backend.secretScopes(as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: "/ui/team")
        }
        let needle = query.utf8.count <= 128 ? query.lowercased() : ""
        let shown = scopes.filter { entry in
            (kind == nil || entry.scope.kind == kind) && (needle.isEmpty || entry.scope.description.lowercased().contains(needle))
        }.sorted { a, b in
            let order: [Scope.Kind: Int] = [.team: 0, .project: 1, .cluster: 2]
            if a.scope.kind != b.scope.kind { return order[a.scope.kind, default: 3] < order[b.scope.kind, default: 3] }
            return (a.scope.id ?? "").utf8.lexicographicallyPrecedes((b.scope.id ?? "").utf8)
        }
        let data: [String: Any] = [
            "q": needle.isEmpty ? "" : query, "hasRows": !shown.isEmpty, "total": scopes.count, "shownCount": shown.count,
            "kindAll": kind == nil, "kindTeam": kind == .team, "kindProject": kind == .project, "kindCluster": kind == .cluster,
            "rows": shown.map { entry -> [String: Any] in
                ["kind": entry.scope.kind.rawValue, "id": entry.scope.id ?? "", "text": entry.scope.description,
                 "href": Self.base(entry.scope), "count": entry.count, "plural": entry.count != 1]
            },
        ]
        let current = kind == .project ? "projects" : kind == .cluster ? "clusters" : "secrets"
        let nav = await navigation(session, context, current: current)
        return render("secrets-index", title: "Secrets", status: .ok, data: data, session: session, nav: nav)
    }

    func confirmDelete<Context: WebUIRequestContext>(_ scope: Scope, _ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let name = request.uri.queryParameters.get("name").map { String($0) } ?? ""
        do throws(SecretInputError) { try SecretInputError.checkName(name) } catch {
            return message(status: .badRequest, title: "Not a valid name", error.description, back: Self.base(scope), session: session)
        }
        guard session.principal.may(.write, in: scope) else {
            return message(status: .forbidden, title: "Not allowed", session.principal.refusal(.write, scope).description, back: Self.base(scope), session: session)
        }
        let data: [String: Any] = ["name": name, "scopeText": scope.description, "base": Self.base(scope), "csrf": session.csrfToken]
        let nav = await navigation(session, context, current: "")
        return render("confirm-delete", title: "Delete \(name)?", status: .ok, data: data, session: session, nav: nav)
    }

    func deleteSecret<Context: WebUIRequestContext>(_ scope: Scope, _ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let name: String
        switch await readNamedForm(SecretForm.self, request, scope, session) {
        case .success(let read): name = read.name
        case .failure(let box): return box.response
        }
        do {
            try await backend.deleteSecret(name: name, in: scope, as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: Self.base(scope))
        }
        return Self.redirect("\(Self.base(scope))?deleted=\(name)")
    }

    // MARK: keys and audit (admin)

    func requireAdmin(_ session: WebUISession, _ what: String) -> Response? {
        session.principal.isAdmin ? nil : message(status: .forbidden, title: "Not allowed", session.principal.adminRefusal(what).description, back: "/ui/team", session: session)
    }

    func keysPage<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context,
                                                status: HTTPResponse.Status = .ok, error: String? = nil,
                                                form: KeyForm? = nil, roleForm: RoleForm? = nil, roleError: String? = nil) async -> Response {
        let rows: [WebUIKeyRow]
        let roles: [RoleEntry]
        // The page's view is not a `key.list` or `role.list` audit row (the API's listings are).
        do {
            rows = try await backend.keysForPage(as: session.principal, client: context.webUIClient)
            roles = try await backend.roles(as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: "/ui/team")
        }
        let showAll = request.uri.queryParameters.get("all") == "1"
        let justRevoked = request.uri.queryParameters.get("revoked").map { String($0) }.flatMap { SecretName.isValid($0) ? $0 : nil }
        let now = WebUITime.nowSeconds()
        func gone(_ row: WebUIKeyRow) -> Bool {
            row.revoked != nil || (row.expires.flatMap(WebUITime.seconds).map { $0 <= now } ?? false)
        }
        // Revoked and expired keys stay behind "show revoked", except the one just revoked.
        let hidden = rows.filter { gone($0) && $0.name != justRevoked }.count
        let listed = showAll ? rows : rows.filter { !gone($0) || $0.name == justRevoked }
        var data: [String: Any] = [
            "csrf": session.csrfToken, "formName": form?.name ?? "", "formGrants": form?.grants ?? "", "formExpires": form?.expires ?? "",
            "showAll": showAll, "hasHidden": !showAll && hidden > 0, "hiddenCount": hidden,
            "rows": listed.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }.map { row -> [String: Any] in
                var entry: [String: Any] = ["name": row.name, "grants": row.grants, "created": WebUITime.fields(row.created, now: now),
                                            "lastUsed": WebUITime.fields(row.lastUsed ?? "never", now: now),
                                            "expires": WebUITime.fields(row.expires ?? "never", now: now)]
                if let revoked = row.revoked { entry["revoked"] = WebUITime.shown(revoked) }
                else if gone(row) { entry["expired"] = true }
                return entry
            },
        ]
        if let error { data["error"] = error }
        if let justRevoked { data["notice"] = "Revoked key '\(justRevoked)'" }
        data.merge(rolesData(roles.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }, form: roleForm, error: roleError)) { _, roles in roles }
        let roleName = { (key: String) in request.uri.queryParameters.get(key).map { String($0) }.flatMap { KeyName.isValid($0) ? $0 : nil } }
        if let created = roleName("roleCreated") { data["roleNotice"] = "Created role '\(created)'" }
        if let deleted = roleName("roleDeleted") { data["roleNotice"] = "Deleted role '\(deleted)'; the tokens it issued are refused from now on" }
        let nav = await navigation(session, context, current: "keys")
        return render("keys", title: "API Keys", status: status, data: data, session: session, nav: nav)
    }

    struct KeyForm: NamedForm { var csrf: String?; var name: String?; var grants: String?; var expires: String? }

    func createKey<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let form: KeyForm
        switch await readSessionForm(KeyForm.self, request, session) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        let name = form.name ?? ""
        let grants = (form.grants ?? "").split(whereSeparator: \.isNewline)
            .map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        let expires = form.expires.map(\.trimmingSpaces).flatMap { $0.isEmpty ? nil : $0 }
        let token: String
        do {
            token = try await backend.createKey(name: name, grants: grants, expires: expires, as: session.principal, client: context.webUIClient)
        } catch let refusal as ServerRefusal {
            if case .denied = refusal { return failure(refusal, session: session, back: "/ui/keys") }
            let status: HTTPResponse.Status = if case .conflict = refusal { .conflict } else { .badRequest }
            let kept = KeyForm(csrf: nil, name: name.utf8.count <= 256 ? name : "", grants: form.grants.map { $0.utf8.count <= 4096 ? $0 : "" }, expires: expires)
            return await keysPage(session, request, context, status: status, error: refusal.description, form: kept)
        } catch {
            return failure(error, session: session, back: "/ui/keys")
        }
        let nav = await navigation(session, context, current: "keys")
        return render("key-created", title: "Created key \(name)", status: .ok, data: ["name": name, "token": token], session: session, nav: nav)
    }

    func confirmRevoke<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        await confirmNamed(session, request, context, action: "revoke keys", noun: "key", template: "confirm-revoke", title: "Revoke")
    }

    func revokeKey<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        await actOnNamed(KeyForm.self, session, request, done: "revoked") { name in
            try await backend.revokeKey(name: name, as: session.principal, client: context.webUIClient)
        }
    }

    func auditPage<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let key = request.uri.queryParameters.get("key").map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
        let secret = request.uri.queryParameters.get("secret").map { String($0) }.flatMap { $0.isEmpty ? nil : $0 }
        let since = request.uri.queryParameters.get("since").map { String($0).trimmingSpaces }.flatMap { $0.isEmpty ? nil : $0 }
        var data: [String: Any] = ["filterKey": key ?? "", "filterSecret": secret ?? "", "filterSince": since ?? ""]
        var status: HTTPResponse.Status = .ok
        let sinceSeconds = since.flatMap { WebUITime.sinceSeconds($0) }
        if let since, sinceSeconds == nil {
            status = .badRequest
            data["error"] = "'\(since.prefix(32))' is not a time to filter by: give a duration (24h, 7d, 30m) or a day (2026-01-02, from 00:00 UTC)"
            data["filterSince"] = ""
        } else if let key, !SecretName.isValid(key) {
            status = .badRequest
            data["error"] = "'\(key.prefix(64))' is not a key name; a key name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters"
            data["filterKey"] = ""
        } else if let secret, !SecretName.isValid(secret) {
            status = .badRequest
            data["error"] = SecretInputError.invalidName(secret).description
            data["filterSecret"] = ""
        } else {
            let before = request.uri.queryParameters.get("before").map { String($0) }.flatMap { text in
                text.utf8.count <= 20 && !text.isEmpty && text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) ? text : nil
            }
            do {
                let page = try await backend.audit(key: key, secret: secret, sinceSeconds: sinceSeconds, before: before,
                                                   as: session.principal, client: context.webUIClient)
                let now = WebUITime.nowSeconds()
                data["rows"] = page.rows.map { row -> [String: Any] in
                    var entry: [String: Any] = ["time": WebUITime.fields(row.time, now: now), "key": row.key, "action": row.action, "scope": row.scope,
                                                "names": row.names.joined(separator: ", "), "outcome": row.outcome, "client": row.client ?? "-"]
                    if let count = row.count { entry["count"] = count }
                    return entry
                }
                if let next = page.next {
                    // Key and secret names are [A-Za-z0-9_.-]: nothing in the link needs escaping.
                    var link = "/ui/audit?before=\(next)"
                    if let key { link += "&key=\(key)" }
                    if let secret { link += "&secret=\(secret)" }
                    // A duration or a day: digits, letters and `-` only.
                    if let since { link += "&since=\(since)" }
                    data["older"] = link
                }
            } catch {
                return failure(error, session: session, back: "/ui/team")
            }
        }
        let nav = await navigation(session, context, current: "audit")
        return render("audit", title: "Audit log", status: status, data: data, session: session, nav: nav)
    }

    // MARK: rendering

    struct Navigation {
        var projects: [String] = []
        var clusters: [String] = []
        var projectCount = 0
        var clusterCount = 0
        var current = ""
    }

    /// Ids in a header menu; the rest are on the Secrets index.
    static let menuLimit = 12

    /// The ids with secrets that the key may list, the first few for the
    /// header's menus (best effort: a failure leaves the links out).
    func navigation<Context: WebUIRequestContext>(_ session: WebUISession, _ context: Context, current: String) async -> Navigation {
        var nav = Navigation(current: current)
        let projects = (try? await backend.scopeIDs(.project, as: session.principal, client: context.webUIClient)) ?? []
        let clusters = (try? await backend.scopeIDs(.cluster, as: session.principal, client: context.webUIClient)) ?? []
        nav.projects = Array(projects.prefix(Self.menuLimit))
        nav.clusters = Array(clusters.prefix(Self.menuLimit))
        nav.projectCount = projects.count
        nav.clusterCount = clusters.count
        return nav
    }

    func render(_ template: String, title: String, status: HTTPResponse.Status, data: [String: Any],
                session: WebUISession?, nav: Navigation?) -> Response {
        let content = library.render(data, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "content": content]
        if let refresh = data["refresh"] { layout["refresh"] = refresh }
        if let session {
            layout["session"] = [
                "csrf": session.csrfToken, "who": session.who, "isAdmin": session.principal.isAdmin,
                "projects": nav?.projects ?? [], "clusters": nav?.clusters ?? [],
                "projectCount": nav?.projectCount ?? 0, "clusterCount": nav?.clusterCount ?? 0,
                "moreProjects": (nav?.projectCount ?? 0) > (nav?.projects.count ?? 0), "moreClusters": (nav?.clusterCount ?? 0) > (nav?.clusters.count ?? 0),
                "navTeam": nav?.current == "team", "navKeys": nav?.current == "keys", "navAudit": nav?.current == "audit", "navMembers": nav?.current == "members",
                "navSecrets": nav?.current == "secrets", "navProjects": nav?.current == "projects", "navClusters": nav?.current == "clusters",
            ] as [String: Any]
        }
        let html = library.render(layout, withTemplate: "layout") ?? ""
        return Response(status: status, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static var pageHeaders: HTTPFields {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers.append(contentsOf: SecurityHeadersMiddleware<BasicRequestContext>.headers)
        return headers
    }

    func message(status: HTTPResponse.Status, title: String, _ text: String, back: String?, session: WebUISession?) -> Response {
        var data: [String: Any] = ["title": title, "message": text]
        if let back { data["back"] = back }
        return render("message", title: title, status: status, data: data, session: session, nav: nil)
    }

    func unavailable(session: WebUISession?) -> Response {
        message(status: .serviceUnavailable, title: "Unavailable", "the server's database is unavailable; try again", back: nil, session: session)
    }

    /// A backend failure as a page: refusals with their message, anything
    /// else as 503 without detail (a database error's text is not shown).
    func failure(_ error: any Error, session: WebUISession, back: String?) -> Response {
        switch error {
        case let refusal as ServerRefusal:
            switch refusal {
            case .denied(let m), .unauthenticated(let m): return message(status: .forbidden, title: "Not allowed", m, back: back, session: session)
            case .invalid(let m), .tooLarge(let m): return message(status: .badRequest, title: "Refused", m, back: back, session: session)
            case .notFound(let m): return message(status: .notFound, title: "Not found", m, back: back, session: session)
            case .conflict(let m): return message(status: .conflict, title: "Refused", m, back: back, session: session)
            }
        case let input as SecretInputError:
            return message(status: .badRequest, title: "Refused", input.description, back: back, session: session)
        default:
            return unavailable(session: session)
        }
    }

    static func redirect(_ location: String) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        headers.append(contentsOf: SecurityHeadersMiddleware<BasicRequestContext>.headers)
        return Response(status: .seeOther, headers: headers)
    }

    /// How large a form may be, in bytes and in fields.
    struct FormLimits: Sendable {
        let bytes: Int
        let fields: Int
    }

    /// Decodes an `application/x-www-form-urlencoded` body; a body that is
    /// too large, has too many fields or is not a form is a page saying so
    /// (never echoing it). A declared length over the limit is refused
    /// before any of the body is read, and fields are counted before the
    /// form is decoded, so an oversized form costs next to nothing.
    func readForm<Form: Decodable>(_ type: Form.Type, _ request: Request, limits: FormLimits = WebUI.formLimits) async -> Result<Form, ResponseBox> {
        let tooLarge = ResponseBox(message(status: .contentTooLarge, title: "Form too large",
                                           "the form is over \(limits.bytes) bytes or \(limits.fields) fields, more than this page ever sends; nothing was changed (for a value of about 1 MiB, use `secretfill secrets set --value-file`)",
                                           back: "/", session: nil))
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limits.bytes {
            return .failure(tooLarge)
        }
        let bytes: ByteBuffer
        do { bytes = try await request.body.collect(upTo: limits.bytes) } catch {
            return .failure(tooLarge)
        }
        var fields = bytes.readableBytes == 0 ? 0 : 1
        for byte in bytes.readableBytesView where byte == UInt8(ascii: "&") { fields += 1 }
        guard fields <= limits.fields else { return .failure(tooLarge) }
        let text = String(buffer: bytes)
        do {
            return .success(try URLEncodedFormDecoder().decode(Form.self, from: text))
        } catch {
            return .failure(ResponseBox(Self.plain(.badRequest, "the form could not be read")))
        }
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
        headers.append(contentsOf: SecurityHeadersMiddleware<BasicRequestContext>.headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}

/// Posted forms read and checked, a refusal carried as a `Result` failure.
extension WebUI {
    /// A form posted from a page behind the sign-in: it carries the session's CSRF token.
    protocol SessionForm: Decodable {
        var csrf: String? { get }
    }

    /// A form that acts on one secret: its CSRF token and the secret's name.
    protocol NamedForm: SessionForm {
        var name: String? { get }
    }

    /// The form, read and its CSRF token checked, or the page that says why not.
    func readSessionForm<Form: SessionForm>(_ type: Form.Type, _ request: Request, _ session: WebUISession) async -> Result<Form, ResponseBox> {
        switch await readForm(type, request) {
        case .failure(let box): return .failure(box)
        case .success(let form): return Self.csrfMatches(form.csrf, session) ? .success(form) : .failure(ResponseBox(csrfRefusal(session)))
        }
    }

    /// An admin's confirmation page before acting on one key or role named
    /// in the query (`?name=`): the name checked, then `template` with it and
    /// the CSRF token.
    func confirmNamed<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context,
                                                    action: String, noun: String, template: String, title: String) async -> Response {
        if let refusal = requireAdmin(session, action) { return refusal }
        let name = request.uri.queryParameters.get("name").map { String($0) } ?? ""
        guard KeyName.isValid(name) else {
            return message(status: .badRequest, title: "Not a valid \(noun) name",
                           "'\(name.prefix(64))' is not a \(noun) name; a \(noun) name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters",
                           back: "/ui/keys", session: session)
        }
        let nav = await navigation(session, context, current: "keys")
        return render(template, title: "\(title) \(name)?", status: .ok, data: ["name": name, "csrf": session.csrfToken], session: session, nav: nav)
    }

    /// The POST after `confirmNamed`: the form read and checked, `act` on its
    /// name, then back to the keys page with `done=NAME` in the query (and `#fragment`).
    func actOnNamed<Form: NamedForm>(_ type: Form.Type, _ session: WebUISession, _ request: Request, done: String, fragment: String = "",
                                     _ act: (String) async throws -> Void) async -> Response {
        let form: Form
        switch await readSessionForm(type, request, session) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        let name = form.name ?? ""
        do { try await act(name) } catch { return failure(error, session: session, back: "/ui/keys") }
        return Self.redirect("/ui/keys?\(done)=\(KeyName.isValid(name) ? name : "")" + (fragment.isEmpty ? "" : "#" + fragment))
    }

    /// The form, read and checked: CSRF first, then the name.
    func readNamedForm<Form: NamedForm>(_ type: Form.Type, _ request: Request, _ scope: Scope, _ session: WebUISession) async -> Result<(form: Form, name: String), ResponseBox> {
        switch await readForm(type, request) {
        case .failure(let box): return .failure(box)
        case .success(let form): return checkedName(csrf: form.csrf, name: form.name, scope, session).map { (form, $0) }
        }
    }

    func checkedName(csrf: String?, name: String?, _ scope: Scope, _ session: WebUISession) -> Result<String, ResponseBox> {
        guard Self.csrfMatches(csrf, session) else { return .failure(ResponseBox(csrfRefusal(session))) }
        let name = name ?? ""
        do throws(SecretInputError) { try SecretInputError.checkName(name) } catch {
            return .failure(ResponseBox(message(status: .badRequest, title: "Not a valid name", error.description, back: Self.base(scope), session: session)))
        }
        return .success(name)
    }
}

struct ResponseBox: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// Refuses every POST that a browser says came from another origin: `Origin`
/// must be this server's own (`http[s]://` + the request's `Host`), or,
/// without it (or when it is `null`), `Sec-Fetch-Site` must be `same-origin`. A page on
/// another port or site can then neither sign a browser in (login CSRF,
/// with the attacker's key or a nonce the server gave the attacker) nor
/// post a form with a stolen CSRF token. A request with neither header is
/// not from a current browser and is left to the nonce and CSRF checks.
struct SameOriginPostMiddleware<Context: RequestContext>: RouterMiddleware {
    let secure: Bool
    let opaqueOriginAllowed: Bool
    let refusal: Response

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, !Self.isSameOrigin(request, secure: secure, opaqueOriginAllowed: opaqueOriginAllowed) else {
            return try await next(request, context)
        }
        return refusal
    }

    static func isSameOrigin(_ request: Request, secure: Bool, opaqueOriginAllowed: Bool) -> Bool {
        let origin = request.headers[.origin]
        if let origin, origin != "null" {
            guard let host = request.head.authority else { return false }
            return origin.lowercased() == (secure ? "https://" : "http://") + host.lowercased()
        }
        // The pages' `Referrer-Policy: no-referrer` makes a browser send
        // `Origin: null` even for its own forms: then `Sec-Fetch-Site` decides.
        if let site = request.headers[WebUI.secFetchSite] {
            return site == "same-origin"
        }
        // `null` with no fetch metadata: a sandboxed or no-referrer page of
        // another site in a browser without fetch metadata, or (over plain
        // HTTP to another host, where browsers send none) this server's own.
        if origin == "null" { return opaqueOriginAllowed }
        // Neither header: not a browser (curl, a script); the CSRF and nonce checks still apply.
        return true
    }
}
