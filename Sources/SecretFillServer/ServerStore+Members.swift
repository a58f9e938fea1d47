import Logging
import SecretFill
import SecretFillAPI

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
        return try await run(audited: true) { rows in
            try await rows.lockAdmins()
            let existing = try await rows.memberGrants(member)
            if let existing {
                let wasAdmin = Self.isAdminGrants(existing)
                if wasAdmin, !parsed.isAdmin, try await Self.otherLastingAdmins(rows, exceptMember: member, now: now) == 0 {
                    throw ServerRefusal.conflict("member '\(member)' is the last admin: add another admin (key or member) before taking admin away")
                }
                try await rows.updateMember(member, grants: grantText, at: now)
            } else {
                try await rows.insertMember(member, grants: grantText, at: now, by: actor.name)
            }
            try await Self.audit(rows, key: actor.name, action: "member.add", scope: "members", names: [member], client: client, outcome: "ok")
            return AddMemberResponse(name: member, updated: existing != nil)
        }
    }

    /// The members, sorted by name. `audited` as for `listRoles`.
    public func listMembers(by actor: ActingKey, client: String, audited: Bool = true) async throws -> [MemberEntry] {
        try await requireAdmin(actor, "list members", action: "member.list", names: [], client: client)
        return try await run(audited: audited) { rows in
            let members = try await rows.memberEntries()
            if audited {
                try await Self.audit(rows, key: actor.name, action: "member.list", scope: "members", names: [], client: client, outcome: "ok")
            }
            return members.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
    }

    public func removeMember(name: String, by actor: ActingKey, client: String) async throws {
        let shownName = MemberName.normalized(name) ?? Self.shown(name)
        try await requireAdmin(actor, "manage members", action: "member.remove", names: [shownName], client: client)
        guard let member = MemberName.normalized(name) else { throw ServerRefusal.invalid(MemberName.ruleDescription) }
        let now = Clock.nowMillis()
        try await run(audited: true) { rows in
            try await rows.lockAdmins()
            guard let grants = try await rows.memberGrants(member) else { throw ServerRefusal.notFound("there is no member '\(member)'") }
            if Self.isAdminGrants(grants),
               try await Self.otherLastingAdmins(rows, exceptMember: member, now: now) == 0 {
                throw ServerRefusal.conflict("member '\(member)' is the last admin: add another admin (key or member) before removing it")
            }
            try await rows.deleteMember(member)
            try await Self.audit(rows, key: actor.name, action: "member.remove", scope: "members", names: [member], client: client, outcome: "ok")
        }
    }

    static func isAdminGrants(_ text: String) -> Bool { text.split(separator: " ").contains("admin") }

    /// Admins other than the key `exceptKey` and the member `exceptMember`:
    /// admin keys that still work in 24 h (not a role's tokens), and admin
    /// members (people or groups; they do not expire).
    /// (`lockAdmins` first: two changes at once must not both see the other admin alive.)
    static func otherLastingAdmins(_ rows: any ServerRepository, exceptKey: String? = nil, exceptMember: String? = nil, now: Int) async throws -> Int {
        let lasting = now + adminLastingMillis
        var count = 0
        for key in try await rows.unrevokedKeys() {
            guard isAdminGrants(key.grants), key.name != exceptKey else { continue }
            if key.expires.map({ $0 > lasting }) ?? true { count += 1 }
        }
        for member in try await rows.membersWithGrants() {
            guard isAdminGrants(member.grants), member.name != exceptMember else { continue }
            count += 1
        }
        return count
    }
}
