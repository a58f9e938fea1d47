import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 23's attacks, each run against the built binary (`secretfill serve`
/// and the remote CLI) on loopback, and shown refused or survived.
@Suite("Security review (issue 23)", .serialized)
struct SecurityReviewTests {
    // MARK: helpers

    /// `n0000`, `n0001`, …: valid secret names already in byte order.
    static func names(_ count: Int) -> [String] { (0..<count).map { String(format: "n%04d", $0) } }

    static func curl(_ arguments: [String], stdin: [UInt8]? = nil) -> CLI.Outcome {
        CLI.execute("/usr/bin/curl", arguments, stdin: stdin, environment: ProcessInfo.processInfo.environment)
    }

    /// Every audit entry (newest first), through `POST /v1/audit`.
    static func auditEntries(_ server: TestServer, admin: String) throws -> [[String: Any]] {
        let answer = server.post("/v1/audit", "{\"limit\": 1000}", token: admin)
        try #require(answer.status == 200, "audit: \(answer.status) \(answer.body)")
        return try #require(answer.json?["entries"] as? [[String: Any]], "audit: \(answer.body)")
    }

    /// The answers of `curl -i` output holding several, each as (status, headers lowercased, body).
    static func answers(_ text: String) -> [(status: Int, headers: String, body: String)] {
        var result: [(Int, String, String)] = []
        var rest = Substring(text)
        while let start = rest.range(of: "HTTP/1.1 ") {
            rest = rest[start.lowerBound...]
            guard let end = rest.range(of: "\r\n\r\n") else { break }
            let head = String(rest[..<end.lowerBound])
            let afterHead = rest[end.upperBound...]
            let next = afterHead.range(of: "HTTP/1.1 ")?.lowerBound ?? afterHead.endIndex
            result.append((Int(head.dropFirst(9).prefix(3)) ?? -1, head.lowercased(), String(afterHead[..<next])))
            rest = afterHead[next...]
        }
        return result
    }

    /// A process in the background, both streams collected; bounded waits only.
    final class Background: @unchecked Sendable {
        let process = Process()
        private let lock = NSLock()
        private var out = Data()
        private var err = Data()

        init(_ program: String, _ arguments: [String], environment: [String: String]) throws {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            let output = Pipe(), errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            output.fileHandleForReading.collect { [weak self] chunk in
                guard let self else { return }
                self.lock.lock(); self.out.append(chunk); self.lock.unlock()
            }
            errors.fileHandleForReading.collect { [weak self] chunk in
                guard let self else { return }
                self.lock.lock(); self.err.append(chunk); self.lock.unlock()
            }
            try process.run()
        }

        var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
        var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }

        /// Waits until `condition` holds or `seconds` pass; whether it held.
        @discardableResult
        func wait(seconds: Double, until condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition() { return true }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return condition()
        }

        /// Waits for the exit (at most `seconds`, then SIGKILL); the status, or nil if it had to be killed.
        @discardableResult
        func finish(seconds: Double) -> Int32? {
            let exited = wait(seconds: seconds) { !process.isRunning }
            if !exited {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            process.waitUntilExit()
            // Let the readability handlers drain what is left.
            Thread.sleep(forTimeInterval: 0.05)
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.stopCollectingOutput()
        }
    }

    /// The built binary run bounded in time: its status (nil if it had to be killed), stderr and the seconds it took.
    static func timed(_ cli: CLI, _ arguments: [String], environment extra: [String: String] = [:], limit: Double)
        throws -> (status: Int32?, stderr: String, seconds: Double) {
        let started = Date()
        let job = try Background(CLI.binary.path, arguments, environment: cli.environment.merging(extra) { $1 })
        let status = job.finish(seconds: limit)
        return (status, job.stderr, Date().timeIntervalSince(started))
    }

    // MARK: item 3: the audit log cannot be bloated

    @Test("item 3: resolve of 1001 names and set of 251 secrets answer 413 naming the limit; 1000 names still resolve",
          arguments: Backend.allCases)
    func itemCountLimits(_ backend: Backend) throws {
        let team = try ServerTests.Team(backend)
        defer { team.server.stop() }
        let reader = try team.key("reader", ["team:read"])
        let writer = try team.key("writer", ["team:write"])
        let tooMany = team.resolve(project: nil, names: Self.names(1001), token: reader)
        #expect(tooMany.status == 413, "\(tooMany.body)")
        #expect((tooMany.json?["error"] as? String)?.contains("at most 1000 names per request") == true, "\(tooMany.body)")
        #expect(tooMany.json?["reason"] as? String == "too_large")
        let enough = team.resolve(project: nil, names: Self.names(1000), token: reader)
        #expect(enough.status == 200, "1000 names are allowed: \(enough.body.prefix(300))")
        #expect((enough.json?["missing"] as? [String])?.count == 1000)

        let secrets = Self.names(251).map { "{\"name\": \"\($0)\", \"value\": \"v\"}" }.joined(separator: ",")
        let set = team.server.post("/v1/secrets/set", "{\"scope\": \"team\", \"id\": null, \"secrets\": [\(secrets)]}", token: writer)
        #expect(set.status == 413, "\(set.body)")
        #expect((set.json?["error"] as? String)?.contains("at most 250 secrets per request") == true, "\(set.body)")
        // Nothing of the refused set was written.
        let after = team.resolve(project: nil, names: ["n0000"], token: reader)
        #expect(after.json?["missing"] as? [String] == ["n0000"], "\(after.body)")
    }

    @Test("item 3: a denied resolve of 1000 names writes one audit row: the first 100 names, then +900 more",
          arguments: Backend.allCases)
    func deniedResolveRowIsCapped(_ backend: Backend) throws {
        let team = try ServerTests.Team(backend)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        let names = Self.names(1000)
        let denied = team.resolve(project: nil, names: names, token: writer)
        #expect(denied.status == 403, "\(denied.body.prefix(300))")
        let audit = team.cli.remote(team.server, token: team.admin).run(["audit", "--format", "json", "--key", "writer"])
        #expect(audit.status == 0, "\(audit.stderr)")
        let rows = try audit.stdoutText.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let reads = rows.filter { $0["action"] as? String == "read" }
        #expect(reads.count == 1, "one row for the denied read: \(reads)")
        let row = try #require(reads.first)
        #expect(row["outcome"] as? String == "denied")
        let stored = try #require(row["names"] as? [String])
        #expect(stored.count == 101, "100 names and the count of the rest, not \(stored.count)")
        #expect(Array(stored.prefix(100)) == Array(names.prefix(100)))
        #expect(stored.last == "+900 more", "\(stored.suffix(2))")
        #expect(audit.stdoutText.utf8.count < 4096, "the row stays small: \(audit.stdoutText.utf8.count) bytes")
    }

    @Test("item 3: 50 bad-token requests in a second make at most 3 audit rows for their address, counts adding up to 50, without their body",
          arguments: Backend.allCases)
    func refusalsAggregated(_ backend: Backend) throws {
        let team = try ServerTests.Team(backend, serverArguments: ["--rate-limit", "0"])
        defer { team.server.stop() }
        let url = team.server.url + "/v1/resolve"
        let body = "{\"project\": null, \"cluster\": null, \"names\": [\"leak_probe_name\"]}"
        // 25 well-formed unknown tokens and 25 malformed ones, each curl reusing one connection.
        var statuses: [Int] = []
        let started = Date()
        for token in ["sf_" + String(repeating: "Q", count: 43), "not-a-token"] {
            let arguments = ["-s", "-i", "--max-time", "10", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                             "--data-binary", body] + Array(repeating: url, count: 25)
            statuses += Self.answers(Self.curl(arguments).stdoutText).map(\.status)
        }
        let took = Date().timeIntervalSince(started)
        #expect(statuses.count == 50 && statuses.allSatisfy { $0 == 401 }, "\(statuses)")

        // Rows are written when an address's one-second window ends.
        var refusals: [[String: Any]] = []
        var total = 0
        let deadline = Date().addingTimeInterval(5)
        repeat {
            Thread.sleep(forTimeInterval: 0.5)
            refusals = try Self.auditEntries(team.server, admin: team.admin).filter { $0["key"] as? String == "-" }
            total = refusals.reduce(0) { $0 + (($1["count"] as? Int) ?? 1) }
        } while total < 50 && Date() < deadline
        #expect(total == 50, "counts add up to every refused request: \(refusals)")
        // Within about a second: 1 to 3 rows (a window starts at the first refusal and lasts a second).
        #expect((1...max(3, Int(took.rounded(.up)) + 1)).contains(refusals.count),
                "one row per address and second, not one per request: \(refusals.count) rows for requests over \(took) s")
        for row in refusals {
            #expect(row["client"] as? String == "127.0.0.1")
            #expect(row["outcome"] as? String == "denied")
            #expect((row["names"] as? [String])?.isEmpty == true, "no body in the row: \(row)")
        }
        let all = team.cli.remote(team.server, token: team.admin).run(["audit", "--format", "json"])
        #expect(!all.stdoutText.contains("leak_probe_name"))
        let text = team.cli.remote(team.server, token: team.admin).run(["audit"])
        #expect(text.status == 0, "\(text.stderr)")
        let counted = text.stdoutText.split(separator: "\n").filter { $0.contains("  -  read  denied  -  -  127.0.0.1  x") }
        #expect(counted.count == refusals.filter { $0["count"] != nil }.count && !counted.isEmpty, "text shows the count: \(text.stdoutText)")
    }

    @Test("item 3: /v1/audit pages newest first with a next cursor; limit 0 and 1001 answer 400; audit --limit 3 prints the newest 3, oldest first",
          arguments: Backend.allCases)
    func auditPaging(_ backend: Backend) throws {
        let team = try ServerTests.Team(backend)
        defer { team.server.stop() }
        for n in 1...6 { _ = try team.key("k\(n)", ["team:read"]) }
        // 7 entries: the admin key made from the database, then k1…k6.
        let first = team.server.post("/v1/audit", "{\"limit\": 2}", token: team.admin)
        #expect(first.status == 200, "\(first.body)")
        let firstEntries = try #require(first.json?["entries"] as? [[String: Any]])
        #expect(firstEntries.map { $0["names"] as? [String] } == [["k6"], ["k5"]], "newest first: \(firstEntries)")
        let next = try #require(first.json?["next"] as? String, "a cursor for the older page: \(first.body)")
        let second = team.server.post("/v1/audit", "{\"limit\": 2, \"before\": \"\(next)\"}", token: team.admin)
        #expect(second.status == 200, "\(second.body)")
        let secondEntries = try #require(second.json?["entries"] as? [[String: Any]])
        #expect(secondEntries.map { $0["names"] as? [String] } == [["k4"], ["k3"]], "the next older ones: \(secondEntries)")

        // Walking every page gives every entry once, and the last page has no cursor.
        var seen: [String] = []
        var cursor: String? = nil
        var pages = 0
        repeat {
            let before = cursor.map { ", \"before\": \"\($0)\"" } ?? ""
            let page = team.server.post("/v1/audit", "{\"limit\": 3\(before)}", token: team.admin)
            try #require(page.status == 200, "\(page.body)")
            let entries = try #require(page.json?["entries"] as? [[String: Any]])
            seen += entries.map { "\($0["key"]!) \(($0["names"] as? [String]) ?? [])" }
            cursor = page.json?["next"] as? String
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3 && seen.count == 7 && Set(seen).count == 7, "\(pages) pages: \(seen)")
        #expect(seen.last == "(database) [\"admin\"]", "the oldest comes last: \(seen)")

        for limit in ["0", "1001", "-1"] {
            let refused = team.server.post("/v1/audit", "{\"limit\": \(limit)}", token: team.admin)
            #expect(refused.status == 400, "limit \(limit): \(refused.body)")
        }
        #expect(team.server.post("/v1/audit", "{\"limit\": 1000}", token: team.admin).status == 200)
        #expect(team.server.post("/v1/audit", "{\"before\": \"abc\"}", token: team.admin).status == 400)

        let admin = team.cli.remote(team.server, token: team.admin)
        let three = admin.run(["audit", "--limit", "3"])
        #expect(three.status == 0, "\(three.stderr)")
        let lines = three.stdoutText.split(separator: "\n")
        #expect(lines.count == 3, "\(three.stdoutText)")
        #expect(lines.count == 3 && lines[0].contains("  k4  ") && lines[1].contains("  k5  ") && lines[2].contains("  k6  "),
                "the newest three, oldest first: \(three.stdoutText)")
        #expect(three.stderr.contains("older ones exist"), "a note that the log holds more: \(three.stderr)")
        let everything = admin.run(["audit", "--limit", "7"])
        #expect(everything.stdoutText.split(separator: "\n").count == 7)
        #expect(!everything.stderr.contains("older ones exist"), "\(everything.stderr)")
        #expect(admin.run(["audit", "--limit", "0"]).status == 64)
    }

    @Test("item 3: --rate-limit 5: one key's burst gets 429 with Retry-After and rate_limited, another key from the same address still gets 200; bad-token floods get 429 too")
    func rateLimit() throws {
        let team = try ServerTests.Team(.sqlite, serverArguments: ["--rate-limit", "5"])
        defer { team.server.stop() }
        let reader = try team.key("reader", ["team:read"])
        Thread.sleep(forTimeInterval: 1.1)  // every bucket full again after the set-up
        // The second key, warmed up: in the key cache, so counted as itself.
        let resolve = "{\"project\": null, \"cluster\": null, \"names\": [\"a\"]}"
        #expect(team.server.post("/v1/resolve", resolve, token: reader).status == 200)

        let burst = Self.curl(["-s", "-i", "--max-time", "10", "-H", "Authorization: Bearer \(team.admin)", "-H", "Content-Type: application/json",
                               "--data-binary", "{}"] + Array(repeating: team.server.url + "/v1/keys/list", count: 20))
        let answers = Self.answers(burst.stdoutText)
        #expect(answers.count == 20, "\(burst.stderr)")
        let limited = answers.filter { $0.status == 429 }
        #expect(answers.first?.status == 200)
        #expect(limited.count >= 5, "a burst of 20 at 5 a second: \(answers.map(\.status))")
        for answer in limited {
            let retry = answer.headers.components(separatedBy: "\r\n").first { $0.hasPrefix("retry-after: ") }
            #expect(retry.flatMap { Int($0.dropFirst(13)) }.map { $0 >= 1 } == true, "Retry-After: \(answer.headers)")
            let json = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any]
            #expect(json?["reason"] as? String == "rate_limited", "\(answer.body)")
            #expect((json?["error"] as? String)?.contains("key 'admin'") == true, "\(answer.body)")
        }
        let other = team.server.post("/v1/resolve", resolve, token: reader)
        #expect(other.status == 200, "another key from the same address is not slowed by the burst: \(other.status) \(other.body)")

        // Made-up tokens count against the address, before any database work.
        Thread.sleep(forTimeInterval: 1.1)
        let flood = Self.curl(["-s", "-i", "--max-time", "10", "-H", "Authorization: Bearer sf_" + String(repeating: "Z", count: 43),
                               "-H", "Content-Type: application/json", "--data-binary", resolve]
                              + Array(repeating: team.server.url + "/v1/resolve", count: 20))
        let floodAnswers = Self.answers(flood.stdoutText)
        #expect(floodAnswers.count == 20)
        let floodLimited = floodAnswers.filter { $0.status == 429 }
        let unauthenticated = floodAnswers.filter { $0.status == 401 }.count
        #expect(floodLimited.count >= 5, "\(floodAnswers.map(\.status))")
        #expect(floodLimited.count + unauthenticated == 20, "\(floodAnswers.map(\.status))")
        #expect(floodLimited.allSatisfy { $0.headers.contains("\r\nretry-after: ") && $0.body.contains("\"rate_limited\"") })
        #expect(floodLimited.first.map { $0.body.contains("this address") } == true, "\(floodLimited.first?.body ?? "")")
        // A request refused by the rate limit never reached the audit: only the 401s are counted.
        Thread.sleep(forTimeInterval: 1.5)
        let refusals = try Self.auditEntries(team.server, admin: team.admin).filter { $0["key"] as? String == "-" }
        #expect(refusals.reduce(0) { $0 + (($1["count"] as? Int) ?? 1) } == unauthenticated, "\(refusals)")
        #expect(team.server.health().status == 200)
    }

    // MARK: item 4: forms

    static func signInPage(_ server: TestServer) -> (nonce: String?, hidden: String?, text: String) {
        let page = curl(["-s", "-i", "--max-time", "10", server.url + "/"]).stdoutText
        let cookie = page.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("set-cookie: sf_signin=") }
        let nonce = cookie.map { String($0.dropFirst("set-cookie: sf_signin=".count).prefix { $0 != ";" }) }
        var hidden: String?
        if let range = page.range(of: "name=\"csrf\" value=\"") {
            hidden = String(page[range.upperBound...].prefix { $0 != "\"" })
        }
        return (nonce, hidden, page)
    }

    @Test("item 4: sign-in forms of 4 MiB (declared or chunked), 9 KiB or 100 fields answer 413 at once with a page; a normal sign-in still works")
    func formCaps() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        let (nonce, _, _) = Self.signInPage(team.server)
        let cookie = "sf_signin=\(nonce ?? "")"
        let bodyFile = team.cli.path("big-form")
        // 4 MiB of `a&a&…`: about two million fields.
        try Data(("token=x&csrf=\(nonce ?? "")&" + String(repeating: "a&", count: 2 << 20)).utf8).write(to: URL(fileURLWithPath: bodyFile))
        for chunked in [false, true] {
            var arguments = ["-s", "-i", "--max-time", "10", "-H", "Content-Type: application/x-www-form-urlencoded", "-H", "Cookie: \(cookie)",
                             "--data-binary", "@" + bodyFile, team.server.url + "/sign-in"]
            if chunked { arguments += ["-H", "Transfer-Encoding: chunked"] }
            let started = Date()
            let answer = Self.curl(arguments)
            let took = Date().timeIntervalSince(started)
            let parsed = Self.answers(answer.stdoutText).last
            #expect(parsed?.status == 413, "chunked \(chunked): \(answer.stdoutText.prefix(400)) \(answer.stderr)")
            #expect(parsed?.headers.contains("content-type: text/html") == true, "a page: \(parsed?.headers ?? "")")
            #expect(parsed?.body.contains("Form too large") == true)
            #expect(took < 2, "refused at once, not after parsing: \(took) s (chunked \(chunked))")
        }
        let nineKiB = "token=x&csrf=\(nonce ?? "")&pad=" + String(repeating: "p", count: 9 << 10)
        let fields = "csrf=\(nonce ?? "")" + String(repeating: "&a=1", count: 100)
        #expect(fields.utf8.count < 8 << 10)
        for (what, form) in [("9 KiB", nineKiB), ("100 fields", fields)] {
            let answer = Self.curl(["-s", "-i", "--max-time", "10", "-H", "Content-Type: application/x-www-form-urlencoded", "-H", "Cookie: \(cookie)",
                                    "--data-binary", "@-", team.server.url + "/sign-in"], stdin: Array(form.utf8))
            let parsed = Self.answers(answer.stdoutText).last
            #expect(parsed?.status == 413, "\(what): \(answer.stdoutText.prefix(300))")
            #expect(parsed?.body.contains("Form too large") == true, "\(what)")
        }
        #expect(team.server.health().status == 200)

        // The sign-in itself: a nonce cookie and the same nonce in the form, then a session.
        let page = Self.signInPage(team.server)
        let fresh = try #require(page.nonce, "GET / sets sf_signin: \(page.text.prefix(600))")
        #expect(page.hidden == fresh, "the form carries the cookie's nonce")
        let form = "token=\(team.admin)&csrf=\(fresh)"
        let signIn = Self.curl(["-s", "-i", "--max-time", "10", "-H", "Content-Type: application/x-www-form-urlencoded",
                                "-H", "Cookie: sf_signin=\(fresh)", "--data-binary", "@-", team.server.url + "/sign-in"], stdin: Array(form.utf8))
        let signed = try #require(Self.answers(signIn.stdoutText).first, "\(signIn.stderr)")
        #expect(signed.status == 303, "\(signIn.stdoutText.prefix(400))")
        #expect(signed.headers.contains("\r\nlocation: /ui/team"), "\(signed.headers)")
        let session = signIn.stdoutText.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("set-cookie: sf_session=") }
        let value = try #require(session.map { String($0.dropFirst("set-cookie: ".count).prefix { $0 != ";" }) }, "\(signed.headers)")
        let teamPage = Self.curl(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", "-H", "Cookie: \(value)", team.server.url + "/ui/team"])
        #expect(teamPage.stdoutText.hasSuffix("\n200"), "signed in: \(teamPage.stdoutText.suffix(200))")
        // The same form from another origin is refused.
        let page2 = Self.signInPage(team.server)
        let foreign = Self.curl(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", "-H", "Origin: http://127.0.0.1:1",
                                 "-H", "Content-Type: application/x-www-form-urlencoded", "-H", "Cookie: sf_signin=\(page2.nonce ?? "")",
                                 "--data-binary", "token=\(team.admin)&csrf=\(page2.nonce ?? "")", team.server.url + "/sign-in"])
        #expect(foreign.stdoutText.hasSuffix("\n403"), "\(foreign.stdoutText.suffix(300))")
    }

    // MARK: item 5: no token in clear to another host

    @Test("item 5: plain http:// to a non-loopback host is refused before anything is sent; --insecure-http warns; localhost and 127.0.0.1 need nothing")
    func plainHTTPRefused() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        let cli = team.cli
        let token = ["SECRETFILL_TOKEN": team.admin]
        let started = Date()
        let remote = cli.run(["secrets", "list", "team", "--server", "http://secretfill-test.invalid:8470"], environment: token)
        #expect(remote.status == 64, "\(remote.stderr)")
        #expect(remote.stderr.contains("refusing to send the API key to secretfill-test.invalid over plain http://"), "\(remote.stderr)")
        #expect(Date().timeIntervalSince(started) < 5, "refused before any lookup or connection")
        // The same from the environment.
        let fromEnvironment = cli.run(["secrets", "list", "team"], environment: token.merging(["SECRETFILL_SERVER": "http://secretfill-test.invalid"]) { $1 })
        #expect(fromEnvironment.status == 64 && fromEnvironment.stderr.contains("over plain http://"), "\(fromEnvironment.stderr)")

        let port = try #require(team.server.url.split(separator: ":").last.map(String.init))
        // 127.1 is loopback but not spelt as a literal address: refused without the flag…
        let spelt = cli.run(["secrets", "list", "team", "--server", "http://127.1:\(port)"], environment: token)
        #expect(spelt.status == 64, "\(spelt.stderr)")
        #expect(spelt.stderr.contains("refusing to send the API key to 127.1"), "\(spelt.stderr)")
        // …and works, with a warning, with it.
        let allowed = cli.run(["secrets", "list", "team", "--server", "http://127.1:\(port)", "--insecure-http"], environment: token)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stderr.contains("warning: --insecure-http"), "\(allowed.stderr)")
        #expect(allowed.stderr.contains("team holds no secrets"), "it reached the server: \(allowed.stderr)")
        for host in ["localhost", "127.0.0.1"] {
            let local = cli.run(["secrets", "list", "team", "--server", "http://\(host):\(port)"], environment: token)
            #expect(local.status == 0, "\(host): \(local.stderr)")
            #expect(!local.stderr.contains("warning") && !local.stderr.contains("insecure"), "\(host): \(local.stderr)")
        }
        #expect(!team.server.log.contains(team.admin))
    }

    // MARK: item 10: the last admin key

    @Test("item 10: an admin key expiring within 24 h does not count as another admin: revoking the last lasting one is 409 / exit 2")
    func lastAdminCountsLastingKeys() throws {
        let cli = try CLI()
        let database = try Backend.sqlite.freshURL(in: cli)
        let a1 = try cli.createKeyDirect("a1", grants: ["admin"], database: database)
        let soon = try cli.createKeyDirect("soon", grants: ["admin"], database: database, expires: "1h")
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let refused = cli.remote(server, token: soon).run(["keys", "revoke", "a1"])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("key 'a1' is the last admin key"), "\(refused.stderr)")
        let api = server.post("/v1/keys/revoke", "{\"name\": \"a1\"}", token: soon)
        #expect(api.status == 409, "\(api.body)")
        #expect(api.json?["reason"] as? String == "conflict")
        // a1 still works; with a lasting second admin the revoke goes ahead.
        #expect(cli.remote(server, token: a1).run(["keys", "list"]).status == 0)
        let lasting = cli.remote(server, token: a1).run(["keys", "create", "a2", "--grant", "admin", "--expires", "25h"])
        #expect(lasting.status == 0, "\(lasting.stderr)")
        let revoked = cli.remote(server, token: soon).run(["keys", "revoke", "a1"])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(cli.remote(server, token: a1).run(["keys", "list"]).status == 77)
    }

    @Test("item 10: two admins revoking each other at once on PostgreSQL: exactly one succeeds, the other gets last admin key (5 rounds)")
    func concurrentRevokes() throws {
        let cli = try CLI()
        let database = try TestPostgres.freshDatabase()
        var pair = (x: (name: "x1", token: try cli.createKeyDirect("x1", grants: ["admin"], database: database)),
                    y: (name: "y1", token: try cli.createKeyDirect("y1", grants: ["admin"], database: database)))
        var survivor = pair.x
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let environment = ProcessInfo.processInfo.environment
        let liveAdmins = "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND (' ' || grants || ' ') LIKE '% admin %'"
        for round in 1...5 {
            if round > 1 {
                // Exactly two lasting admins again: two new ones, and the last round's survivor revoked.
                let actor = cli.remote(server, token: survivor.token)
                let x = actor.run(["keys", "create", "x\(round)", "--grant", "admin"])
                let y = actor.run(["keys", "create", "y\(round)", "--grant", "admin"])
                try #require(x.status == 0 && y.status == 0, "\(x.stderr) \(y.stderr)")
                let newX = x.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
                let gone = cli.remote(server, token: newX).run(["keys", "revoke", survivor.name])
                try #require(gone.status == 0, "\(gone.stderr)")
                pair = ((name: "x\(round)", token: newX), (name: "y\(round)", token: y.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
            }
            #expect(TestPostgres.psql(database, liveAdmins).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
            // Both keys used once, so neither request has a write of its own before the revoke.
            for key in [pair.x.token, pair.y.token] { #expect(cli.remote(server, token: key).run(["keys", "list"]).status == 0) }

            // A third session holds api_keys so that only plain reads go ahead: whatever lock or
            // write a revoke takes waits, so both revokes are surely in flight together when it lets go.
            let holder = try Background("/usr/bin/psql", [database, "-v", "ON_ERROR_STOP=1", "-q", "-c",
                                                          "BEGIN; LOCK TABLE api_keys IN EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;"],
                                        environment: environment)
            let lockQuery = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'api_keys' AND "
            let held = holder.wait(seconds: 5) {
                TestPostgres.psql(database, lockQuery + "l.mode = 'ExclusiveLock' AND l.granted").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
            }
            try #require(held, "the psql holding the lock did not start: \(holder.stderr)")

            let revokeX = try Background(CLI.binary.path, ["keys", "revoke", pair.x.name],
                                         environment: cli.environment.merging(["SECRETFILL_SERVER": server.url, "SECRETFILL_TOKEN": pair.y.token]) { $1 })
            let revokeY = try Background(CLI.binary.path, ["keys", "revoke", pair.y.name],
                                         environment: cli.environment.merging(["SECRETFILL_SERVER": server.url, "SECRETFILL_TOKEN": pair.x.token]) { $1 })
            let bothWaiting = holder.wait(seconds: 4) {
                (Int(TestPostgres.psql(database, lockQuery + "NOT l.granted").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 2
            }
            #expect(bothWaiting, "round \(round): both revokes should be waiting on api_keys together")
            _ = TestPostgres.psql(database, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(8)%' AND pid <> pg_backend_pid()")
            holder.finish(seconds: 5)

            let statusX = revokeX.finish(seconds: 15), statusY = revokeY.finish(seconds: 15)
            let outcomes = [(statusX, revokeX.stderr), (statusY, revokeY.stderr)]
            #expect(outcomes.filter { $0.0 == 0 }.count == 1, "round \(round): exactly one revoke succeeds: \(outcomes)")
            #expect(outcomes.filter { $0.0 == 2 && $0.1.contains("last admin key") }.count == 1,
                    "round \(round): the other is refused as the last admin key: \(outcomes)")
            #expect(TestPostgres.psql(database, liveAdmins).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "1",
                    "round \(round): one admin key is left")
            // The survivor is the key whose revoke was refused, and it still works.
            survivor = statusX == 0 ? pair.y : pair.x
            #expect(cli.remote(server, token: survivor.token).run(["keys", "list"]).status == 0, "round \(round)")
        }
    }

    // MARK: item 11: . and .. as scope ids

    @Test("item 11: scope ids . and .. are refused locally, by the server and by render")
    func dotIDsRefused() throws {
        let cli = try CLI().initialise(team: ["a": "team-value"])
        let before = CLI.bytes(cli.storePath)
        for id in [".", ".."] {
            let set = cli.run(["secrets", "set", "project", "--id", id, "--name", "a", "--value", "b"])
            #expect(set.status == 64, "\(id): \(set.stderr)")
            #expect(set.stderr.contains("a scope id must match [A-Za-z0-9_.-]+ and be at most 128 characters, and may not be . or .."), "\(set.stderr)")
            let render = cli.run(["render", CLI.fixture("paperspace-deployment.yaml"), "--project", id])
            #expect(render.status == 64, "render --project \(id): \(render.stderr)")
            #expect(render.stdout.isEmpty)
        }
        #expect(CLI.bytes(cli.storePath) == before, "the store is unchanged")
        #expect(cli.run(["secrets", "set", "project", "--id", "..a", "--name", "a", "--value", "b"]).status == 0, "only . and .. themselves")

        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write", "project:*:write", "project:*:read"])
        for id in [".", ".."] {
            let set = team.set("project", id, "a", "b", token: writer)
            #expect(set.status == 400, "\(id): \(set.body)")
            #expect((set.json?["error"] as? String)?.contains("may not be . or ..") == true, "\(set.body)")
            #expect(team.resolve(project: id, names: ["a"], token: writer).status == 400)
            let remote = team.cli.remote(team.server, token: writer).run(["render", CLI.fixture("paperspace-deployment.yaml"), "--project", id])
            #expect(remote.status == 64, "remote render --project \(id): \(remote.stderr)")
        }
    }

    // MARK: item 12: the client's limits

    @Test("item 12: a server trickling its answer a byte every 4 s is given up within ~10 s (exit 2)")
    func tricklingServerGivenUp() throws {
        let cli = try CLI()
        // Answers a head promising 100 bytes, then a byte every 4 s; gone after 30 s whatever happens.
        let script = """
            import socket, sys, threading, time
            server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(8); server.settimeout(30)
            print(server.getsockname()[1], flush=True)
            def serve(conn):
                conn.settimeout(30)
                data = b""
                while b"\\r\\n\\r\\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk: return
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 100\\r\\n\\r\\n")
                for _ in range(7):
                    time.sleep(4)
                    try: conn.sendall(b" ")
                    except OSError: return
                conn.close()
            end = time.time() + 30
            while time.time() < end:
                try: conn, _ = server.accept()
                except OSError: break
                threading.Thread(target=serve, args=(conn,), daemon=True).start()
            """
        let fake = try Background("/usr/bin/env", ["python3", "-c", script], environment: ProcessInfo.processInfo.environment)
        defer { kill(fake.process.processIdentifier, SIGKILL) }
        try #require(fake.wait(seconds: 10) { fake.stdout.contains("\n") }, "the fake server did not start: \(fake.stderr)")
        let port = fake.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let run = try Self.timed(cli, ["secrets", "list", "team", "--server", "http://127.0.0.1:\(port)"],
                                 environment: ["SECRETFILL_TOKEN": "sf_" + String(repeating: "T", count: 43)], limit: 30)
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains("did not answer within 10 s"), "\(run.stderr)")
        #expect(run.seconds < 14, "the 10 s limit covers the whole request: took \(run.seconds) s")
        #expect(run.seconds > 8, "it was the deadline that ended it: \(run.seconds) s")
    }

    @Test("item 12: a FIFO as --token-file is refused at once; one owned by another uid or readable by others is refused")
    func tokenFileRules() throws {
        let cli = try CLI()
        let server = ["--server", "http://127.0.0.1:9"]
        let fifo = cli.path("token.fifo")
        try #require(mkfifo(fifo, 0o600) == 0, "mkfifo: \(errno)")
        let fromFIFO = try Self.timed(cli, ["secrets", "list", "team", "--token-file", fifo] + server, limit: 10)
        #expect(fromFIFO.status == 2, "\(fromFIFO.stderr)")
        #expect(fromFIFO.stderr.contains("is a FIFO, not a regular file"), "\(fromFIFO.stderr)")
        #expect(fromFIFO.seconds < 2, "refused without opening it: \(fromFIFO.seconds) s")

        let token = "sf_" + String(repeating: "T", count: 43) + "\n"
        let foreign = cli.path("foreign-token")
        try Data(token.utf8).write(to: URL(fileURLWithPath: foreign))
        try #require(chmod(foreign, 0o600) == 0)
        try #require(geteuid() == 0, "chown to another uid needs root")
        try #require(chown(foreign, 65534, 65534) == 0, "chown: \(errno)")
        let owned = cli.run(["secrets", "list", "team", "--token-file", foreign] + server)
        #expect(owned.status == 2, "\(owned.stderr)")
        #expect(owned.stderr.contains("is owned by uid 65534"), "\(owned.stderr)")

        let open = cli.path("open-token")
        try Data(token.utf8).write(to: URL(fileURLWithPath: open))
        try #require(chmod(open, 0o644) == 0)
        let readable = cli.run(["secrets", "list", "team", "--token-file", open] + server)
        #expect(readable.status == 2, "\(readable.stderr)")
        #expect(readable.stderr.contains("can be read by group or others (mode 644); run: chmod 600 \(open)"), "\(readable.stderr)")

        let folder = cli.path("token-folder")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        #expect(cli.run(["secrets", "list", "team", "--token-file", folder] + server).stderr.contains("is a directory"))
    }

    // MARK: item 13: SQLite files 0600

    @Test("item 13: under umask 000 server.db, -wal and -shm are 0600 (made by keys create, by serve, and after a write)")
    func sqliteFilesPrivate() throws {
        let cli = try CLI()
        let shell = "umask 000; exec \"$0\" \"$@\""
        let first = cli.path("made-by-keys.db")
        let created = CLI.execute("/bin/sh", ["-c", shell, CLI.binary.path, "keys", "create", "admin", "--grant", "admin", "--database", "sqlite:" + first],
                                  environment: cli.environment)
        #expect(created.status == 0, "\(created.stderr)")
        let admin = created.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(CLI.mode(first) == 0o600, "keys create: \(String(CLI.mode(first) ?? -1, radix: 8))")
        // A file another tool left world-readable is narrowed too.
        let loose = cli.path("loose.db")
        #expect(CLI.execute("/bin/sh", ["-c", shell, CLI.binary.path, "keys", "create", "admin", "--grant", "admin", "--database", "sqlite:" + loose],
                            environment: cli.environment).status == 0)
        try #require(chmod(loose, 0o644) == 0)

        for (path, token) in [(first, Optional(admin)), (cli.path("made-by-serve.db"), nil), (loose, nil)] {
            let serve = try Background("/bin/sh", ["-c", shell, CLI.binary.path, "serve", "--database", "sqlite:" + path, "--listen", "127.0.0.1:0"],
                                       environment: cli.environment)
            defer { kill(serve.process.processIdentifier, SIGKILL) }
            try #require(serve.wait(seconds: 30) { serve.stderr.contains("serving on http://") }, "serve did not start: \(serve.stderr)")
            let url = try #require(serve.stderr.components(separatedBy: "serving on ").last?.split(separator: " ").first.map(String.init))
            // A write: a key made through the server, or an audited refusal (written a second later).
            if let token {
                var remote = cli
                remote.environment["SECRETFILL_SERVER"] = url
                remote.environment["SECRETFILL_TOKEN"] = token
                #expect(remote.run(["keys", "create", "ci", "--grant", "team:read"]).status == 0)
            } else {
                _ = Self.curl(["-s", "-o", "-", "--max-time", "10", "-X", "POST", "-d", "{}", url + "/v1/keys/list"])
                Thread.sleep(forTimeInterval: 1.5)
            }
            for file in [path, path + "-wal", path + "-shm"] {
                #expect(FileManager.default.fileExists(atPath: file), "\(file) exists while serve runs")
                #expect(CLI.mode(file) == 0o600, "\(file): \(String(CLI.mode(file) ?? -1, radix: 8))")
            }
            kill(serve.process.processIdentifier, SIGTERM)
            #expect(serve.finish(seconds: 15) == 0, "\(serve.stderr)")
        }
    }

    // MARK: item 14: HEAD /healthz, SIGQUIT

    @Test("item 14: HEAD /healthz answers 200 like GET, without a body; SIGQUIT stops serve with exit 0")
    func headAndSigquit() throws {
        let cli = try CLI()
        let server = try TestServer(cli: cli, database: try Backend.sqlite.freshURL(in: cli))
        defer { server.stop() }
        let head = Self.curl(["-s", "-I", "--max-time", "10", server.url + "/healthz"]).stdoutText.lowercased()
        let get = Self.curl(["-s", "-i", "--max-time", "10", server.url + "/healthz"]).stdoutText.lowercased()
        #expect(head.hasPrefix("http/1.1 200"), "\(head)")
        func contentType(_ text: String) -> String? { text.components(separatedBy: "\r\n").first { $0.hasPrefix("content-type: ") } }
        #expect(contentType(head) != nil && contentType(head) == contentType(get), "\(head) vs \(get)")
        #expect(get.hasSuffix("\r\n\r\nok"))
        // On the wire: a HEAD and a GET on one connection; nothing comes between the HEAD's head and the GET's answer.
        let port = try #require(server.url.split(separator: ":").last.map(String.init))
        let script = """
            import socket
            s = socket.create_connection(("127.0.0.1", \(port)), timeout=5)
            s.sendall(b"HEAD /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk: break
                    data += chunk
            except OSError:
                pass
            print(data.decode("latin-1"), end="")
            """
        let wire = CLI.execute("/usr/bin/env", ["python3", "-c", script], environment: ProcessInfo.processInfo.environment).stdoutText
        let parts = wire.components(separatedBy: "\r\n\r\n")
        #expect(parts.count == 3, "two heads: \(wire)")
        #expect(parts.count == 3 && parts[1].hasPrefix("HTTP/1.1 200") && parts[2] == "ok", "HEAD sent no body: \(wire)")

        kill(server.process.processIdentifier, SIGQUIT)
        let deadline = Date().addingTimeInterval(15)
        while server.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!server.process.isRunning, "serve still runs 15 s after SIGQUIT")
        if !server.process.isRunning {
            #expect(server.process.terminationReason == .exit && server.process.terminationStatus == 0,
                    "\(server.process.terminationReason.rawValue) \(server.process.terminationStatus)")
        }
        Thread.sleep(forTimeInterval: 0.1)
        #expect(server.log.contains("secretfill server stopped"), "\(server.log.suffix(500))")
    }
}
