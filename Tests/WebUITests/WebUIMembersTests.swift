import Hummingbird
import HummingbirdTesting
import HTTPTypes
import SecretFillAPI
@testable import SecretFillWebUI
import Testing

/// The Members page (issue 25), in process over the in-memory backend:
/// list, add, change grants, remove after confirming; CSRF, security
/// headers and no-store as every page; admin only.
@Suite struct WebUIMembersTests {
    @Test func anAdminAddsChangesAndRemovesMembersAndAMistakeKeepsTheForm() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: adminToken)
            let first = try await client.execute(uri: "/ui/members", method: .get, headers: browser.cookieHeader)
            #expect(first.status == .ok)
            expectSecurityHeaders(first, behindSignIn: true)
            let empty = String(buffer: first.body)
            #expect(empty.contains("<p id=\"no-members\">No members yet.</p>") && empty.contains("<form id=\"add-member\""))
            #expect(empty.contains("<a href=\"/ui/members\" aria-current=\"page\">Members</a>"))
            let csrf = try #require(Browser.csrf(empty))
            func add(_ name: String, _ grants: String, csrf: String = csrf) async throws -> TestResponse {
                try await client.execute(uri: "/ui/members/add", method: .post, headers: browser.cookieHeader + formType,
                                         body: formBody([("csrf", csrf), ("name", name), ("grants", grants)]))
            }

            // Mistakes: the words the CLI prints, the form as sent, nothing added.
            let badName = try await add("not-an-email", "team:read")
            #expect(badName.status == .badRequest)
            let badPage = String(buffer: badName.body)
            #expect(badPage.contains("a member is an email") && badPage.contains("name=\"name\" value=\"not-an-email\""), "\(badPage)")
            let badGrant = try await add("ana@acme.dev", "team:everything")
            #expect(badGrant.status == .badRequest)
            #expect(String(buffer: badGrant.body).contains("id=\"member-error\""))
            #expect(String(buffer: badGrant.body).contains("team:everything</textarea>"))
            #expect(await backend.memberChanges.isEmpty)

            // Added, then listed with the notice after the redirect.
            let added = try await add("Ana@Acme.dev", "team:read\r\nproject:pr-1:write")
            #expect(added.status == .seeOther)
            #expect(added.headers[.location] == "/ui/members?added=ana@acme.dev")
            let listed = String(buffer: try await client.execute(uri: "/ui/members?added=ana@acme.dev", method: .get, headers: browser.cookieHeader).body)
            #expect(listed.contains("Added member &#39;ana@acme.dev&#39;"))
            #expect(listed.contains("<tr data-member=\"ana@acme.dev\">") && !listed.contains("id=\"no-members\""))
            #expect(listed.contains("<code>team:read</code> <code>project:pr-1:write</code>"))
            let group = try await add("group:sre&ops", "admin")
            #expect(group.status == .seeOther)
            #expect(group.headers[.location] == "/ui/members?added=group:sre%26ops", "\(String(describing: group.headers[.location]))")
            let groupPage = String(buffer: try await client.execute(uri: try #require(group.headers[.location]), method: .get, headers: browser.cookieHeader).body)
            #expect(groupPage.contains("Added member &#39;group:sre&amp;ops&#39;"), "the name is escaped on the page")

            // Change grants: the same form, Updated.
            let changed = try await add("ana@acme.dev", "team:write")
            #expect(changed.status == .seeOther)
            #expect(changed.headers[.location] == "/ui/members?updated=ana@acme.dev")
            let after = String(buffer: try await client.execute(uri: "/ui/members?updated=ana@acme.dev", method: .get, headers: browser.cookieHeader).body)
            #expect(after.contains("Updated member &#39;ana@acme.dev&#39;"))
            #expect(after.contains("<form class=\"change-grants\"") && after.contains(">team:write</textarea>"))

            // A forged add (no CSRF token) changes nothing.
            let forged = try await add("eve@acme.dev", "admin", csrf: "")
            #expect(forged.status == .forbidden)
            #expect(await backend.members["eve@acme.dev"] == nil)

            // Remove: confirmation first, then the POST with the session's token.
            let confirm = try await client.execute(uri: "/ui/members/remove?name=ana%40acme.dev", method: .get, headers: browser.cookieHeader)
            #expect(confirm.status == .ok)
            expectSecurityHeaders(confirm, behindSignIn: true)
            #expect(String(buffer: confirm.body).contains("<form id=\"confirm-member-remove\""))
            #expect(await backend.members["ana@acme.dev"] != nil)
            let notAName = try await client.execute(uri: "/ui/members/remove?name=..%2Fx", method: .get, headers: browser.cookieHeader)
            #expect(notAName.status == .badRequest)
            let forgedRemove = try await client.execute(uri: "/ui/members/remove", method: .post, headers: browser.cookieHeader + formType,
                                                        body: formBody([("csrf", "nope"), ("name", "ana@acme.dev")]))
            #expect(forgedRemove.status == .forbidden)
            let removed = try await client.execute(uri: "/ui/members/remove", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "ana@acme.dev")]))
            #expect(removed.status == .seeOther)
            let gonePage = String(buffer: try await client.execute(uri: try #require(removed.headers[.location]), method: .get, headers: browser.cookieHeader).body)
            #expect(gonePage.contains("Removed member &#39;ana@acme.dev&#39;"))
            #expect(!gonePage.contains("data-member=\"ana@acme.dev\"") && gonePage.contains("data-member=\"group:sre&amp;ops\""))
            let again = try await client.execute(uri: "/ui/members/remove", method: .post, headers: browser.cookieHeader + formType,
                                                 body: formBody([("csrf", csrf), ("name", "ana@acme.dev")]))
            #expect(again.status == .notFound)
            #expect(await backend.memberChanges == ["add ana@acme.dev", "add group:sre&ops", "update ana@acme.dev", "remove ana@acme.dev"])
        }
    }

    @Test func aKeyThatIsNotAnAdminSeesNoMembersAndItsPostsChangeNothing() async throws {
        let backend = await backendWithKeys()
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            let team = String(buffer: try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader).body)
            #expect(!team.contains("href=\"/ui/members\""))
            let csrf = try #require(Browser.csrf(team))
            let page = try await client.execute(uri: "/ui/members", method: .get, headers: browser.cookieHeader)
            #expect(page.status == .forbidden)
            #expect(String(buffer: page.body).contains("that needs an admin key"))
            let add = try await client.execute(uri: "/ui/members/add", method: .post, headers: browser.cookieHeader + formType,
                                               body: formBody([("csrf", csrf), ("name", "eve@acme.dev"), ("grants", "admin")]))
            #expect(add.status == .forbidden)
            let confirm = try await client.execute(uri: "/ui/members/remove?name=eve@acme.dev", method: .get, headers: browser.cookieHeader)
            #expect(confirm.status == .forbidden)
            let remove = try await client.execute(uri: "/ui/members/remove", method: .post, headers: browser.cookieHeader + formType,
                                                  body: formBody([("csrf", csrf), ("name", "eve@acme.dev")]))
            #expect(remove.status == .forbidden)
            #expect(await backend.memberChanges.isEmpty)
            // Not signed in: sent to sign in, nothing shown.
            let anonymous = try await client.execute(uri: "/ui/members", method: .get)
            #expect(anonymous.status != .ok)
        }
    }
}
