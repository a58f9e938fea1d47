import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import SecretFill
@testable import SecretFillWebUI
import Testing

/// `2026-01-02T03:04:05Z` for `seconds` since 1970.
func isoTime(_ seconds: Int) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

let rootPrincipal = FakeBackend.principal(.init(name: "root", grants: ["admin"]))

/// Issue 24 item 9: the Secrets index, Updated and the replace confirmation,
/// history and rollback, times, the keys page and the audit page.
extension WebUIRouterTests {
    @Test func theSecretsIndexListsEveryScopeWithCountsAndFilters() async throws {
        let backend = await backendWithKeys()
        let value = try SecretValue(validating: "v")
        for (name, scope) in [("a", Scope.team), ("b", .team), ("x", .project("pr-1")), ("y", .project("pr-2")), ("z", .project("pr-2")), ("k", .cluster("c-1"))] {
            try await backend.setSecret(name: name, value: value, in: scope, as: rootPrincipal, client: "test")
        }
        for index in 1...15 {
            try await backend.setSecret(name: "n", value: value, in: .project("p-\(index < 10 ? "0" : "")\(index)"), as: rootPrincipal, client: "test")
        }
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            let index = try await client.execute(uri: "/ui/secrets", method: .get, headers: browser.cookieHeader)
            #expect(index.status == .ok)
            expectSecurityHeaders(index, behindSignIn: true)
            let html = String(buffer: index.body)
            #expect(html.contains("<title>Secrets · secretfill</title>"))
            #expect(html.contains("<form id=\"scope-filter\" method=\"get\" action=\"/ui/secrets\">"))
            for (scope, href, count) in [("team", "/ui/team", 2), ("project pr-1", "/ui/project/pr-1", 1), ("project pr-2", "/ui/project/pr-2", 2),
                                         ("cluster c-1", "/ui/cluster/c-1", 1), ("project p-15", "/ui/project/p-15", 1)] {
                #expect(html.contains("<tr data-scope=\"\(scope)\"><td><a href=\"\(href)\">\(scope)</a></td><td class=\"count\">\(count)</td></tr>"), "\(scope)")
            }
            #expect(html.contains("19 of 19 scopes"))
            let filtered = String(buffer: try await client.execute(uri: "/ui/secrets?q=pr-2", method: .get, headers: browser.cookieHeader).body)
            #expect(filtered.contains("data-scope=\"project pr-2\"") && !filtered.contains("data-scope=\"project pr-1\"") && !filtered.contains("data-scope=\"team\""))
            #expect(filtered.contains("name=\"q\" value=\"pr-2\""))
            let clusters = String(buffer: try await client.execute(uri: "/ui/secrets?kind=cluster", method: .get, headers: browser.cookieHeader).body)
            #expect(clusters.contains("data-scope=\"cluster c-1\"") && !clusters.contains("data-scope=\"project pr-1\""))
            let none = String(buffer: try await client.execute(uri: "/ui/secrets?q=%3Cscript%3E", method: .get, headers: browser.cookieHeader).body)
            #expect(none.contains("No scope matches") && !none.contains("<script>") && none.contains("value=\"&lt;script&gt;\""))

            // The header: Team, Secrets, Projects and Clusters menus (the first 12 ids, then the index), not a link per id.
            let team = String(buffer: try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader).body)
            let nav = team[try #require(team.range(of: "<nav>")).lowerBound...]
            let header = String(nav[..<(try #require(nav.range(of: "</nav>"))).lowerBound])
            #expect(header.contains("<summary>Projects</summary>") && header.contains("<summary>Clusters</summary>"))
            #expect(header.contains("href=\"/ui/secrets\"") && header.contains("All 17 projects"))
            #expect(header.contains("href=\"/ui/project/p-01\"") && !header.contains("href=\"/ui/project/pr-2\""))
            #expect(header.components(separatedBy: "href=\"/ui/project/").count - 1 == WebUI.menuLimit)
        }
        // A names key sees only what it may list: no clusters.
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: namesToken)
            let html = String(buffer: try await client.execute(uri: "/ui/secrets", method: .get, headers: browser.cookieHeader).body)
            #expect(html.contains("data-scope=\"project pr-1\"") && !html.contains("data-scope=\"cluster c-1\""))
        }
    }

    @Test func addingANameThatExistsAsksFirstWithoutTheValueAndSaysUpdated() async throws {
        let backend = await backendWithKeys()
        let first = "first-VALUE-a1", second = "second-VALUE-b2", third = "third-VALUE-c3"
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            let csrf = try #require(Browser.csrf(String(buffer: try await client.execute(uri: "/ui/project/pr-1", method: .get, headers: browser.cookieHeader).body)))
            let added = try await client.execute(uri: "/ui/project/pr-1/add", method: .post, headers: browser.cookieHeader + formType,
                                                 body: formBody([("csrf", csrf), ("name", "db"), ("value", first)]))
            #expect(added.headers[.location] == "/ui/project/pr-1?set=db")
            // The name exists: a page asks, with an empty value field; nothing is changed yet.
            let asked = try await client.execute(uri: "/ui/project/pr-1/add", method: .post, headers: browser.cookieHeader + formType,
                                                 body: formBody([("csrf", csrf), ("name", "db"), ("value", second)]))
            #expect(asked.status == .ok)
            let html = String(buffer: asked.body)
            #expect(html.contains("Replace the value of project pr-1 secret 'db'?"))
            #expect(html.contains("<form id=\"confirm-replace\" method=\"post\" action=\"/ui/project/pr-1/add\">"))
            #expect(html.contains("<input type=\"hidden\" name=\"replace\" value=\"1\">"))
            #expect(html.contains("<input type=\"password\" name=\"value\" required autocomplete=\"new-password\" spellcheck=\"false\">"))
            #expect(!html.contains(second) && !html.contains(first))
            expectSecurityHeaders(asked, behindSignIn: true)
            #expect(await backend.stored("db", in: .project("pr-1"))?.revealed == first)
            // Confirmed: replaced, and the page says Updated, as the CLI does.
            let replaced = try await client.execute(uri: "/ui/project/pr-1/add", method: .post, headers: browser.cookieHeader + formType,
                                                    body: formBody([("csrf", csrf), ("name", "db"), ("replace", "1"), ("value", third)]))
            #expect(replaced.status == .seeOther)
            let location = try #require(replaced.headers[.location])
            #expect(location == "/ui/project/pr-1?updated=db")
            #expect(await backend.stored("db", in: .project("pr-1"))?.revealed == third)
            let page = String(buffer: try await client.execute(uri: location, method: .get, headers: browser.cookieHeader).body)
            #expect(page.contains("Updated project pr-1 secret &#39;db&#39;"))
            #expect(!page.contains(third))
            // The confirmation still needs the CSRF token.
            let forged = try await client.execute(uri: "/ui/project/pr-1/add", method: .post, headers: browser.cookieHeader + formType,
                                                  body: formBody([("name", "db"), ("replace", "1"), ("value", "forged")]))
            #expect(forged.status == .forbidden)
            #expect(await backend.stored("db", in: .project("pr-1"))?.revealed == third)
            // A new name with replace=1 is simply set.
            let fresh = try await client.execute(uri: "/ui/project/pr-1/add", method: .post, headers: browser.cookieHeader + formType,
                                                 body: formBody([("csrf", csrf), ("name", "other"), ("replace", "1"), ("value", "v")]))
            #expect(fresh.headers[.location] == "/ui/project/pr-1?set=other")
        }
    }

    @Test func aSecretsHistoryAndRollBackWithConfirmationCSRFAndWrite() async throws {
        let backend = await backendWithKeys()
        let values = ["hist-VALUE-1", "hist-VALUE-2", "hist-VALUE-3"]
        for value in values {
            try await backend.setSecret(name: "db", value: try SecretValue(validating: value), in: .team, as: rootPrincipal, client: "test")
        }
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: writeToken)
            let team = String(buffer: try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader).body)
            #expect(team.contains("<a class=\"history\" href=\"/ui/team/history?name=db\">History</a>"))
            let csrf = try #require(Browser.csrf(team))
            let history = try await client.execute(uri: "/ui/team/history?name=db", method: .get, headers: browser.cookieHeader)
            #expect(history.status == .ok)
            expectSecurityHeaders(history, behindSignIn: true)
            let html = String(buffer: history.body)
            #expect(html.contains("History of team secret 'db'"))
            #expect(html.contains("<table id=\"history\">"))
            for version in 1...3 { #expect(html.contains("<tr data-version=\"\(version)\">")) }
            #expect(html.contains("<time datetime=\"2026-01-01T00:00:02Z\">2026-01-01 00:00:02 UTC</time>"))
            #expect(html.components(separatedBy: ">Roll back</button>").count - 1 == 2, "no Roll back on the current version")
            #expect(html.contains("<input type=\"hidden\" name=\"version\" value=\"1\">"))
            for value in values { #expect(!html.contains(value)) }
            let confirm = try await client.execute(uri: "/ui/team/rollback?name=db&version=1", method: .get, headers: browser.cookieHeader)
            let asked = String(buffer: confirm.body)
            #expect(asked.contains("Roll back team secret 'db' to version 1?"))
            #expect(asked.contains("<form id=\"confirm-rollback\" method=\"post\" action=\"/ui/team/rollback\">"))
            #expect(await backend.stored("db", in: .team)?.revealed == values[2], "the confirmation page changes nothing")
            let forged = try await client.execute(uri: "/ui/team/rollback", method: .post, headers: browser.cookieHeader + formType,
                                                  body: formBody([("name", "db"), ("version", "1")]))
            #expect(forged.status == .forbidden)
            #expect(await backend.stored("db", in: .team)?.revealed == values[2])
            let rolled = try await client.execute(uri: "/ui/team/rollback", method: .post, headers: browser.cookieHeader + formType,
                                                  body: formBody([("csrf", csrf), ("name", "db"), ("version", "1")]))
            #expect(rolled.status == .seeOther)
            let location = try #require(rolled.headers[.location])
            #expect(location == "/ui/team/history?name=db&rolledback=1&now=4")
            #expect(await backend.stored("db", in: .team)?.revealed == values[0])
            let after = String(buffer: try await client.execute(uri: location, method: .get, headers: browser.cookieHeader).body)
            #expect(after.contains("Rolled back team secret &#39;db&#39; to version 1 (now version 4)"))
            #expect(await backend.auditLog.contains { $0.action == "rollback" && $0.key == "dev" && $0.names == ["db"] })
            for (uri, status) in [("/ui/team/rollback?name=db&version=0", HTTPResponse.Status.badRequest), ("/ui/team/rollback?name=db&version=x", .badRequest),
                                  ("/ui/team/rollback?name=1bad&version=1", .badRequest), ("/ui/team/history?name=nope", .notFound)] {
                #expect(try await client.execute(uri: uri, method: .get, headers: browser.cookieHeader).status == status, "\(uri)")
            }
            let missing = try await client.execute(uri: "/ui/team/rollback", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "db"), ("version", "99")]))
            #expect(missing.status == .notFound)
        }
        // A names key: no History link, and neither history nor rollback.
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: namesToken)
            let team = String(buffer: try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader).body)
            #expect(!team.contains("/ui/team/history"))
            let csrf = try #require(Browser.csrf(team))
            #expect(try await client.execute(uri: "/ui/team/history?name=db", method: .get, headers: browser.cookieHeader).status == .forbidden)
            #expect(try await client.execute(uri: "/ui/team/rollback?name=db&version=1", method: .get, headers: browser.cookieHeader).status == .forbidden)
            let refused = try await client.execute(uri: "/ui/team/rollback", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "db"), ("version", "2")]))
            #expect(refused.status == .forbidden)
            #expect(String(buffer: refused.body).contains("key &#39;viewer&#39; may not write to team"))
            #expect(await backend.stored("db", in: .team)?.revealed == values[0])
        }
    }

    @Test func timesAreUTCWithARelativeHint() async throws {
        #expect(WebUITime.seconds("1970-01-02T00:00:00Z") == 86_400)
        #expect(WebUITime.seconds("2026-01-01") == 1_767_225_600)
        #expect(WebUITime.seconds("2026-13-01T00:00:00Z") == nil && WebUITime.seconds("never") == nil)
        let now = 1_767_225_600
        #expect(WebUITime.relative(isoTime(now - 3 * 3600 - 20), now: now) == "3 h ago")
        #expect(WebUITime.relative(isoTime(now - 30), now: now) == "just now")
        #expect(WebUITime.relative(isoTime(now - 5 * 60), now: now) == "5 min ago")
        #expect(WebUITime.relative(isoTime(now + 4 * 86_400), now: now) == "in 4 d")
        #expect(WebUITime.shown("2026-01-02T03:04:05Z") == "2026-01-02 03:04:05 UTC")
        #expect(WebUITime.sinceSeconds("24h") == 86_400 && WebUITime.sinceSeconds("2026-01-01", now: now + 10) == 10)
        #expect(WebUITime.sinceSeconds("yesterday") == nil && WebUITime.sinceSeconds("-1h") == nil)

        let backend = await backendWithKeys()
        try await backend.setSecret(name: "api_token", value: try SecretValue(validating: "v"), in: .team, as: rootPrincipal, client: "test")
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: adminToken)
            let team = String(buffer: try await client.execute(uri: "/ui/team", method: .get, headers: browser.cookieHeader).body)
            #expect(team.contains("<th>Updated (UTC)</th>"))
            #expect(team.contains("<time datetime=\"2026-01-01T00:00:00Z\">2026-01-01 00:00:00 UTC</time> <span class=\"ago\">("))
            let keys = String(buffer: try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader).body)
            #expect(keys.contains("<time datetime=\"2026-01-01T00:00:00Z\">2026-01-01 00:00:00 UTC</time>"))
            #expect(keys.contains("<td class=\"when\">never</td>"))
        }
    }

    @Test func theKeysPageHidesRevokedAndExpiredKeysAndItsViewsAreNotAudited() async throws {
        let backend = await backendWithKeys()
        let now = WebUITime.nowSeconds()
        await backend.addKeyRow(WebUIKeyRow(name: "old_ci", grants: ["team:names"], created: isoTime(now - 90 * 86_400), lastUsed: nil,
                                            expires: isoTime(now - 86_400), revoked: nil))
        await backend.addKeyRow(WebUIKeyRow(name: "soon", grants: ["team:names"], created: isoTime(now - 3600), lastUsed: isoTime(now - 3 * 3600),
                                            expires: isoTime(now + 5 * 86_400), revoked: nil))
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: adminToken)
            let csrf = try #require(Browser.csrf(String(buffer: try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader).body)))
            _ = try await client.execute(uri: "/ui/keys/create", method: .post, headers: browser.cookieHeader + formType,
                                         body: formBody([("csrf", csrf), ("name", "ci"), ("grants", "team:names"), ("expires", "")]))
            let revoked = try await client.execute(uri: "/ui/keys/revoke", method: .post, headers: browser.cookieHeader + formType,
                                                   body: formBody([("csrf", csrf), ("name", "ci")]))
            let location = try #require(revoked.headers[.location])
            // Right after revoking, the key is shown as revoked...
            let after = String(buffer: try await client.execute(uri: location, method: .get, headers: browser.cookieHeader).body)
            #expect(after.contains("Revoked key &#39;ci&#39;") && after.contains("<tr data-key=\"ci\">") && after.contains("revoked 2026-01-02 00:00:00 UTC"))
            // ...and from then on behind "show revoked", with the expired one.
            let keys = String(buffer: try await client.execute(uri: "/ui/keys", method: .get, headers: browser.cookieHeader).body)
            #expect(!keys.contains("data-key=\"ci\"") && !keys.contains("data-key=\"old_ci\""))
            #expect(keys.contains("<tr data-key=\"soon\">") && keys.contains("<tr data-key=\"dev\">"))
            #expect(keys.contains("(3 h ago)") && (keys.contains("(in 4 d)") || keys.contains("(in 5 d)")))
            #expect(keys.contains("<a id=\"show-revoked\" href=\"/ui/keys?all=1\">Show revoked and expired keys (2)</a>"))
            let all = String(buffer: try await client.execute(uri: "/ui/keys?all=1", method: .get, headers: browser.cookieHeader).body)
            #expect(all.contains("<tr data-key=\"ci\">") && all.contains("<tr data-key=\"old_ci\">") && all.contains("id=\"hide-revoked\""))
            #expect(all.contains(">expired<"))
            // Opening the page is not a key.list audit row; the API's listing is.
            #expect(await backend.keyListAudits == 0)
            _ = try await backend.keys(as: rootPrincipal, client: "api")
            #expect(await backend.keyListAudits == 1)
        }
    }

    @Test func theAuditPageIsPagedByOneHundredWithATimeFilterAndTheClient() async throws {
        let backend = await backendWithKeys()
        let now = WebUITime.nowSeconds()
        for index in 0..<150 {
            await backend.appendAudit(WebUIAuditRow(time: isoTime(now - 60 - index * 60), key: "dev", action: "set", scope: "team", names: ["n\(index)"],
                                                    outcome: "ok", client: "192.0.2.\(index % 200)"))
        }
        await backend.appendAudit(WebUIAuditRow(time: isoTime(now - 3 * 86_400), key: "dev", action: "delete", scope: "team", names: ["ancient"],
                                                outcome: "ok", client: "198.51.100.7"))
        try await makeApp(backend).test(.router) { client in
            let browser = try await signIn(client, token: adminToken)
            let first = String(buffer: try await client.execute(uri: "/ui/audit?key=dev", method: .get, headers: browser.cookieHeader).body)
            #expect(first.contains("<th>Client</th>") && first.contains("<td class=\"client\">192.0.2.0</td>"))
            #expect(first.components(separatedBy: "<td class=\"client\">").count - 1 == 100)
            #expect(first.contains("<a id=\"older\" href=\"/ui/audit?before=100&amp;key=dev\">Older entries</a>"))
            #expect(first.contains("name=\"since\""))
            let second = String(buffer: try await client.execute(uri: "/ui/audit?before=100&key=dev", method: .get, headers: browser.cookieHeader).body)
            #expect(second.components(separatedBy: "<td class=\"client\">").count - 1 == 51)
            #expect(second.contains("198.51.100.7") && !second.contains("id=\"older\""))
            // The last 24 h: the old entry is left out, and the link to older entries keeps the filter.
            let recent = String(buffer: try await client.execute(uri: "/ui/audit?key=dev&since=24h", method: .get, headers: browser.cookieHeader).body)
            #expect(recent.contains("name=\"since\" value=\"24h\""))
            #expect(recent.contains("href=\"/ui/audit?before=100&amp;key=dev&amp;since=24h\""))
            let recentOlder = String(buffer: try await client.execute(uri: "/ui/audit?before=100&key=dev&since=24h", method: .get, headers: browser.cookieHeader).body)
            #expect(recentOlder.components(separatedBy: "<td class=\"client\">").count - 1 == 50 && !recentOlder.contains("198.51.100.7"))
            let day = String(buffer: try await client.execute(uri: "/ui/audit?secret=ancient&since=\(String(isoTime(now - 4 * 86_400).prefix(10)))", method: .get, headers: browser.cookieHeader).body)
            #expect(day.contains("198.51.100.7"))
            let bad = try await client.execute(uri: "/ui/audit?since=%3Cyesterday%3E", method: .get, headers: browser.cookieHeader)
            #expect(bad.status == .badRequest)
            let badHTML = String(buffer: bad.body)
            #expect(badHTML.contains("is not a time to filter by") && !badHTML.contains("<yesterday>"))
        }
    }
}
