import Hummingbird
import HummingbirdTesting
import HTTPTypes
import SecretFillAPI
@testable import SecretFillWebUI
import Testing

/// The API Keys page's Roles section (issue 26), in process over the
/// in-memory backend; Tests/Browser/webui_flows.py drives the same section
/// in Chromium against `secretfill serve` on PostgreSQL and SQLite.
@Suite struct WebUIRolesTests {
    static func roleForm(_ csrf: String, name: String = "gh-main", issuer: String = "https://token.actions.githubusercontent.com",
                         claims: String = "repository=acme/api\r\nref=refs/heads/main\r\n", grants: String = "project:pr-1:read\r\nteam:read",
                         ttl: String = "", maxTTL: String = "", jwks: String = "") -> ByteBuffer {
        formBody([("csrf", csrf), ("name", name), ("issuer", issuer), ("audiences", "https://github.com/acme"), ("claims", claims),
                  ("subject", ""), ("grants", grants), ("ttl", ttl), ("maxTTL", maxTTL), ("jwks", jwks)])
    }

    @Test func anAdminListsCreatesAndDeletesRolesAndAMistakeGetsTheCLIsWordsWithTheFormKept() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: adminToken)
            let empty = String(buffer: try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader).body)
            #expect(empty.contains("<p id=\"no-roles\">No roles yet.</p>") && empty.contains("<form id=\"create-role\""))
            #expect(empty.contains("name=\"ttl\" value=\"15m\"") && empty.contains("name=\"maxTTL\" value=\"1h\""))
            let csrf = try #require(Browser.csrf(empty))
            func create(_ body: ByteBuffer) async throws -> TestResponse {
                try await client.execute(uri: "/ui/roles/create", method: .post, headers: browser.cookieHeader + formType, body: body)
            }

            // Mistakes: the words `roles create` prints, the form as it was sent, nothing created.
            let long = try await create(Self.roleForm(csrf, ttl: "2h", maxTTL: "1h"))
            #expect(long.status == .badRequest)
            let longPage = String(buffer: long.body)
            #expect(longPage.contains("--ttl (2h) may not exceed --max-ttl (1h)"), "\(longPage)")
            #expect(longPage.contains("name=\"name\" value=\"gh-main\"") && longPage.contains("repository=acme/api\r\nref=refs/heads/main"))
            #expect(longPage.contains("name=\"ttl\" value=\"2h\""))
            let claim = try await create(Self.roleForm(csrf, claims: "ref"))
            #expect(claim.status == .badRequest)
            #expect(String(buffer: claim.body).contains("--bound-claim takes CLAIM=PATTERN, for example ref=refs/heads/main"))
            let grant = try await create(Self.roleForm(csrf, grants: "project:pr-1:everything"))
            #expect(grant.status == .badRequest)
            #expect(String(buffer: grant.body).contains("id=\"role-error\""))
            let plain = try await create(Self.roleForm(csrf, issuer: "http://issuer.example"))
            #expect(plain.status == .badRequest)
            #expect(String(buffer: plain.body).contains("discovery needs https"))
            #expect(await backend.roleChanges.isEmpty)

            // Created: listed with its settings, the notice after the redirect.
            let created = try await create(Self.roleForm(csrf))
            #expect(created.status == .seeOther)
            let location = try #require(created.headers[.location])
            #expect(location == "/ui/keys?roleCreated=gh-main#roles")
            let listed = String(buffer: try await client.execute(uri: location, method: .get, headers: browser.cookieHeader).body)
            #expect(listed.contains("Created role &#39;gh-main&#39;"))
            #expect(listed.contains("<tr data-role=\"gh-main\">") && !listed.contains("id=\"no-roles\""))
            #expect(listed.contains("<code>ref=refs/heads/main</code> <code>repository=acme/api</code>"))
            #expect(listed.contains("<td>15m (at most 1h)</td>") && listed.contains("<td>discovery</td>"))
            #expect(listed.contains("<code>project:pr-1:read</code> <code>team:read</code>"))
            let again = try await create(Self.roleForm(csrf))
            #expect(again.status == .conflict)
            #expect(String(buffer: again.body).contains("a role named &#39;gh-main&#39; exists already"))
            // A role whose keys are given: any issuer, "JWKS given".
            let given = try await create(Self.roleForm(csrf, name: "air", issuer: "http://issuer.internal", ttl: "90s", maxTTL: "2m",
                                                       jwks: "{\"keys\": []}"))
            #expect(given.status == .seeOther)
            let both = String(buffer: try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader).body)
            #expect(both.contains("<td>90s (at most 2m)</td>") && both.contains("<td>JWKS given</td>"))

            // A forged create (no CSRF token) changes nothing.
            let forged = try await client.execute(uri: "/ui/roles/create", method: .post, headers: browser.cookieHeader + formType,
                                                  body: Self.roleForm("", name: "forged"))
            #expect(forged.status == .forbidden)

            // Delete: confirmation first, then the POST with the session's token.
            let confirm = try await client.execute(uri: "/ui/roles/delete?name=gh-main", method: .get, headers: browser.cookieHeader)
            #expect(confirm.status == .ok)
            #expect(String(buffer: confirm.body).contains("<form id=\"confirm-role-delete\""))
            #expect(await backend.roles["gh-main"] != nil)
            let badName = try await client.execute(uri: "/ui/roles/delete?name=..%2Fx", method: .get, headers: browser.cookieHeader)
            #expect(badName.status == .badRequest)
            let forgedDelete = try await client.execute(uri: "/ui/roles/delete", method: .post, headers: browser.cookieHeader + formType,
                                                        body: formBody([("csrf", "nope"), ("name", "gh-main")]))
            #expect(forgedDelete.status == .forbidden)
            let deleted = try await client.execute(uri: "/ui/roles/delete", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "gh-main")]))
            #expect(deleted.status == .seeOther)
            let after = String(buffer: try await client.execute(uri: try #require(deleted.headers[.location]), method: .get, headers: browser.cookieHeader).body)
            #expect(after.contains("Deleted role &#39;gh-main&#39;; the tokens it issued are refused from now on"))
            #expect(!after.contains("data-role=\"gh-main\"") && after.contains("data-role=\"air\""))
            let gone = try await client.execute(uri: "/ui/roles/delete", method: .post, headers: browser.cookieHeader + formType,
                                                body: formBody([("csrf", csrf), ("name", "gh-main")]))
            #expect(gone.status == .notFound)
            #expect(await backend.roleChanges == ["create gh-main", "create air", "delete gh-main"])
        }
    }

    @Test func aKeyThatIsNotAnAdminGetsNoRolesAndItsPostsChangeNothing() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            let team = String(buffer: try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader).body)
            let csrf = try #require(Browser.csrf(team))
            let create = try await client.execute(uri: "/ui/roles/create", method: .post, headers: browser.cookieHeader + formType,
                                                  body: Self.roleForm(csrf))
            #expect(create.status == .forbidden)
            #expect(String(buffer: create.body).contains("that needs an admin key"))
            let confirm = try await client.execute(uri: "/ui/roles/delete?name=gh-main", method: .get, headers: browser.cookieHeader)
            #expect(confirm.status == .forbidden)
            #expect(await backend.roleChanges.isEmpty)
            #expect(await backend.roles.isEmpty)
        }
    }
}
