import Foundation
import Testing

/// Security review, issue 23, item 9: a page on another port or site can
/// neither sign a browser in (login CSRF, with the attacker's key and a nonce
/// the server issued to the attacker, tossed as a cookie from a neighbouring
/// port) nor post a form behind the sign-in; under TLS the cookies are
/// `__Host-` prefixed so that nobody can plant them.
@Suite("Cross-origin POSTs, login CSRF and cookie tossing", .serialized)
struct CrossOriginBrowserTests {
    static let script = CLI.packageRoot.appendingPathComponent("Tests/Browser/cross_origin.py").path

    /// A server on SQLite with a victim and an attacker key (both may write
    /// the team scope) and an admin key, and the victim's secret `victim_secret`.
    struct Fixture {
        let cli: CLI
        let database: String
        let victim: String
        let attacker: String
        let admin: String

        init() throws {
            cli = try CLI()
            database = try Backend.sqlite.freshURL(in: cli)
            victim = try cli.createKeyDirect("victim", grants: ["team:write"], database: database)
            attacker = try cli.createKeyDirect("attacker", grants: ["team:write"], database: database)
            admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        }

        func setVictimSecret(on server: LaunchedServer) throws {
            let set = server.call("/v1/secrets/set", ["-H", "Authorization: Bearer \(victim)", "-H", "Content-Type: application/json", "--data-binary",
                                                      "{\"scope\": \"team\", \"id\": null, \"secrets\": [{\"name\": \"victim_secret\", \"value\": \"victim-value\"}]}"])
            try #require(set.status == 200, "set: \(set.status) \(set.body)")
        }

        /// The team's secret names, as the victim's key lists them.
        func teamNames(on server: LaunchedServer) -> String {
            server.call("/v1/names", ["-H", "Authorization: Bearer \(victim)", "-H", "Content-Type: application/json",
                                      "--data-binary", "{\"scopes\": [{\"scope\": \"team\", \"id\": null}]}"]).body
        }

        /// The audit log as JSON lines, read by the admin key.
        func audit(on server: LaunchedServer) -> [[String: Any]] {
            let outcome = cli.run(["audit", "--format", "json"], environment: ["SECRETFILL_SERVER": server.url, "SECRETFILL_TOKEN": admin])
            return outcome.stdoutText.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }
    }

    @Test("Chromium, attacker's page on another loopback port: login CSRF (server-issued nonce, tossed or not, Origin of the port or null; attacker's own nonce) and add/delete/sign-out with a guessed or the real CSRF token are all 403 'from another site or port'; no session cookie, the victim's session and secrets unchanged, the victim's own forms work")
    func browserAttacks() throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "chromium is missing: run scripts/browser.sh")
        let fixture = try Fixture()
        let server = try LaunchedServer(cli: fixture.cli, database: fixture.database)
        defer { server.stop() }
        try fixture.setVictimSecret(on: server)
        let outcome = CLI.execute("/usr/bin/env", ["python3", Self.script, server.url, fixture.victim, fixture.attacker],
                                  environment: ProcessInfo.processInfo.environment)
        print("cross_origin.py: \(outcome.stdoutText.split(separator: "\n").last ?? "")")
        #expect(outcome.status == 0, "\(outcome.stdoutText)\(outcome.stderr)")

        // What the server holds afterwards: the victim's secret, nothing of the attacker's forms.
        let names = fixture.teamNames(on: server)
        #expect(names.contains("\"victim_secret\"") && !names.contains("tossed_by_attacker"), "team names: \(names)")
        // The attacker's key never started a session, and the refused forms did nothing.
        let entries = fixture.audit(on: server)
        #expect(!entries.isEmpty, "the audit log could not be read")
        #expect(!entries.contains { $0["key"] as? String == "attacker" && $0["action"] as? String == "session.start" },
                "the attacker's key started a session: \(entries.filter { $0["key"] as? String == "attacker" })")
        #expect(!entries.contains { $0["action"] as? String == "delete" && $0["outcome"] as? String == "ok" }, "a delete went through")
        for token in [fixture.victim, fixture.attacker, fixture.admin] {
            #expect(!server.log.contains(token) && !outcome.allOutput.contains(token), "a token is in the server's log or the script's output")
        }
    }

    /// A sign-in attempt with curl: a fresh nonce and its cookie from GET /,
    /// then POST /sign-in with the victim's key and `headers`.
    static func signIn(_ server: LaunchedServer, token: String, headers: [String], cookieName: String = "sf_signin",
                       sendCookieAs: String? = nil) throws -> LaunchedServer.Answer {
        let page = server.call("/")
        let nonce = try #require(page.setCookie(cookieName)?.value, "GET / set no \(cookieName): \(page.headers)")
        return server.call("/sign-in", headers.flatMap { ["-H", $0] } + [
            "-H", "Cookie: \(sendCookieAs ?? cookieName)=\(nonce)",
            "--data-urlencode", "token=\(token)", "--data-urlencode", "csrf=\(nonce)",
        ])
    }

    @Test("curl, plain HTTP: POST /sign-in with a valid nonce and cookie is 403 with Origin of another port or host, Origin null from another site, or (no Origin) Sec-Fetch-Site cross-site or same-site; 303 with the server's own Origin or Sec-Fetch-Site same-origin; a form with a valid session and CSRF token but another Origin changes nothing")
    func originRules() throws {
        let fixture = try Fixture()
        let server = try LaunchedServer(cli: fixture.cli, database: fixture.database)
        defer { server.stop() }
        try fixture.setVictimSecret(on: server)
        let own = "http://127.0.0.1:\(server.port)"
        let other = "http://127.0.0.1:\(server.port == 65535 ? 1 : server.port + 1)"

        let page = server.call("/")
        #expect(page.setCookie("sf_signin") != nil && page.setCookie("__Host-sf_signin") == nil, "plain HTTP: an unprefixed sf_signin")
        #expect(page.value("Strict-Transport-Security") == nil, "no HSTS over plain HTTP")

        let refused: [(String, [String])] = [
            ("Origin of another port", ["Origin: \(other)"]),
            ("Origin of another host name for the same port", ["Origin: http://localhost:\(server.port)"]),
            ("Origin of another scheme", ["Origin: https://127.0.0.1:\(server.port)"]),
            ("Origin null from another site", ["Origin: null", "Sec-Fetch-Site: cross-site"]),
            ("Origin null from another port", ["Origin: null", "Sec-Fetch-Site: same-site"]),
            ("no Origin, Sec-Fetch-Site cross-site", ["Sec-Fetch-Site: cross-site"]),
            ("no Origin, Sec-Fetch-Site same-site", ["Sec-Fetch-Site: same-site"]),
        ]
        for (label, headers) in refused {
            let answer = try Self.signIn(server, token: fixture.victim, headers: headers)
            #expect(answer.status == 403, "\(label): \(answer.status)")
            #expect(answer.body.contains("sent from another site or port"), "\(label): the page does not say why: \(answer.body.prefix(300))")
            #expect(answer.setCookie("sf_session") == nil, "\(label): a session cookie was set")
        }
        for (label, headers) in [("the server's own Origin", ["Origin: \(own)"]), ("no Origin, Sec-Fetch-Site same-origin", ["Sec-Fetch-Site: same-origin"])] {
            let answer = try Self.signIn(server, token: fixture.victim, headers: headers)
            #expect(answer.status == 303 && answer.value("Location") == "/ui/team", "\(label): \(answer.status) \(answer.body.prefix(200))")
            #expect(answer.setCookie("sf_session")?.value.isEmpty == false, "\(label): no session cookie")
        }

        // Signed in properly; a form with the real CSRF token from another origin is refused and changes nothing.
        let signedIn = try Self.signIn(server, token: fixture.victim, headers: ["Origin: \(own)"])
        let session = try #require(signedIn.setCookie("sf_session")?.value)
        let team = server.call("/ui/team", ["-H", "Cookie: sf_session=\(session)"])
        try #require(team.status == 200, "/ui/team: \(team.status)")
        let csrf = try #require(team.body.firstMatch(of: /name="csrf" value="([^"]+)"/).map { String($0.1) }, "no CSRF token on /ui/team")
        for origin in [other, "null"] {
            let add = server.call("/ui/team/add", ["-H", "Cookie: sf_session=\(session)", "-H", "Origin: \(origin)", "-H", "Sec-Fetch-Site: same-site",
                                                   "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "name=cross_origin_add", "--data-urlencode", "value=x"])
            #expect(add.status == 403 && add.body.contains("sent from another site or port"), "add from Origin \(origin): \(add.status)")
            let delete = server.call("/ui/team/delete", ["-H", "Cookie: sf_session=\(session)", "-H", "Origin: \(origin)", "-H", "Sec-Fetch-Site: same-site",
                                                         "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "name=victim_secret"])
            #expect(delete.status == 403, "delete from Origin \(origin): \(delete.status)")
        }
        var names = fixture.teamNames(on: server)
        #expect(names.contains("\"victim_secret\"") && !names.contains("cross_origin_add"), "after the cross-origin forms: \(names)")
        // The same form from the server's own origin goes through (the check is not refusing everything).
        let add = server.call("/ui/team/add", ["-H", "Cookie: sf_session=\(session)", "-H", "Origin: \(own)",
                                               "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "name=same_origin_add", "--data-urlencode", "value=x"])
        #expect(add.status == 200 || add.status == 303, "add from the server's own origin: \(add.status) \(add.body.prefix(200))")
        names = fixture.teamNames(on: server)
        #expect(names.contains("\"same_origin_add\""), "the same-origin add did not happen: \(names)")
    }

    @Test("curl, plain HTTP: Origin null without Sec-Fetch-Site (what a browser older than fetch metadata sends from a sandboxed or no-referrer page of another site) does not say the form is the server's own: sign-in with a tossed nonce, add and delete with a leaked CSRF token are 403 and change nothing")
    func nullOriginWithoutFetchMetadata() throws {
        let fixture = try Fixture()
        let server = try LaunchedServer(cli: fixture.cli, database: fixture.database)
        defer { server.stop() }
        try fixture.setVictimSecret(on: server)
        let signIn = try Self.signIn(server, token: fixture.attacker, headers: ["Origin: null"])
        #expect(signIn.status == 403 && signIn.setCookie("sf_session") == nil, "sign-in with Origin null and no Sec-Fetch-Site: \(signIn.status)")

        let own = try Self.signIn(server, token: fixture.victim, headers: ["Origin: http://127.0.0.1:\(server.port)"])
        let session = try #require(own.setCookie("sf_session")?.value, "the victim's own sign-in: \(own.status)")
        let team = server.call("/ui/team", ["-H", "Cookie: sf_session=\(session)"])
        let csrf = try #require(team.body.firstMatch(of: /name="csrf" value="([^"]+)"/).map { String($0.1) }, "no CSRF token on /ui/team")
        let add = server.call("/ui/team/add", ["-H", "Cookie: sf_session=\(session)", "-H", "Origin: null",
                                               "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "name=null_origin_add", "--data-urlencode", "value=x"])
        #expect(add.status == 403, "add with Origin null and no Sec-Fetch-Site: \(add.status)")
        let delete = server.call("/ui/team/delete", ["-H", "Cookie: sf_session=\(session)", "-H", "Origin: null",
                                                     "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "name=victim_secret"])
        #expect(delete.status == 403, "delete with Origin null and no Sec-Fetch-Site: \(delete.status)")
        let names = fixture.teamNames(on: server)
        #expect(names.contains("\"victim_secret\"") && !names.contains("null_origin_add"), "after the Origin null forms: \(names)")
    }

    @Test("TLS: GET / sets __Host-sf_signin with Secure and Path=/ and no Domain; answers carry Strict-Transport-Security max-age=31536000; sign-in sets __Host-sf_session; a tossed unprefixed sf_session or sf_signin is not accepted; Origin http:// of the same host and port is refused")
    func tlsHostCookies() throws {
        let fixture = try Fixture()
        let folder = fixture.cli.directory.path
        let made = CLI.execute("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                    "-keyout", folder + "/tls.key", "-out", folder + "/tls.crt", "-days", "2", "-subj", "/CN=localhost",
                                                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                               environment: ProcessInfo.processInfo.environment)
        try #require(made.status == 0, "openssl: \(made.stderr)")
        _ = chmod(folder + "/tls.key", 0o600)
        let server = try LaunchedServer(cli: fixture.cli, database: fixture.database,
                                        arguments: ["--tls-cert", folder + "/tls.crt", "--tls-key", folder + "/tls.key"])
        defer { server.stop() }
        try #require(server.url.hasPrefix("https://"), "serve --tls-cert did not serve https: \(server.url)")
        let own = "https://127.0.0.1:\(server.port)"

        func hsts(_ answer: LaunchedServer.Answer, _ label: String) {
            let value = answer.value("Strict-Transport-Security") ?? ""
            let age = value.firstMatch(of: /max-age=(\d+)/).flatMap { Int($0.1) } ?? 0
            #expect(age >= 31_536_000, "\(label): Strict-Transport-Security '\(value)'")
        }
        let page = server.call("/")
        #expect(page.status == 200)
        hsts(page, "GET /")
        hsts(server.call("/healthz"), "GET /healthz")
        hsts(server.call("/ui/team"), "GET /ui/team (redirect)")
        let signin = try #require(page.setCookie("__Host-sf_signin"), "GET / over TLS set no __Host-sf_signin: \(page.values("Set-Cookie"))")
        let attributes = signin.attributes.lowercased()
        #expect(attributes.contains("; secure") && attributes.contains("; path=/") && !attributes.contains("domain"),
                "__Host-sf_signin attributes: \(signin.attributes)")
        #expect(page.setCookie("sf_signin") == nil, "an unprefixed sf_signin is set too")

        // Signed in the proper way: __Host-sf_session, Secure, Path=/, no Domain.
        let signedIn = try Self.signIn(server, token: fixture.victim, headers: ["Origin: \(own)"], cookieName: "__Host-sf_signin")
        try #require(signedIn.status == 303, "sign-in over TLS: \(signedIn.status) \(signedIn.body.prefix(300))")
        let session = try #require(signedIn.setCookie("__Host-sf_session"), "no __Host-sf_session: \(signedIn.values("Set-Cookie"))")
        #expect(session.attributes.lowercased().contains("; secure") && session.attributes.contains("Path=/") && !session.attributes.lowercased().contains("domain"),
                "__Host-sf_session attributes: \(session.attributes)")
        #expect(signedIn.setCookie("sf_session") == nil)
        hsts(signedIn, "POST /sign-in")

        // The same live session id: honoured under its __Host- name, not as a tossed plain sf_session.
        let proper = server.call("/ui/team", ["-H", "Cookie: __Host-sf_session=\(session.value)"])
        #expect(proper.status == 200 && proper.body.contains("key victim"), "/ui/team with __Host-sf_session: \(proper.status)")
        let tossed = server.call("/ui/team", ["-H", "Cookie: sf_session=\(session.value)"])
        #expect(tossed.status == 303 && tossed.value("Location") == "/", "/ui/team with a plain sf_session: \(tossed.status) \(tossed.body.prefix(200))")
        #expect(!tossed.body.contains("key victim"))

        // A sign-in nonce tossed as a plain sf_signin is no nonce at all under TLS.
        let plainNonce = try Self.signIn(server, token: fixture.victim, headers: ["Origin: \(own)"], cookieName: "__Host-sf_signin", sendCookieAs: "sf_signin")
        #expect(plainNonce.status == 403 && plainNonce.setCookie("__Host-sf_session") == nil, "sign-in with a plain sf_signin cookie: \(plainNonce.status)")
        // The page's own origin is https://; http:// of the same host and port is another origin.
        let wrongScheme = try Self.signIn(server, token: fixture.victim, headers: ["Origin: http://127.0.0.1:\(server.port)"], cookieName: "__Host-sf_signin")
        #expect(wrongScheme.status == 403 && wrongScheme.body.contains("sent from another site or port"), "Origin http:// under TLS: \(wrongScheme.status)")
    }
}
