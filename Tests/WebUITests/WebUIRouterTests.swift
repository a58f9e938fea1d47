import Hummingbird
import HummingbirdTesting
import HTTPTypes
import SecretFill
@testable import SecretFillWebUI
import Testing

struct TestContext: WebUIRequestContext {
    var coreContext: CoreRequestContextStorage
    init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
    var webUIClient: String { "test" }
}

/// A browser's view for one test: its cookies and the last page.
struct Browser {
    var cookies: [String: String] = [:]

    var cookieHeader: HTTPFields {
        cookies.isEmpty ? [:] : [.cookie: cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")]
    }

    mutating func take(_ response: TestResponse) {
        for field in response.headers where field.name == .setCookie {
            let pair = field.value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]), value = pair.count > 1 ? String(pair[1]) : ""
            if value.isEmpty { cookies[name] = nil } else { cookies[name] = value }
        }
    }

    /// The value of `<input type="hidden" name="csrf" value="…">` on a page.
    static func csrf(_ html: String) -> String? {
        guard let range = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix(while: { $0 != "\"" }))
    }
}

func formBody(_ fields: [(String, String)]) -> ByteBuffer {
    func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
    return ByteBuffer(string: fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&"))
}

let formType: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

func makeApp(_ backend: FakeBackend, secure: Bool = false) throws -> some ApplicationProtocol {
    let router = Router(context: TestContext.self)
    try WebUI(backend: backend, secureCookies: secure).addRoutes(to: router)
    return Application(router: router)
}

/// Signs in with `token` and returns the browser, holding the session cookie.
func signIn(_ client: some TestClientProtocol, token: String) async throws -> Browser {
    var browser = Browser()
    let home = try await client.execute(uri: "/", method: .get)
    browser.take(home)
    let nonce = try #require(Browser.csrf(String(buffer: home.body)))
    let response = try await client.execute(uri: "/sign-in", method: .post, headers: browser.cookieHeader + formType,
                                            body: formBody([("csrf", nonce), ("token", token)]))
    #expect(response.status == .seeOther)
    browser.take(response)
    #expect(browser.cookies[WebUI.sessionCookie] != nil)
    return browser
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var out = lhs
        out.append(contentsOf: rhs)
        return out
    }
}

func expectSecurityHeaders(_ response: TestResponse, behindSignIn: Bool, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    let csp = response.headers[.contentSecurityPolicy] ?? ""
    #expect(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), sourceLocation: sourceLocation)
    #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", sourceLocation: sourceLocation)
    #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", sourceLocation: sourceLocation)
    if behindSignIn { #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation) }
}

let writeToken = "sf_write_token_for_tests"
let namesToken = "sf_names_token_for_tests"
let adminToken = "sf_admin_token_for_tests"

func backendWithKeys() async -> FakeBackend {
    let backend = FakeBackend()
    await backend.addKey(token: writeToken, name: "dev", grants: ["team:write", "project:*:write", "cluster:*:write"])
    await backend.addKey(token: namesToken, name: "viewer", grants: ["team:names", "project:*:names"])
    await backend.addKey(token: adminToken, name: "root", grants: ["admin"])
    return backend
}

@Suite struct WebUIRouterTests {
    @Test func postsFromAnotherOriginAreRefusedBeforeAnythingElse() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend, secure: false).test(.router) { client in
            var browser = Browser()
            let home = try await client.execute(uri: "/", method: .get)
            browser.take(home)
            let nonce = try #require(Browser.csrf(String(buffer: home.body)))
            let body = formBody([("csrf", nonce), ("token", writeToken)])
            // A page on another port (or site) posting the sign-in form: refused, whatever nonce it carries.
            for headers: HTTPFields in [[.origin: "http://127.0.0.1:9999"], [.origin: "https://evil.example"],
                                        [.origin: "null", HTTPField.Name("Sec-Fetch-Site")!: "same-site"],
                                        [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"]] {
                let refused = try await client.execute(uri: "/sign-in", method: .post, headers: browser.cookieHeader + formType + headers, body: body)
                #expect(refused.status == .forbidden, "\(headers)")
                #expect(String(buffer: refused.body).contains("another site or port"))
                #expect(refused.headers[values: .setCookie].isEmpty)
            }
            #expect(await backend.sessionCount == 0)
            // The browser's own form: Origin null (the pages' no-referrer policy) with Sec-Fetch-Site same-origin.
            let own = try await client.execute(uri: "/sign-in", method: .post,
                                               headers: browser.cookieHeader + formType + [.origin: "null", HTTPField.Name("Sec-Fetch-Site")!: "same-origin"],
                                               body: body)
            #expect(own.status == .seeOther)
            #expect(await backend.sessionCount == 1)
        }
    }

    @Test func oversizedFormsAreRefusedWith413() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend, secure: false).test(.router) { client in
            var browser = Browser()
            let home = try await client.execute(uri: "/", method: .get)
            browser.take(home)
            let nonce = try #require(Browser.csrf(String(buffer: home.body)))
            let large = formBody([("csrf", nonce), ("token", String(repeating: "a", count: 9000))])
            let refused = try await client.execute(uri: "/sign-in", method: .post, headers: browser.cookieHeader + formType, body: large)
            #expect(refused.status == .contentTooLarge)
            #expect(String(buffer: refused.body).contains("Form too large"))
            let many = ByteBuffer(string: (0..<50).map { "f\($0)=1" }.joined(separator: "&"))
            #expect(try await client.execute(uri: "/sign-in", method: .post, headers: browser.cookieHeader + formType, body: many).status == .contentTooLarge)
            #expect(await backend.sessionCount == 0)
        }
    }

    @Test func signInSetsASessionCookieWithTheFlagsAndSignOutEndsIt() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend, secure: true).test(.router) { client in
            var browser = Browser()
            let home = try await client.execute(uri: "/", method: .get)
            browser.take(home)
            let nonce = try #require(Browser.csrf(String(buffer: home.body)))
            #expect(String(buffer: home.body).contains("<form id=\"sign-in\""))
            let response = try await client.execute(uri: "/sign-in", method: .post, headers: browser.cookieHeader + formType,
                                                    body: formBody([("csrf", nonce), ("token", writeToken)]))
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/ui/team")
            // Under TLS the cookie is `__Host-` prefixed: Secure, Path=/ and no Domain, so no neighbour can plant one.
            let setCookie = response.headers[values: .setCookie].first { $0.hasPrefix("__Host-sf_session=") } ?? ""
            for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] { #expect(setCookie.contains(flag), "\(flag)") }
            #expect(!setCookie.lowercased().contains("domain="))
            #expect(response.headers[values: .setCookie].allSatisfy { !$0.hasPrefix("sf_session=") })
            #expect(!setCookie.contains(writeToken))
            #expect(await backend.sessionCount == 1)
            browser.take(response)
            let team = try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader)
            #expect(team.status == .ok)
            let page = String(buffer: team.body)
            #expect(!page.contains(writeToken))
            let csrf = try #require(Browser.csrf(page))
            let old = browser
            let out = try await client.execute(uri: "/sign-out", method: .post, headers: browser.cookieHeader + formType, body: formBody([("csrf", csrf)]))
            #expect(out.status == .seeOther)
            #expect(await backend.sessionCount == 0)
            let again = try await client.execute(uri: "/ui/team", method: .get, headers: old.cookieHeader)
            #expect(again.status == .seeOther)
            #expect(again.headers[.location] == "/")
        }
    }

    @Test func aBadKeyGetsTheFormAgainWithoutAHint() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            var browser = Browser()
            let home = try await client.execute(uri: "/", method: .get)
            browser.take(home)
            let nonce = try #require(Browser.csrf(String(buffer: home.body)))
            let response = try await client.execute(uri: "/sign-in", method: .post, headers: browser.cookieHeader + formType,
                                                    body: formBody([("csrf", nonce), ("token", "sf_wrong")]))
            #expect(response.status == .unauthorized)
            let page = String(buffer: response.body)
            #expect(page.contains("That key was not accepted"))
            #expect(page.contains("<form id=\"sign-in\""))
            #expect(!page.contains("sf_wrong"))
            #expect(await backend.sessionCount == 0)
        }
    }

    @Test func aSignInFormFromElsewhereIsRefused() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let response = try await client.execute(uri: "/sign-in", method: .post, headers: formType,
                                                    body: formBody([("csrf", SessionTokens.random()), ("token", writeToken)]))
            #expect(response.status == .forbidden)
            #expect(await backend.sessionCount == 0)
        }
    }

    @Test func addListDeleteAndTheValueIsNeverOnAPage() async throws {
        let backend = await backendWithKeys()
        let canary = "canary-VALUE-7f3e9a"
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            let team = try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader)
            let csrf = try #require(Browser.csrf(String(buffer: team.body)))
            #expect(String(buffer: team.body).contains("<form id=\"add-secret\""))
            for (base, scope, text) in [("/ui/team", Scope.team, "team"), ("/ui/project/pr-1", .project("pr-1"), "project pr-1"), ("/ui/cluster/c-1", .cluster("c-1"), "cluster c-1")] {
                let added = try await client.execute(uri: "\(base)/add", method: .post, headers: browser.cookieHeader + formType,
                                                     body: formBody([("csrf", csrf), ("name", "db_password"), ("value", canary)]))
                #expect(added.status == .seeOther)
                let location = try #require(added.headers[.location])
                #expect(!location.contains(canary) && !String(buffer: added.body).contains(canary))
                #expect(await backend.stored("db_password", in: scope)?.revealed == canary)
                let page = try await client.execute(uri: location, method: .get, headers: browser.cookieHeader)
                let html = String(buffer: page.body)
                #expect(html.contains("Set \(text) secret &#39;db_password&#39;"))
                #expect(html.contains("<tr data-secret=\"db_password\">"))
                #expect(!html.contains(canary))
                expectSecurityHeaders(page, behindSignIn: true)
                if scope != .team { #expect(html.contains("shadows the team secret")) }
            }
            let confirm = try await client.execute(uri: "/ui/project/pr-1/delete?name=db_password", method: .get, headers: browser.cookieHeader)
            #expect(String(buffer: confirm.body).contains("<form id=\"confirm-delete\""))
            let deleted = try await client.execute(uri: "/ui/project/pr-1/delete", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "db_password")]))
            #expect(deleted.status == .seeOther)
            #expect(await backend.stored("db_password", in: .project("pr-1")) == nil)
            let after = try await client.execute(uri: try #require(deleted.headers[.location]), method: .get, headers: browser.cookieHeader)
            #expect(String(buffer: after.body).contains("Deleted project pr-1 secret &#39;db_password&#39;"))
            #expect(!String(buffer: after.body).contains("data-secret=\"db_password\""))
        }
    }

    @Test func badNamesAndValuesGetTheCLIMessagesAndTheFormKeepsOnlyTheName() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            let csrf = try #require(Browser.csrf(String(buffer: try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader).body)))
            let cases: [(String, String, String)] = [
                ("1bad", "kept-value-1", SecretInputError.invalidName("1bad").description),
                ("good_name", "", SecretInputError.emptyValue.description),
                ("big_one", String(repeating: "v", count: SecretValue.maximumBytes + 1), SecretInputError.valueTooLarge(SecretValue.maximumBytes + 1).description),
            ]
            for (name, value, message) in cases {
                let response = try await client.execute(uri: "/ui/team/add", method: .post, headers: browser.cookieHeader + formType,
                                                        body: formBody([("csrf", csrf), ("name", name), ("value", value)]))
                #expect(response.status == .badRequest)
                let html = String(buffer: response.body)
                #expect(html.contains(message.replacing("'", with: "&#39;")), "\(message)")
                #expect(html.contains("name=\"name\" value=\"\(name)\""))
                if !value.isEmpty { #expect(!html.contains(value.prefix(64))) }
            }
            #expect(await backend.secrets.isEmpty)
        }
    }

    @Test func aForgedPostWithoutTheCSRFTokenChangesNothing() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            for body in [formBody([("name", "forged"), ("value", "x")]), formBody([("csrf", SessionTokens.random()), ("name", "forged"), ("value", "x")])] {
                let response = try await client.execute(uri: "/ui/team/add", method: .post, headers: browser.cookieHeader + formType, body: body)
                #expect(response.status == .forbidden)
                expectSecurityHeaders(response, behindSignIn: true)
            }
            #expect(await backend.stored("forged", in: .team) == nil)
            let out = try await client.execute(uri: "/sign-out", method: .post, headers: browser.cookieHeader + formType, body: formBody([]))
            #expect(out.status == .forbidden)
            #expect(await backend.sessionCount == 1)
        }
    }

    @Test func aNamesKeySeesNoFormsAndAForgedFormIsRefusedWith403() async throws {
        let backend = await backendWithKeys()
        try await backend.setSecret(name: "api_token", value: try SecretValue(validating: "v"), in: .team,
                                    as: FakeBackend.principal(.init(name: "root", grants: ["admin"])), client: "test")
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: namesToken)
            let team = try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader)
            let html = String(buffer: team.body)
            #expect(html.contains("<tr data-secret=\"api_token\">"))
            #expect(!html.contains("add-secret") && !html.contains(">Delete<"))
            #expect(!html.contains("/ui/keys"))
            let csrf = try #require(Browser.csrf(html))
            let add = try await client.execute(uri: "/ui/team/add", method: .post, headers: browser.cookieHeader + formType,
                                               body: formBody([("csrf", csrf), ("name", "x"), ("value", "y")]))
            #expect(add.status == .forbidden)
            #expect(String(buffer: add.body).contains("key &#39;viewer&#39; may not write to team"))
            let delete = try await client.execute(uri: "/ui/team/delete", method: .post, headers: browser.cookieHeader + formType,
                                                  body: formBody([("csrf", csrf), ("name", "api_token")]))
            #expect(delete.status == .forbidden)
            #expect(await backend.stored("api_token", in: .team) != nil)
            let keys = try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader)
            #expect(keys.status == .forbidden)
            let cluster = try await client.execute(uri: "/ui/cluster/c-1", method: .get, headers: browser.cookieHeader)
            #expect(cluster.status == .forbidden)
        }
    }

    @Test func aHostileKeyNameShowsAsText() async throws {
        let backend = await backendWithKeys()
        let hostile = "<img src=x onerror=alert(1)>\"'"
        await backend.addHostileKeyRow(hostile)
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: adminToken)
            let keys = try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader)
            let html = String(buffer: keys.body)
            #expect(keys.status == .ok)
            #expect(!html.contains("<img"))
            #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;"))
            #expect(html.contains("<form id=\"create-key\""))
        }
    }

    @Test func aNewKeysTokenIsShownOnceAndRevokeNeedsConfirmation() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: adminToken)
            let csrf = try #require(Browser.csrf(String(buffer: try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader).body)))
            let created = try await client.execute(uri: "/ui/keys/create", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "ci"), ("grants", "project:pr-1:read\r\nteam:names\r\n"), ("expires", "")]))
            #expect(created.status == .ok)
            let html = String(buffer: created.body)
            #expect(html.contains("<code id=\"new-token\">sf_"))
            #expect(created.headers[.cacheControl] == "no-store")
            let list = String(buffer: try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader).body)
            #expect(list.contains("<tr data-key=\"ci\">") && list.contains("<code>project:pr-1:read</code>"))
            #expect(!list.contains("new-token"))
            let confirm = try await client.execute(uri: "/ui/keys/revoke?name=ci", method: .get, headers: browser.cookieHeader)
            #expect(String(buffer: confirm.body).contains("<form id=\"confirm-revoke\""))
            let revoked = try await client.execute(uri: "/ui/keys/revoke", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "ci")]))
            #expect(revoked.status == .seeOther)
            #expect(await backend.keysByToken.values.contains { $0.name == "ci" } == false)
        }
    }

    @Test func everyResponseCarriesTheSecurityHeaders() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            expectSecurityHeaders(try await client.execute(uri: "/", method: .get), behindSignIn: false)
            expectSecurityHeaders(try await client.execute(uri: "/ui/style.css", method: .get), behindSignIn: false)
            expectSecurityHeaders(try await client.execute(uri: "/ui/team", method: .get), behindSignIn: true)
            let browser = try await signIn(client, token: adminToken)
            for uri in ["/ui/team", "/ui/project/pr-1", "/ui/cluster/c-1", "/ui/keys", "/ui/audit", "/ui/audit?key=%3Cx%3E", "/ui/open?kind=project&id=pr-9", "/ui/open?kind=project&id=%22%3E"] {
                let response = try await client.execute(uri: uri, method: .get, headers: browser.cookieHeader)
                expectSecurityHeaders(response, behindSignIn: true)
                #expect(!String(buffer: response.body).contains("<x>"))
            }
        }
    }
}
