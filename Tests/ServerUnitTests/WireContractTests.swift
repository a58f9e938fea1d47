import Foundation
import SecretFill
import SecretFillAPI
import Testing

/// The API document is the contract: every wire type's coding keys are the
/// properties of its schema in Sources/SecretFillAPI/openapi.yaml, the keys
/// Swift always sends are exactly the schema's `required`, a body holding
/// only the required keys decodes, and every object schema refuses keys it
/// does not name (`additionalProperties: false`). A field renamed on either
/// side, optional or not, fails here; schemathesis (APIDocumentTests) then
/// checks the running server against the same document.
@Suite("wire types against the API document")
struct WireContractTests {
    /// One wire type: an instance with every optional field set, and one with none set.
    struct Entry {
        let schema: String
        let full: [String: Any]
        let minimal: [String: Any]
        let decodes: (Data) throws -> Void

        init<T: Codable>(_ schema: String, full: T, minimal: T) throws {
            self.schema = schema
            self.full = try WireContractTests.object(full)
            self.minimal = try WireContractTests.object(minimal)
            decodes = { _ = try JSONDecoder().decode(T.self, from: $0) }
        }
    }

    static func object<T: Encodable>(_ value: T) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func entries() throws -> [Entry] {
        let scope = WireScope(scope: "project", id: "pr-1")
        let names = ScopeNames(scope: "project", id: "pr-1", secrets: [NameEntry(name: "a", updated: "t")])
        return [
            try Entry("WireScope", full: scope, minimal: WireScope(scope: "team", id: nil)),
            try Entry("ResolveRequest", full: ResolveRequest(project: "p", cluster: "c", names: ["a"]),
                      minimal: ResolveRequest(project: nil, cluster: nil, names: ["a"])),
            try Entry("ResolvedSecret", full: ResolvedSecret(value: "v", scope: "project", id: "p"),
                      minimal: ResolvedSecret(value: "v", scope: "team", id: nil)),
            try Entry("ResolveResponse", full: ResolveResponse(secrets: [:], missing: []), minimal: ResolveResponse(secrets: [:], missing: [])),
            try Entry("ValuesRequest", full: ValuesRequest(project: "p", cluster: "c"), minimal: ValuesRequest(project: nil, cluster: nil)),
            try Entry("ScopedValue", full: ScopedValue(name: "a", value: "v", scope: "project", id: "p"),
                      minimal: ScopedValue(name: "a", value: "v", scope: "team", id: nil)),
            try Entry("ValuesResponse", full: ValuesResponse(values: []), minimal: ValuesResponse(values: [])),
            try Entry("NamesRequest", full: NamesRequest(scopes: [scope]), minimal: NamesRequest(scopes: [])),
            try Entry("NameEntry", full: NameEntry(name: "a", updated: "t"), minimal: NameEntry(name: "a", updated: "t")),
            try Entry("ScopeNames", full: names, minimal: ScopeNames(scope: "team", id: nil, secrets: [])),
            try Entry("NamesResponse", full: NamesResponse(scopes: [names]), minimal: NamesResponse(scopes: [])),
            try Entry("ScopesResponse", full: ScopesResponse(scopes: [names], every: ["team"]), minimal: ScopesResponse(scopes: [], every: [])),
            try Entry("NameValue", full: NameValue(name: "a", value: "v"), minimal: NameValue(name: "a", value: "v")),
            try Entry("SetRequest", full: SetRequest(scope: "project", id: "p", secrets: []), minimal: SetRequest(scope: "team", id: nil, secrets: [])),
            try Entry("NameVersion", full: NameVersion(name: "a", version: 2, replaced: true), minimal: NameVersion(name: "a", version: 1, replaced: nil)),
            try Entry("SetResponse", full: SetResponse(versions: []), minimal: SetResponse(versions: [])),
            try Entry("DeleteRequest", full: DeleteRequest(scope: "project", id: "p", name: "a", purge: true),
                      minimal: { var r = DeleteRequest(scope: "team", id: nil, name: "a", purge: false); r.purge = nil; return r }()),
            try Entry("HistoryRequest", full: HistoryRequest(scope: "project", id: "p", name: "a"), minimal: HistoryRequest(scope: "team", id: nil, name: "a")),
            try Entry("VersionEntry", full: VersionEntry(version: 1, time: "t", key: "k", current: true),
                      minimal: VersionEntry(version: 1, time: "t", key: "k", current: false)),
            try Entry("HistoryResponse", full: HistoryResponse(name: "a", deleted: false, versions: []), minimal: HistoryResponse(name: "a", deleted: true, versions: [])),
            try Entry("RollbackRequest", full: RollbackRequest(scope: "project", id: "p", name: "a", version: 1),
                      minimal: RollbackRequest(scope: "team", id: nil, name: "a", version: 1)),
            try Entry("CreateKeyRequest", full: CreateKeyRequest(name: "k", grants: ["admin"], expiresIn: 60),
                      minimal: CreateKeyRequest(name: "k", grants: ["admin"], expiresIn: nil)),
            try Entry("CreateKeyResponse", full: CreateKeyResponse(name: "k", token: "t"), minimal: CreateKeyResponse(name: "k", token: "t")),
            try Entry("KeyEntry", full: KeyEntry(name: "k", grants: [], created: "t", lastUsed: "t", expires: "t", revoked: "t"),
                      minimal: KeyEntry(name: "k", grants: [], created: "t", lastUsed: nil, expires: nil, revoked: nil)),
            try Entry("KeysResponse", full: KeysResponse(keys: []), minimal: KeysResponse(keys: [])),
            try Entry("RevokeKeyRequest", full: RevokeKeyRequest(name: "k"), minimal: RevokeKeyRequest(name: "k")),
            try Entry("AuditRequest", full: AuditRequest(since: 1, key: "k", secret: "s", limit: 1, before: "1", role: "r", user: "u"),
                      minimal: AuditRequest(since: nil, key: nil, secret: nil)),
            try Entry("AuditEntry", full: AuditEntry(time: "t", key: "k", action: "read", scope: "team", names: [], client: "c", outcome: "ok", count: 2,
                                                     actor: "role:r", subject: "repo:a", detail: "issuer"),
                      minimal: AuditEntry(time: "t", key: "k", action: "read", scope: "team", names: [], client: "c", outcome: "ok")),
            try Entry("AuditResponse", full: AuditResponse(entries: [], next: "1"), minimal: AuditResponse(entries: [])),
            try Entry("LoginTokenRequest", full: LoginTokenRequest(code: "c", verifier: "v", ttl: "1h"), minimal: LoginTokenRequest(code: "c", verifier: "v", ttl: nil)),
            try Entry("LoginTokenResponse", full: LoginTokenResponse(token: "t", expiresAt: "e", user: "u", grants: []),
                      minimal: LoginTokenResponse(token: "t", expiresAt: "e", user: "u", grants: [])),
            try Entry("WhoamiResponse", full: WhoamiResponse(actor: "user:u", via: "SSO", grants: [], expiresAt: "e"),
                      minimal: WhoamiResponse(actor: "key:k", via: nil, grants: [], expiresAt: nil)),
            try Entry("OIDCExchangeRequest", full: OIDCExchangeRequest(role: "r", jwt: "j"), minimal: OIDCExchangeRequest(role: "r", jwt: "j")),
            try Entry("OIDCExchangeResponse", full: OIDCExchangeResponse(token: "t", expiresAt: "e", grants: []),
                      minimal: OIDCExchangeResponse(token: "t", expiresAt: "e", grants: [])),
            try Entry("OIDCRefusal", full: OIDCRefusalBody(message: "m", check: "issuer"), minimal: OIDCRefusalBody(message: "m", check: "issuer")),
            try Entry("RoleEntry", full: RoleEntry(name: "r", issuer: "i", audiences: ["a"], boundClaims: ["ref": "main"], boundSubject: "s",
                                                   grants: ["team:read"], ttl: 60, maxTTL: 600, jwks: "{}", created: "t"),
                      minimal: RoleEntry(name: "r", issuer: "i", audiences: ["a"], boundClaims: [:], boundSubject: nil,
                                         grants: ["team:read"], ttl: 60, maxTTL: 600, jwks: nil)),
            try Entry("RolesResponse", full: RolesResponse(roles: []), minimal: RolesResponse(roles: [])),
            try Entry("DeleteRoleRequest", full: DeleteRoleRequest(name: "r"), minimal: DeleteRoleRequest(name: "r")),
            try Entry("MemberEntry", full: MemberEntry(name: "a@b", grants: ["admin"], created: "t", updated: "t"),
                      minimal: MemberEntry(name: "a@b", grants: ["admin"])),
            try Entry("AddMemberRequest", full: AddMemberRequest(name: "a@b", grants: ["admin"]), minimal: AddMemberRequest(name: "group:g", grants: ["team:read"])),
            try Entry("AddMemberResponse", full: AddMemberResponse(name: "a@b", updated: true), minimal: AddMemberResponse(name: "a@b", updated: false)),
            try Entry("MembersResponse", full: MembersResponse(members: []), minimal: MembersResponse(members: [])),
            try Entry("RemoveMemberRequest", full: RemoveMemberRequest(name: "a@b"), minimal: RemoveMemberRequest(name: "a@b")),
            try Entry("BackupRequest", full: BackupRequest(audit: false), minimal: BackupRequest(audit: nil)),
            try Entry("RekeyRequest", full: RekeyRequest(operation: "new-key", newKey: "a2V5"), minimal: RekeyRequest(operation: "status")),
            try Entry("RekeyResponse", full: RekeyResponse(state: "done", summary: "s", running: false, error: "e"),
                      minimal: RekeyResponse(state: "no rotation started", running: false)),
            try Entry("ErrorBody", full: ErrorBody(error: "e", reason: "invalid"), minimal: ErrorBody(error: "e", reason: "invalid")),
        ]
    }

    /// The document's `components.schemas`, read as JSON by the YAML reader
    /// of schemathesis' own Python (scripts/schemathesis.sh installs it).
    static func schemas() throws -> [String: [String: Any]] {
        let components = try #require(try document()["components"] as? [String: Any])
        return try #require(components["schemas"] as? [String: [String: Any]])
    }

    /// The whole document as JSON objects.
    static func document() throws -> [String: Any] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let environment = ProcessInfo.processInfo.environment
        let st = environment["SECRETFILL_SCHEMATHESIS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? root.appendingPathComponent(".build/tools/schemathesis/bin/st").path
        let python = URL(fileURLWithPath: st).deletingLastPathComponent().appendingPathComponent("python").path
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "schemathesis' Python reads the document's YAML here: run `bash scripts/schemathesis.sh` (scripts/test.sh does)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
                             root.appendingPathComponent("Sources/SecretFillAPI/openapi.yaml").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the document did not read as YAML")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("each wire type's keys are its schema's properties, and what Swift always sends is exactly `required`")
    func keysMatchTheDocument() throws {
        let schemas = try Self.schemas()
        for entry in try Self.entries() {
            let schema = try #require(schemas[entry.schema], "openapi.yaml has no schema \(entry.schema)")
            let properties = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
            let required = Set(schema["required"] as? [String] ?? [])
            #expect(Set(entry.full.keys) == properties, "\(entry.schema): Swift sends \(entry.full.keys.sorted()), the document names \(properties.sorted())")
            let alwaysSent = Set(entry.minimal.filter { !($0.value is NSNull) }.keys)
            #expect(alwaysSent == required, "\(entry.schema): Swift always sends \(alwaysSent.sorted()), the document requires \(required.sorted())")
            // A body with only the required keys (as another client may send it) decodes.
            let bare = entry.full.filter { required.contains($0.key) }
            #expect(throws: Never.self, "\(entry.schema) does not decode from its required keys alone") {
                try entry.decodes(try JSONSerialization.data(withJSONObject: bare))
            }
        }
    }

    @Test("every object schema of the document refuses keys it does not name, and has a wire type here")
    func everyObjectIsClosedAndCovered() throws {
        let schemas = try Self.schemas()
        let covered = Set(try Self.entries().map(\.schema))
        for (name, schema) in schemas where schema["type"] as? String == "object" {
            #expect(schema["additionalProperties"] as? Bool == false, "\(name) lacks additionalProperties: false")
            #expect(covered.contains(name), "\(name) has no entry in WireContractTests")
        }
    }

    /// A request body written in place (`{ type: object }` for "no body or an
    /// empty object") is closed too: the server refuses any key in it.
    @Test("every request body the document writes in place is closed")
    func inlineBodiesAreClosed() throws {
        let paths = try #require(try Self.document()["paths"] as? [String: [String: Any]])
        var checked = 0
        for (path, operations) in paths {
            for (method, operation) in operations {
                guard let operation = operation as? [String: Any], let body = operation["requestBody"] as? [String: Any],
                      let content = body["content"] as? [String: Any], let json = content["application/json"] as? [String: Any],
                      let schema = json["schema"] as? [String: Any], schema["type"] as? String == "object" else { continue }
                checked += 1
                #expect(schema["additionalProperties"] as? Bool == false, "\(method.uppercased()) \(path): its body schema lacks additionalProperties: false")
            }
        }
        #expect(checked >= 3, "the in-place bodies: /v1/scopes, /v1/keys/list, /v1/roles/list")
    }

    /// The audit actions the server writes, found in its sources as `action: "…"`
    /// (and the soft or hard delete's `"purge"`), against the document's enum
    /// for `AuditEntry.action`: `POST /v1/audit` returns each of them.
    @Test("every audit action the server writes is in the document's enum for AuditEntry.action")
    func auditActionsAreDocumented() throws {
        let entry = try #require(try Self.schemas()["AuditEntry"])
        let action = try #require((entry["properties"] as? [String: Any])?["action"] as? [String: Any])
        let documented = Set(try #require(action["enum"] as? [String]))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var written: Set<String> = ["purge"]
        let pattern = try NSRegularExpression(pattern: #"action: "([a-z._]+)""#)
        for folder in ["Sources/SecretFillServer", "Sources/SecretFillWebUI"] {
            let directory = root.appendingPathComponent(folder)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    if let range = Range(match.range(at: 1), in: text) { written.insert(String(text[range])) }
                }
            }
        }
        #expect(written.count >= 15, "the scan found too few actions: \(written.sorted())")
        #expect(written.subtracting(documented).isEmpty, "written but not in the document: \(written.subtracting(documented).sorted())")
    }

    /// What the first test catches: a renamed optional field.
    @Test("a renamed optional field fails the comparison")
    func renamedOptionalFieldFails() throws {
        struct Renamed: Codable { var name: String; var grants: [String]; var expiry: Int? }
        let schema = try #require(try Self.schemas()["CreateKeyRequest"])
        let properties = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
        let sent = Set(try Self.object(Renamed(name: "k", grants: [], expiry: 1)).keys)
        #expect(sent != properties)
        #expect(sent.subtracting(properties) == ["expiry"])
    }
}
