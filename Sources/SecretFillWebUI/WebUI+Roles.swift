import Hummingbird
import HTTPTypes
import SecretFillAPI

/// The API Keys page's Roles section (issue 26): the OIDC roles CI jobs
/// sign in with, listed, created from a form and deleted after confirming.
/// Admin only, like the keys; the form's settings are read by the same
/// `RoleDraft` as `secretfill roles create`, so a mistake gets the CLI's words.
extension WebUI {
    func addRoleRoutes<Context: WebUIRequestContext>(to group: RouterGroup<Context>) {
        group.post("/ui/roles/create") { request, context in await self.signedIn(request, context) { await self.createRole($0, request, context) } }
        group.get("/ui/roles/delete") { request, context in await self.signedIn(request, context) { await self.confirmRoleDelete($0, request, context) } }
        group.post("/ui/roles/delete") { request, context in await self.signedIn(request, context) { await self.deleteRole($0, request, context) } }
    }

    /// The Roles form as posted: lists are one entry per line.
    struct RoleForm: NamedForm {
        var csrf: String?
        var name: String?
        var issuer: String?
        var audiences: String?
        var claims: String?
        var subject: String?
        var grants: String?
        var ttl: String?
        var maxTTL: String?
        var jwks: String?

        static func lines(_ text: String?) -> [String] {
            (text ?? "").split(whereSeparator: \.isNewline).map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        }

        static func optional(_ text: String?) -> String? {
            text.map(\.trimmingSpaces).flatMap { $0.isEmpty ? nil : $0 }
        }

        var draft: RoleDraft {
            RoleDraft(name: Self.optional(name) ?? "", issuer: Self.optional(issuer) ?? "", audiences: Self.lines(audiences),
                      boundClaims: Self.lines(claims), boundSubject: Self.optional(subject), grants: Self.lines(grants),
                      ttl: Self.optional(ttl) ?? RoleDraft.defaultTTL, maxTTL: Self.optional(maxTTL) ?? RoleDraft.defaultMaxTTL,
                      jwks: Self.optional(jwks))
        }

        /// What the form shows again after a refusal: every field but the
        /// CSRF token, each cut to nothing when longer than the server takes.
        var kept: [String: String] {
            func short(_ text: String?, _ longest: Int) -> String { text.map { $0.utf8.count <= longest ? $0 : "" } ?? "" }
            return ["roleName": short(name, 256), "roleIssuer": short(issuer, 512), "roleAudiences": short(audiences, 16 * 1024),
                    "roleClaims": short(claims, 32 * 1024), "roleSubject": short(subject, 512), "roleGrants": short(grants, 4096),
                    "roleTTL": short(ttl, 32), "roleMaxTTL": short(maxTTL, 32), "roleJWKS": short(jwks, 64 * 1024)]
        }
    }

    /// The Roles section's data for the keys page.
    func rolesData(_ roles: [RoleEntry], form: RoleForm?, error: String?) -> [String: Any] {
        var data: [String: Any] = [
            "hasRoles": !roles.isEmpty,
            "roles": roles.map { role -> [String: Any] in
                ["name": role.name, "issuer": role.issuer, "audiences": role.audiences,
                 "claims": role.boundClaims.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { "\($0.key)=\($0.value)" },
                 "subject": role.boundSubject ?? "", "grants": role.grants,
                 "ttl": DurationText.text(seconds: role.ttl), "maxTTL": DurationText.text(seconds: role.maxTTL),
                 "keys": role.jwks == nil ? "discovery" : "JWKS given"]
            },
            "roleTTL": RoleDraft.defaultTTL, "roleMaxTTL": RoleDraft.defaultMaxTTL,
        ]
        if let form { data.merge(form.kept) { _, kept in kept } }
        if let error { data["roleError"] = error }
        return data
    }

    func createRole<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let form: RoleForm
        switch await readSessionForm(RoleForm.self, request, session) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        if let refusal = requireAdmin(session, "create roles") { return refusal }
        let role: RoleEntry
        do throws(RoleDraft.Problem) { role = try form.draft.entry() } catch {
            return await keysPage(session, request, context, status: .badRequest, roleForm: form, roleError: error.description)
        }
        do {
            try await backend.createRole(role, as: session.principal, client: context.webUIClient)
        } catch let refusal as ServerRefusal {
            switch refusal {
            case .invalid(let text), .tooLarge(let text):
                return await keysPage(session, request, context, status: .badRequest, roleForm: form, roleError: text)
            case .conflict(let text):
                return await keysPage(session, request, context, status: .conflict, roleForm: form, roleError: text)
            default:
                return failure(refusal, session: session, back: "/ui/keys")
            }
        } catch {
            return failure(error, session: session, back: "/ui/keys")
        }
        return Self.redirect("/ui/keys?roleCreated=\(role.name)#roles")
    }

    func confirmRoleDelete<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        await confirmNamed(session, request, context, action: "delete roles", noun: "role", template: "confirm-role-delete", title: "Delete role")
    }

    func deleteRole<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        await actOnNamed(RoleForm.self, session, request, done: "roleDeleted", fragment: "roles") { name in
            try await backend.deleteRole(name: name, as: session.principal, client: context.webUIClient)
        }
    }
}
