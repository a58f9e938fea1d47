import Foundation
import SecretFill
import SecretFillAPI
@testable import SecretFillServer
import SecretFillWebUI
import Testing

/// The repository boundary (issue 22, item 4): `SQLRepository`'s statements
/// called directly, with no store, grants or sealing in front of them, on
/// SQLite and on PostgreSQL (`SECRETFILL_TEST_DATABASE_URL`, else a cluster
/// of `BatchedResolveTests`), plus a check that no SQL is written outside
/// `Sources/SecretFillServer/Repository/`.
@Suite("repository", .serialized)
struct RepositoryTests {
    @Test("every facet reads back what it wrote, on SQLite")
    func sqlite() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("repository-\(UUID().uuidString).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let (database, pool) = try await MembersSchemaTests.open(path)
        _ = try await Migrations.migrate(database)
        try await Self.exercise(database)
        await database.close()
        pool.cancel()
    }

    @Test("every facet reads back what it wrote, on PostgreSQL, and its statistics are read and renewed")
    func postgres() async throws {
        try await BatchedResolveTests.withFreshDatabase { database in
            try await Self.exercise(database)
            let (estimate, analyzed) = try await database.repositorySession { rows in
                (try await rows.secretTableEstimate(), try await rows.analyzeSecretTables())
            }
            #expect(estimate.populated)
            #expect(analyzed >= 1)
        }
    }

    static func exercise(_ database: any ServerDatabase) async throws {
        let web = try Scope(kind: .project, id: "web")
        try await database.repositorySession { rows in try await rows.ping() }

        // Secrets and versions: an upsert counts versions, a delete keeps them, a purge does not.
        let versions = try await database.repositoryTransaction { rows in
            var written: [Int] = []
            for sealed in ["s1", "s2", "s3"] {
                let (version, wasDeleted) = try await rows.nextVersion(of: "DB_URL", in: .team, at: 1_000, by: "ci")
                #expect(!wasDeleted)
                try await rows.insertVersion(version, sealed: sealed, of: "DB_URL", in: .team, at: 1_000, by: "ci")
                written.append(version)
            }
            try await rows.dropVersions(through: 1, of: "DB_URL", in: .team)
            let (version, _) = try await rows.nextVersion(of: "API_KEY", in: web, at: 2_000, by: "ci")
            try await rows.insertVersion(version, sealed: "w1", of: "API_KEY", in: web, at: 2_000, by: "ci")
            return written
        }
        #expect(versions == [1, 2, 3])
        try await database.repositoryTransaction { rows in
            #expect(try await rows.versions(of: "DB_URL", in: .team).map(\.version) == [2, 3])
            #expect(try await rows.sealed("DB_URL", in: .team, version: 3) == "s3")
            #expect(try await rows.sealed("DB_URL", in: .team, version: 1) == nil)
            #expect(try await rows.head(of: "DB_URL", in: .team).map { "\($0.current) \($0.deleted)" } == "3 false")
            #expect(try await rows.isLive("DB_URL", in: .team) == true)
            #expect(try await rows.isLive("NOPE", in: .team) == nil)
            #expect(try await rows.listings(in: [.team, web]).map { "\($0.0) \($0.1.name)" }.sorted() == ["project web API_KEY", "team DB_URL"])
            #expect(try await rows.listings(listableBy: try GrantSet(parsing: ["project:web:read"])).map(\.1.name) == ["API_KEY"])
            #expect(try await rows.listings(listableBy: try GrantSet(parsing: ["project:api:read"])).isEmpty)
            #expect(try await rows.listings(listableBy: try GrantSet(parsing: ["admin"])).count == 2)
            #expect(try await rows.scopeIDs(.project) == ["web"])
            #expect(try await rows.scopeCounts().map { "\($0.kind)/\($0.id)=\($0.count)" }.sorted() == ["project/web=1", "team/=1"])
            #expect(try await rows.exists("API_KEY", in: web))
            #expect(try await rows.secretRows(in: web).map(\.updatedBy) == ["ci"])

            try await rows.markDeleted("DB_URL", in: .team, at: 3_000, by: "ops")
            #expect(try await rows.isLive("DB_URL", in: .team) == false)
            #expect(try await rows.listings(in: [.team]).isEmpty)
            let again = try await rows.nextVersion(of: "DB_URL", in: .team, at: 4_000, by: "ops")
            #expect(again.version == 4 && again.wasDeleted)
            #expect(try await rows.isLive("DB_URL", in: .team) == true)
            try await rows.purge("API_KEY", in: web)
            #expect(try await rows.isLive("API_KEY", in: web) == nil)
            #expect(try await rows.versions(of: "API_KEY", in: web).isEmpty)
        }

        // Keys, as the store and the hot read see them.
        try await database.repositoryTransaction { rows in
            try await rows.lockAdmins()
            try await rows.insertKey("ci", digest: "digest-ci", grants: "team:read", at: 5_000, by: "admin", expires: nil)
            #expect(try await rows.keyExists("ci"))
            #expect(try await !rows.keyExists("other"))
            #expect(try await rows.revokedAt("ci") == .some(nil))
            #expect(try await rows.revokedAt("other") == nil)
            try await rows.touchKey("ci", at: 6_000)
            #expect(try await rows.unrevokedKeys().map(\.name) == ["ci"])
            #expect(try await rows.keyEntries().map(\.grants) == [["team:read"]])
        }
        let record = try #require(try await database.key(digest: "digest-ci"))
        #expect(record.name == "ci" && record.lastUsed == 6_000 && record.revoked == nil)
        try await database.repositoryTransaction { rows in
            try await rows.revokeKey("ci", at: 7_000)
            #expect(try await rows.revokedAt("ci") == .some(7_000))
            #expect(try await rows.unrevokedKeys().isEmpty)
            #expect(try await rows.tokenExpiry(digest: "digest-ci").map { "\($0.expires.map(String.init) ?? "-") \($0.via ?? "-")" } == "- -")
        }

        // The audit log.
        try await database.repositoryTransaction { rows in
            let row = AuditRecord(time: 8_000, key: "ci", action: "read", scope: "team", names: ["DB_URL", "OTHER"], client: "test", outcome: "ok")
            let id = try #require(try await rows.insertAuditReturningID(row))
            try await rows.setAuditRepeats(id: id, count: 3)
            try await rows.insertAudit(AuditRecord(time: 9_000, key: "ops", action: "set", scope: "team", names: ["X"], client: "test", outcome: "ok"))
            let page = try await rows.auditPage(since: 0, key: nil, role: nil, secret: "DB_URL", before: nil, limit: 10, namesRead: 16_384)
            #expect(page.map(\.id) == [id])
            #expect(page.first?.entry.count == 3)
            #expect(page.first?.entry.names == ["DB_URL", "OTHER"])
            #expect(try await rows.auditPage(since: 0, key: nil, role: nil, secret: nil, before: nil, limit: 1, namesRead: 16_384).count == 2)
        }

        // Members, roles, people's CLI codes and tokens.
        try await database.repositoryTransaction { rows in
            try await rows.insertMember("ana@acme.dev", grants: "team:read", at: 10_000, by: "admin")
            try await rows.insertMember("group:platform", grants: "admin", at: 10_000, by: "admin")
            try await rows.updateMember("ana@acme.dev", grants: "team:write", at: 11_000)
            #expect(try await rows.memberGrants("ana@acme.dev") == "team:write")
            #expect(try await rows.memberGrants("nobody@acme.dev") == nil)
            #expect(try await rows.memberGrants(among: ["ana@acme.dev", "group:platform", "group:none"]).sorted() == ["admin", "team:write"])
            #expect(try await rows.allMemberGrants().sorted() == ["admin", "team:write"])
            #expect(try await rows.membersWithGrants().map(\.name).sorted() == ["ana@acme.dev", "group:platform"])
            #expect(try await rows.memberEntries().count == 2)
            try await rows.deleteMember("group:platform")
            #expect(try await rows.membersWithGrants().map(\.name) == ["ana@acme.dev"])

            let role = RoleEntry(name: "deploy", issuer: "https://issuer.example", audiences: ["secretfill"], boundClaims: ["repo": "acme/*"],
                                 boundSubject: nil, grants: ["team:read"], ttl: 60, maxTTL: 600, jwks: nil)
            try await rows.insertRole(role, grants: "team:read", audiences: #"["secretfill"]"#, claims: #"{"repo":"acme\/*"}"#, at: 12_000, by: "admin")
            #expect(try await rows.roleExists("deploy"))
            #expect(try await rows.roleNames() == ["deploy"])
            let read = try #require(try await rows.role(named: "deploy"))
            #expect(read.audiences == ["secretfill"] && read.boundClaims == ["repo": "acme/*"] && read.maxTTL == 600)
            try await rows.insertRoleToken("role:deploy/abc", digest: "digest-role", grants: "team:read", at: 12_000, role: "deploy", expires: 99_000, subject: "job")
            try await rows.revokeTokens(ofRole: "deploy", at: 13_000)
            #expect(try await rows.revokedAt("role:deploy/abc") == .some(13_000))
            try await rows.deleteRole("deploy")
            #expect(try await !rows.roleExists("deploy"))

            try await rows.insertCLICode(digest: "code-old", person: "ana@acme.dev", groups: "", challenge: "c", via: "Okta", at: 1)
            try await rows.insertCLICode(digest: "code-new", person: "ana@acme.dev", groups: "platform", challenge: "c", via: "Okta", at: 14_000)
            try await rows.dropCLICodes(before: 2)
            #expect(try await rows.takeCLICode(digest: "code-old") == nil)
            #expect(try await rows.takeCLICode(digest: "code-new").map(\.groups) == "platform")
            #expect(try await rows.takeCLICode(digest: "code-new") == nil, "a code is used once")
            try await rows.insertPersonToken("user:ana@acme.dev/01", digest: "digest-person", at: 15_000, person: "ana@acme.dev", groups: "platform",
                                             via: "Okta", expires: 20_000)
            #expect(try await rows.personToken("user:ana@acme.dev/01").map { "\($0.person) \($0.groups)" } == "ana@acme.dev platform")
            #expect(try await rows.tokenExpiry(digest: "digest-person").map { "\($0.expires ?? 0) \($0.via ?? "-")" } == "20000 Okta")
            try await rows.revokeToken(digest: "digest-person", at: 16_000)
            #expect(try await rows.revokedAt("user:ana@acme.dev/01") == .some(16_000))
            #expect(try await rows.keyEntries().allSatisfy { !$0.name.hasPrefix("user:") && !$0.name.hasPrefix("role:") })
        }

        // Browser sessions and pending single sign-ins.
        try await database.repositoryTransaction { rows in
            try await rows.insertSession(idDigest: "s-key", keyName: "ci", csrfToken: "t1", at: 17_000)
            try await rows.insertSession(idDigest: "s-person", keyName: "user:ana@acme.dev", csrfToken: "t2", at: 17_000, person: "ana@acme.dev",
                                         groups: "platform ops", via: "Okta")
            let key = try #require(try await rows.session(idDigest: "s-key"))
            #expect(key.grants == "team:read" && key.revoked == 7_000 && key.person == nil)
            let person = try #require(try await rows.session(idDigest: "s-person"))
            #expect(person.groups == ["platform", "ops"] && person.via == "Okta" && person.grants == nil)
            #expect(try await rows.sessionKey(idDigest: "s-person") == "user:ana@acme.dev")
            try await rows.touchSession(idDigest: "s-person", at: 30_000)
            try await rows.deleteSessions(seenBefore: 20_000)
            #expect(try await rows.session(idDigest: "s-key") == nil)
            try await rows.deleteSessions(ofKey: "user:ana@acme.dev")
            #expect(try await rows.sessionKey(idDigest: "s-person") == nil)
            try await rows.insertSession(idDigest: "s-gone", keyName: "ci", csrfToken: "t3", at: 31_000)
            try await rows.deleteSession(idDigest: "s-gone")
            #expect(try await rows.session(idDigest: "s-gone") == nil)

            try await rows.insertPendingSignIn(stateDigest: "old", binding: "b", verifier: "v", nonce: "n", at: 1, cli: nil)
            try await rows.insertPendingSignIn(stateDigest: "new", binding: "b", verifier: "v", nonce: "n", at: 32_000,
                                               cli: CLISignIn(redirect: "http://127.0.0.1:9/cb?state=x", challenge: "ch"))
            try await rows.dropPendingSignIns(before: 2)
            #expect(try await rows.takePendingSignIn(stateDigest: "old") == nil)
            let pending = try #require(try await rows.takePendingSignIn(stateDigest: "new"))
            #expect(pending.created == 32_000 && pending.cli?.challenge == "ch")
            #expect(try await rows.takePendingSignIn(stateDigest: "new") == nil, "a state is used once")
        }

        // Data keys: the first claim names the active key, a second one does not.
        try await database.repositoryTransaction { rows in
            #expect(try await rows.activeDataKeyID(lock: .share) == nil)
            #expect(try await rows.claimActiveDataKey("dk-1"))
            #expect(try await !rows.claimActiveDataKey("dk-2"))
            #expect(try await rows.activeDataKeyID(lock: .update) == "dk-1")
            try await rows.insertDataKey("dk-1", wrapped: "wrapped-1", at: 33_000)
            #expect(try await rows.wrappedDataKeys().map { "\($0.id)=\($0.wrapped)" } == ["dk-1=wrapped-1"])
        }
    }

    // MARK: the boundary

    /// SQL as the server writes it: a statement's opening words, in capitals.
    static var statement: Regex<AnyRegexOutput> { try! Regex(#"\b(SELECT\b.*\bFROM\b|SELECT [0-9]|INSERT INTO|UPDATE [a-z_]+ SET|DELETE FROM|CREATE (TABLE|INDEX|DATABASE)|ALTER TABLE|DROP (TABLE|INDEX)|LOCK TABLE|ANALYZE |PRAGMA |BEGIN|COMMIT|ROLLBACK|set_config\(|pg_[a-z_]+\()"#) }

    /// Words one of which every `statement` holds: a literal without any is
    /// not matched against the expression (which is slow over every source).
    static let statementWords = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "LOCK", "ANALYZE", "PRAGMA", "BEGIN", "COMMIT",
                                 "ROLLBACK", "set_config", "pg_"]

    /// Whether `literal` holds a statement.
    static func holdsStatement(_ literal: String) -> Bool {
        statementWords.contains { literal.contains($0) } && literal.contains(statement)
    }

    /// The string literals of Swift source `text` (one line each, the lines
    /// of a multi-line literal included); comments are left out.
    static func literals(_ text: String) -> [(line: Int, text: String)] {
        var found: [(Int, String)] = []
        var inBlock = false
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if inBlock {
                if trimmed.hasPrefix("\"\"\"") { inBlock = false } else { found.append((index + 1, String(line))) }
                continue
            }
            if trimmed.hasPrefix("//") { continue }
            var code = String(line)
            if code.hasSuffix("\"\"\"") && !trimmed.hasPrefix("\"\"\"") {
                inBlock = true
                code = String(code.dropLast(3))
            }
            for match in code.matches(of: #/"(?:[^"\\]|\\.)*"/#) { found.append((index + 1, String(match.output))) }
        }
        return found
    }

    /// Files of `Sources/` outside `SecretFillServer/Repository/` whose
    /// string literals hold SQL, or that call SQLKit: none may (the
    /// repository holds every statement of every target).
    static func sqlOutsideRepository() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        #expect(files.contains("SecretFillServer/ServerStore.swift"), "the sources were not found at \(sources.path)")
        var offenders: [String] = []
        for file in files where !file.hasPrefix("SecretFillServer/Repository/") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (line, literal) in literals(text) where holdsStatement(literal) {
                offenders.append("\(file):\(line): \(literal.trimmingCharacters(in: .whitespaces))")
            }
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.hasPrefix("import SQLKit") || line.contains(".raw(") || line.contains("SQLQueryString") {
                offenders.append("\(file):\(index + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        return offenders
    }

    @Test("no source file outside the server's Repository/ holds SQL or calls SQLKit")
    func boundary() throws {
        let offenders = try Self.sqlOutsideRepository()
        #expect(offenders.isEmpty, "SQL belongs in Sources/SecretFillServer/Repository/:\n\(offenders.joined(separator: "\n"))")
    }

    @Test("the boundary check finds SQL in a literal, one line or several, and passes over comments and HTTP methods")
    func boundaryCheckFinds() {
        let source = #"""
            // SELECT name FROM secrets in a comment is no statement
            let method = "DELETE"
            let one = try await sql.raw("SELECT name FROM api_keys WHERE name = \(bind: name)").all()
            let many = """
                INSERT INTO members (name) VALUES ('a')
                """
            let words = "update the secret"
            """#
        let hits = Self.literals(source).filter { Self.holdsStatement($0.text) }.map(\.line)
        #expect(hits == [3, 5])
    }
}
