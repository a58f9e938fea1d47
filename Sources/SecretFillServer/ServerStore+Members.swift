import Logging
import SecretFill
import SecretFillAPI
import SQLKit

/// Issue 25: members. The company's people (by email) and groups of its
/// identity provider (`group:NAME`) hold grants, as keys do. Admin only and
/// audited (`member.add`, `member.list`, `member.remove`). An admin member
/// counts as an admin for the last-admin rule, in both directions: the last
/// admin key can be revoked when an admin member remains, and the last admin
/// (key or member) cannot be removed or lose its admin grant.
extension ServerStore {
    /// Adds the member, or replaces an existing member's grants (`updated`).
    public func addMember(name: String, grants: [String], by actor: ActingKey, client: String) async throws -> AddMemberResponse {
        let shownName = MemberName.normalized(name) ?? Self.shown(name)
        try await requireAdmin(actor, "manage members", action: "member.add", names: [shownName], client: client)
        guard let member = MemberName.normalized(name) else { throw ServerRefusal.invalid(MemberName.ruleDescription) }
        guard !grants.isEmpty else { throw ServerRefusal.invalid("a member needs at least one --grant; \(Grant.ruleDescription)") }
        let parsed: GrantSet
        do { parsed = try GrantSet(parsing: grants) } catch { throw ServerRefusal.invalid(error.description) }
        let grantText = parsed.grants.map(\.description).joined(separator: " ")
        let now = Clock.nowMillis()
        let lockAdmins = database.isPostgres
        return try await run(audited: true) { sql in
            if lockAdmins { try await Self.lockAdmins(sql) }
            let rows = try await sql.raw("SELECT grants FROM members WHERE name = \(bind: member)").all()
            if let row = rows.first {
                let wasAdmin = Self.isAdminGrants(try row.decode(column: "grants", as: String.self))
                if wasAdmin, !parsed.isAdmin, try await Self.otherLastingAdmins(sql, exceptMember: member, now: now) == 0 {
                    throw ServerRefusal.conflict("member '\(member)' is the last admin: add another admin (key or member) before taking admin away")
                }
                try await sql.raw("UPDATE members SET grants = \(bind: grantText), updated_at = \(bind: now) WHERE name = \(bind: member)").run()
            } else {
                try await sql.raw("""
                    INSERT INTO members (name, grants, created_at, created_by, updated_at)
                    VALUES (\(bind: member), \(bind: grantText), \(bind: now), \(bind: actor.name), \(bind: now))
                    """).run()
            }
            try await Self.audit(sql, key: actor.name, action: "member.add", scope: "members", names: [member], client: client, outcome: "ok")
            return AddMemberResponse(name: member, updated: !rows.isEmpty)
        }
    }

    /// The members, sorted by name. `audited` as for `listRoles`.
    public func listMembers(by actor: ActingKey, client: String, audited: Bool = true) async throws -> [MemberEntry] {
        try await requireAdmin(actor, "list members", action: "member.list", names: [], client: client)
        return try await run(audited: audited) { sql in
            let rows = try await sql.raw("SELECT name, grants, created_at, updated_at FROM members").all()
            if audited {
                try await Self.audit(sql, key: actor.name, action: "member.list", scope: "members", names: [], client: client, outcome: "ok")
            }
            return try rows.map { row in
                MemberEntry(name: try row.decode(column: "name", as: String.self),
                            grants: try row.decode(column: "grants", as: String.self).split(separator: " ").map(String.init),
                            created: Clock.text(millis: try row.decode(column: "created_at", as: Int.self)),
                            updated: Clock.text(millis: try row.decode(column: "updated_at", as: Int.self)))
            }.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
    }

    public func removeMember(name: String, by actor: ActingKey, client: String) async throws {
        let shownName = MemberName.normalized(name) ?? Self.shown(name)
        try await requireAdmin(actor, "manage members", action: "member.remove", names: [shownName], client: client)
        guard let member = MemberName.normalized(name) else { throw ServerRefusal.invalid(MemberName.ruleDescription) }
        let now = Clock.nowMillis()
        let lockAdmins = database.isPostgres
        try await run(audited: true) { sql in
            if lockAdmins { try await Self.lockAdmins(sql) }
            let rows = try await sql.raw("SELECT grants FROM members WHERE name = \(bind: member)").all()
            guard let row = rows.first else { throw ServerRefusal.notFound("there is no member '\(member)'") }
            if Self.isAdminGrants(try row.decode(column: "grants", as: String.self)),
               try await Self.otherLastingAdmins(sql, exceptMember: member, now: now) == 0 {
                throw ServerRefusal.conflict("member '\(member)' is the last admin: add another admin (key or member) before removing it")
            }
            try await sql.raw("DELETE FROM members WHERE name = \(bind: member)").run()
            try await Self.audit(sql, key: actor.name, action: "member.remove", scope: "members", names: [member], client: client, outcome: "ok")
        }
    }

    /// Two changes at once must not both see the other admin alive: on
    /// PostgreSQL every change that can take an admin away locks both tables,
    /// always in this order (SQLite's BEGIN IMMEDIATE already has one writer).
    static func lockAdmins(_ sql: any SQLDatabase) async throws {
        try await sql.raw("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE").run()
        try await sql.raw("LOCK TABLE members IN SHARE ROW EXCLUSIVE MODE").run()
    }

    static func isAdminGrants(_ text: String) -> Bool { text.split(separator: " ").contains("admin") }

    /// Admins other than the key `exceptKey` and the member `exceptMember`:
    /// admin keys that still work in 24 h (not a role's tokens), and admin
    /// members (people or groups; they do not expire).
    static func otherLastingAdmins(_ sql: any SQLDatabase, exceptKey: String? = nil, exceptMember: String? = nil, now: Int) async throws -> Int {
        let lasting = now + adminLastingMillis
        var count = 0
        for row in try await sql.raw("SELECT name, grants, expires_at FROM api_keys WHERE revoked_at IS NULL AND role IS NULL").all() {
            guard isAdminGrants(try row.decode(column: "grants", as: String.self)),
                  try row.decode(column: "name", as: String.self) != exceptKey else { continue }
            if try row.decode(column: "expires_at", as: Int?.self).map({ $0 > lasting }) ?? true { count += 1 }
        }
        for row in try await sql.raw("SELECT name, grants FROM members").all() {
            guard isAdminGrants(try row.decode(column: "grants", as: String.self)),
                  try row.decode(column: "name", as: String.self) != exceptMember else { continue }
            count += 1
        }
        return count
    }
}
