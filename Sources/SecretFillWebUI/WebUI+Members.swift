import Hummingbird
import HTTPTypes
import SecretFillAPI

/// The Members page (issue 25): the team's people (by email) and groups of
/// the identity provider (`group:NAME`) with their grants; an admin adds a
/// member, changes its grants (the same form: adding an existing member
/// replaces its grants) and removes it after confirming.
extension WebUI {
    func addMemberRoutes<Context: WebUIRequestContext>(to group: RouterGroup<Context>) {
        group.get("/ui/members") { request, context in await self.signedIn(request, context) { await self.membersPage($0, request, context) } }
        group.post("/ui/members/add") { request, context in await self.signedIn(request, context) { await self.addMember($0, request, context) } }
        group.get("/ui/members/remove") { request, context in await self.signedIn(request, context) { await self.confirmMemberRemove($0, request, context) } }
        group.post("/ui/members/remove") { request, context in await self.signedIn(request, context) { await self.removeMember($0, request, context) } }
    }

    struct MemberForm: NamedForm {
        var csrf: String?
        var name: String?
        var grants: String?
    }

    /// A member's name in a query: `@`, `:` and unreserved characters as
    /// they are, anything else percent-encoded.
    static func queryValue(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "@"), UInt8(ascii: ":"):
                out.append(Character(UnicodeScalar(byte)))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    func membersPage<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context,
                                                   status: HTTPResponse.Status = .ok, error: String? = nil, form: MemberForm? = nil) async -> Response {
        if let refusal = requireAdmin(session, "manage members") { return refusal }
        let members: [MemberEntry]
        do {
            members = try await backend.members(as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: "/ui/team")
        }
        let now = WebUITime.nowSeconds()
        var data: [String: Any] = [
            "csrf": session.csrfToken, "hasMembers": !members.isEmpty,
            "formName": form?.name.map { $0.utf8.count <= 300 ? $0 : "" } ?? "",
            "formGrants": form?.grants.map { $0.utf8.count <= 4096 ? $0 : "" } ?? "",
            "members": members.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }.map { member -> [String: Any] in
                ["name": member.name, "query": Self.queryValue(member.name), "isGroup": MemberName.isGroup(member.name),
                 "grants": member.grants, "grantLines": member.grants.joined(separator: "\n"),
                 "created": WebUITime.fields(member.created ?? "-", now: now), "updated": WebUITime.fields(member.updated ?? "-", now: now)]
            },
        ]
        if let error { data["error"] = error }
        let named = { (key: String) in request.uri.queryParameters.get(key).map { String($0) }.flatMap(MemberName.normalized) }
        if let added = named("added") { data["notice"] = "Added member '\(added)'" }
        if let updated = named("updated") { data["notice"] = "Updated member '\(updated)'" }
        if let removed = named("removed") { data["notice"] = "Removed member '\(removed)'" }
        let nav = await navigation(session, context, current: "members")
        return render("members", title: "Members", status: status, data: data, session: session, nav: nav)
    }

    func addMember<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let form: MemberForm
        switch await readSessionForm(MemberForm.self, request, session) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        if let refusal = requireAdmin(session, "manage members") { return refusal }
        let name = (form.name ?? "").trimmingSpaces
        let grants = (form.grants ?? "").split(whereSeparator: \.isNewline).map { $0.trimmingSpaces }.filter { !$0.isEmpty }
        guard MemberName.normalized(name) != nil else {
            return await membersPage(session, request, context, status: .badRequest, error: MemberName.ruleDescription, form: form)
        }
        let answer: AddMemberResponse
        do {
            answer = try await backend.addMember(name: name, grants: grants, as: session.principal, client: context.webUIClient)
        } catch let refusal as ServerRefusal {
            switch refusal {
            case .invalid(let text), .tooLarge(let text):
                return await membersPage(session, request, context, status: .badRequest, error: text, form: form)
            case .conflict(let text):
                return await membersPage(session, request, context, status: .conflict, error: text, form: form)
            default:
                return failure(refusal, session: session, back: "/ui/members")
            }
        } catch {
            return failure(error, session: session, back: "/ui/members")
        }
        return Self.redirect("/ui/members?\(answer.updated ? "updated" : "added")=\(Self.queryValue(answer.name))")
    }

    func confirmMemberRemove<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        if let refusal = requireAdmin(session, "manage members") { return refusal }
        let text = request.uri.queryParameters.get("name").map { String($0) } ?? ""
        guard let name = MemberName.normalized(text) else {
            return message(status: .badRequest, title: "Not a member's name", "'\(text.prefix(64))' is not a member: \(MemberName.ruleDescription)",
                           back: "/ui/members", session: session)
        }
        let nav = await navigation(session, context, current: "members")
        return render("confirm-member-remove", title: "Remove \(name)?", status: .ok, data: ["name": name, "csrf": session.csrfToken], session: session, nav: nav)
    }

    func removeMember<Context: WebUIRequestContext>(_ session: WebUISession, _ request: Request, _ context: Context) async -> Response {
        let form: MemberForm
        switch await readSessionForm(MemberForm.self, request, session) {
        case .success(let value): form = value
        case .failure(let box): return box.response
        }
        if let refusal = requireAdmin(session, "manage members") { return refusal }
        guard let name = MemberName.normalized(form.name ?? "") else {
            return message(status: .badRequest, title: "Not a member's name", MemberName.ruleDescription, back: "/ui/members", session: session)
        }
        do {
            try await backend.removeMember(name: name, as: session.principal, client: context.webUIClient)
        } catch {
            return failure(error, session: session, back: "/ui/members")
        }
        return Self.redirect("/ui/members?removed=\(Self.queryValue(name))")
    }
}
