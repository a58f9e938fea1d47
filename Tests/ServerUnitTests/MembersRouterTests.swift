import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SecretFill
import SecretFillAPI
@testable import SecretFillServer
import Testing

/// Issue 25, members: the routes in process on SQLite (`APIRouterTests.Harness`):
/// add (and `updated`), list, remove, the admin rule, the last-admin rule
/// counting members both ways, and the audit rows.
@Suite("members through the API")
struct MembersRouterTests {
    typealias Answer = (status: HTTPResponse.Status, body: String)

    static func post(_ client: some TestClientProtocol, _ path: String, _ body: String, _ token: String?) async throws -> Answer {
        try await client.execute(uri: path, method: .post, headers: APIRouterTests.headers(token), body: ByteBuffer(string: body)) { response in
            (response.status, String(buffer: response.body))
        }
    }

    static func audit(_ store: ServerStore) async throws -> [AuditEntry] {
        try await store.auditEntries(since: nil, key: nil, secret: nil, limit: 1000, by: .databaseOwner, client: "test").entries
    }

    @Test("add, add again (updated, grants replaced), list sorted with emails in lower case, remove; each audited")
    func addListRemove() async throws {
        let harness = try await APIRouterTests.Harness.make()
        let app = Application(router: harness.router)
        let admin = harness.admin
        try await app.test(.router) { client in
            var answer = try await Self.post(client, "/v1/members", #"{"name": "Ana@Acme.DEV", "grants": ["team:read"]}"#, admin)
            #expect(answer.status == .ok, "\(answer.body)")
            #expect(try JSONDecoder().decode(AddMemberResponse.self, from: Data(answer.body.utf8)).updated == false)
            #expect(try JSONDecoder().decode(AddMemberResponse.self, from: Data(answer.body.utf8)).name == "ana@acme.dev")
            answer = try await Self.post(client, "/v1/members", #"{"name": "ana@acme.dev", "grants": ["team:write", "project:*:read"]}"#, admin)
            #expect(answer.status == .ok, "\(answer.body)")
            #expect(try JSONDecoder().decode(AddMemberResponse.self, from: Data(answer.body.utf8)).updated == true)
            answer = try await Self.post(client, "/v1/members", #"{"name": "group:platform", "grants": ["admin"]}"#, admin)
            #expect(answer.status == .ok, "\(answer.body)")

            answer = try await Self.post(client, "/v1/members/list", "{}", admin)
            #expect(answer.status == .ok)
            let members = try JSONDecoder().decode(MembersResponse.self, from: Data(answer.body.utf8)).members
            #expect(members.map(\.name) == ["ana@acme.dev", "group:platform"])
            #expect(members.first?.grants == ["team:write", "project:*:read"])
            #expect(members.allSatisfy { $0.created != nil && $0.updated != nil })

            answer = try await Self.post(client, "/v1/members/remove", #"{"name": "ANA@acme.dev"}"#, admin)
            #expect(answer.status == .ok, "\(answer.body)")
            answer = try await Self.post(client, "/v1/members/remove", #"{"name": "ana@acme.dev"}"#, admin)
            #expect(answer.status == .notFound, "\(answer.body)")
            #expect(answer.body.contains("there is no member 'ana@acme.dev'"))
            answer = try await Self.post(client, "/v1/members/list", "{}", admin)
            #expect(try JSONDecoder().decode(MembersResponse.self, from: Data(answer.body.utf8)).members.map(\.name) == ["group:platform"])
        }
        let rows = try await Self.audit(harness.store).filter { $0.action.hasPrefix("member.") }
        #expect(rows.filter { $0.action == "member.add" && $0.outcome == "ok" }.count == 3)
        #expect(rows.filter { $0.action == "member.remove" && $0.outcome == "ok" }.map(\.names) == [["ana@acme.dev"]])
        #expect(rows.contains { $0.action == "member.list" && $0.key == "admin" })
        await harness.close()
    }

    @Test("a key without admin is refused (403) and audited as denied; a malformed member or grant is 400")
    func refusals() async throws {
        let harness = try await APIRouterTests.Harness.make()
        let writer = try await harness.store.createKey(name: "writer", grants: ["team:write"], expiresIn: nil, by: .databaseOwner, client: "test")
        let app = Application(router: harness.router)
        let admin = harness.admin
        try await app.test(.router) { client in
            var answer = try await Self.post(client, "/v1/members", #"{"name": "eve@acme.dev", "grants": ["admin"]}"#, writer)
            #expect(answer.status == .forbidden, "\(answer.body)")
            #expect(answer.body.contains("key 'writer' may not manage members") && !answer.body.contains(writer), "\(answer.body)")
            answer = try await Self.post(client, "/v1/members/list", "{}", writer)
            #expect(answer.status == .forbidden)
            answer = try await Self.post(client, "/v1/members/remove", #"{"name": "eve@acme.dev"}"#, writer)
            #expect(answer.status == .forbidden)
            for name in ["no-at-sign", "a b@acme.dev", "two@at@signs", "group:", "@acme.dev", "ana@", String(repeating: "x", count: 65) + "@acme.dev"] {
                answer = try await Self.post(client, "/v1/members", "{\"name\": \"\(name)\", \"grants\": [\"team:read\"]}", admin)
                #expect(answer.status == .badRequest, "\(name): \(answer.body)")
                #expect(answer.body.contains("a member is an email"), "\(name): \(answer.body)")
            }
            answer = try await Self.post(client, "/v1/members", #"{"name": "ana@acme.dev", "grants": ["team:everything"]}"#, admin)
            #expect(answer.status == .badRequest, "\(answer.body)")
            answer = try await Self.post(client, "/v1/members", #"{"name": "ana@acme.dev", "grants": []}"#, admin)
            #expect(answer.status == .badRequest, "\(answer.body)")
            answer = try await Self.post(client, "/v1/members/list", "{}", admin)
            #expect(try JSONDecoder().decode(MembersResponse.self, from: Data(answer.body.utf8)).members.isEmpty, "nothing refused was added")
        }
        let denied = try await Self.audit(harness.store).filter { $0.outcome == "denied" && $0.key == "writer" }
        #expect(Set(denied.map(\.action)) == ["member.add", "member.list", "member.remove"], "\(denied.map(\.action))")
        await harness.close()
    }

    @Test("the last admin rule counts members: the only admin key goes once an admin member exists; then the last admin member can neither go nor lose admin (409)")
    func lastAdmin() async throws {
        let harness = try await APIRouterTests.Harness.make()
        let second = try await harness.store.createKey(name: "second", grants: ["admin"], expiresIn: nil, by: .databaseOwner, client: "test")
        let app = Application(router: harness.router)
        let admin = harness.admin
        try await app.test(.router) { client in
            // Two admin keys and no member: the first one can go, the second not.
            var answer = try await Self.post(client, "/v1/keys/revoke", #"{"name": "admin"}"#, second)
            #expect(answer.status == .ok, "\(answer.body)")
            answer = try await Self.post(client, "/v1/keys/revoke", #"{"name": "second"}"#, second)
            #expect(answer.status == .conflict, "\(answer.body)")
            #expect(answer.body.contains("key 'second' is the last admin key"))
            // An admin member is another admin: now the key can go.
            answer = try await Self.post(client, "/v1/members", #"{"name": "boss@acme.dev", "grants": ["admin"]}"#, second)
            #expect(answer.status == .ok, "\(answer.body)")
            answer = try await Self.post(client, "/v1/members", #"{"name": "dev@acme.dev", "grants": ["team:read"]}"#, second)
            #expect(answer.status == .ok, "\(answer.body)")
            answer = try await Self.post(client, "/v1/keys/revoke", #"{"name": "second"}"#, second)
            #expect(answer.status == .ok, "\(answer.body)")
            _ = admin
        }
        // The last admin is now the member: the database's owner cannot remove it or take admin away either.
        await #expect(throws: ServerRefusal.self) {
            try await harness.store.removeMember(name: "boss@acme.dev", by: .databaseOwner, client: "test")
        }
        do {
            _ = try await harness.store.addMember(name: "boss@acme.dev", grants: ["team:read"], by: .databaseOwner, client: "test")
            Issue.record("taking admin from the last admin member went through")
        } catch let refusal as ServerRefusal {
            guard case .conflict(let message) = refusal else { Issue.record("not a conflict: \(refusal)"); return }
            #expect(message == "member 'boss@acme.dev' is the last admin: add another admin (key or member) before taking admin away")
        }
        // A non-admin member goes whatever; with a second admin member the first can go.
        try await harness.store.removeMember(name: "dev@acme.dev", by: .databaseOwner, client: "test")
        _ = try await harness.store.addMember(name: "group:admins", grants: ["admin"], by: .databaseOwner, client: "test")
        try await harness.store.removeMember(name: "boss@acme.dev", by: .databaseOwner, client: "test")
        let left = try await harness.store.listMembers(by: .databaseOwner, client: "test")
        #expect(left.map(\.name) == ["group:admins"])
        await harness.close()
    }
}
