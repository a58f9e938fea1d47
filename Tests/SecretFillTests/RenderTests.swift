import Foundation
import SecretFill
import Testing

/// Values that break naive templating: typed-looking text, indicators,
/// quotes, escapes, whitespace, line breaks, controls and non-ASCII
/// (shared with the CLI suite through Fixtures/hostile-values.json).
let hostileValues: [String] = {
    let data = try! Data(contentsOf: Fixture.root.appendingPathComponent("hostile-values.json"))
    return try! JSONDecoder().decode([String].self, from: data)
}()

@Suite("Rendering specs")
struct RenderTests {
    @Test("double-quoted values load back exactly through libyaml", arguments: hostileValues)
    func quotedLoadsBack(_ value: String) {
        let text = "env:\n- name: A\n  value: \(YAMLDoubleQuoted.quote(value))  # after\n"
        let result = scan(text)
        #expect(result.diagnostics.isEmpty)
        #expect(result.envBlocks.first?.entries.first?.value == .text(value))
    }

    @Test("rendered fixtures match their golden files byte for byte", arguments: [
        "paperspace-deployment", "gradient-workflow", "kubernetes-multi",
    ])
    func golden(_ name: String) throws {
        let store = try Fixture.demoStore()
        let job = RenderJob(chain: ScopeChain(project: "pr-demo", cluster: "demo-cluster")) { _ throws(StoreError) -> any SecretStore in store }
        let input = try Fixture.bytes("\(name).yaml")
        let output = try job.run(SpecSource(label: name, bytes: input)).get().bytes
        #expect(output == (try Fixture.bytes("golden/\(name).rendered.yaml")))
    }

    @Test("every byte outside the references is unchanged and each reference loads as its value")
    func onlyReferencesChange() throws {
        let values = Dictionary(uniqueKeysWithValues: hostileValues.enumerated().map { ("v\($0.offset)", $0.element) })
        var text = "# ünï ✓ \r\nenv:\r\n"
        for index in hostileValues.indices { text += "- name: E\(index)   # ü\r\n  value:   secret:v\(index)   # keep\r\n" }
        let rendered = try render(text, store: MemoryStore(team: values)).get()
        let inputScan = scan(text)
        let outputScan = scan(rendered)
        #expect(outputScan.diagnostics.isEmpty)
        let loaded = outputScan.envBlocks[0].entries.map(\.value)
        #expect(loaded == hostileValues.map { .text($0) })
        // Remove each reference from the input and each value scalar from the output: what remains is equal.
        let inputBytes = Array(text.utf8)
        var stripped: [UInt8] = []
        var cursor = 0
        for reference in inputScan.references {
            stripped += inputBytes[cursor..<reference.byteRange.lowerBound]
            cursor = reference.byteRange.upperBound
        }
        stripped += inputBytes[cursor...]
        let outputText = rendered.replacingOccurrences(of: #"(?m)^  value:   "(?:[^"\\]|\\.)*""#, with: "  value:   ", options: .regularExpression)
        #expect(Array(outputText.utf8) == stripped)
    }

    @Test("a UTF-8 BOM and CRLF line endings survive rendering")
    func bomAndCRLF() throws {
        let input: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("a: é\r\nenv: {X: secret:x}\r\n".utf8)
        let store = MemoryStore(team: ["x": "v"])
        let job = RenderJob(chain: ScopeChain()) { _ throws(StoreError) -> any SecretStore in store }
        let output = try job.run(SpecSource(label: "x", bytes: input)).get().bytes
        #expect(output == [0xEF, 0xBB, 0xBF] + Array("a: é\r\nenv: {X: \"v\"}\r\n".utf8))
    }

    @Test("project beats cluster beats team")
    func precedence() throws {
        let store = MemoryStore(team: ["a": "team", "b": "team", "c": "team"],
                                project: ("p", ["a": "project"]), cluster: ("c", ["a": "cluster", "b": "cluster"]))
        let text = "env: {A: secret:a, B: secret:b, C: secret:c}\n"
        #expect(try render(text, store: store, chain: ScopeChain(project: "p", cluster: "c")).get()
            == "env: {A: \"project\", B: \"cluster\", C: \"team\"}\n")
        #expect(try render(text, store: store, chain: ScopeChain(cluster: "c")).get()
            == "env: {A: \"cluster\", B: \"cluster\", C: \"team\"}\n")
        #expect(try render(text, store: store).get() == "env: {A: \"team\", B: \"team\", C: \"team\"}\n")
    }

    @Test("only referenced values are opened, each once")
    func opensOnlyWhatIsUsed() throws {
        var team: [String: String] = [:]
        for i in 0..<500 { team["n\(i)"] = "value \(i)" }
        let store = MemoryStore(team: team)
        _ = try render("env: {A: secret:n7, B: secret:n7, C: secret:n42}\n", store: store).get()
        #expect(store.opened == ["n7", "n42"])
    }

    @Test("every unknown and malformed reference is listed, in order, and nothing is rendered")
    func failsClosed() throws {
        let text = "env:\n- {name: A, value: secret:known}\n- {name: B, value: secret:missing1}\n- {name: C, value: 'secret:'}\n- {name: D, value: secret:missing2}\n"
        let result = try render(text, store: MemoryStore(team: ["known": "CANARY-VALUE"]), chain: ScopeChain(project: "p"))
        guard case .failure(let problems) = result else {
            Issue.record("rendering should have failed")
            return
        }
        #expect(problems.diagnostics.map(\.formatted) == [
            "spec.yaml:3:20: error: unknown secret 'missing1' (looked in project p, team)",
            "spec.yaml:4:20: error: malformed secret reference 'secret:': it has no name after 'secret:'",
            "spec.yaml:5:20: error: unknown secret 'missing2' (looked in project p, team)",
        ])
        #expect(!problems.diagnostics.map(\.message).joined().contains("CANARY"))
    }

    @Test("a spec without references renders without opening any store")
    func noStoreNeeded() throws {
        let job = RenderJob(chain: ScopeChain()) { _ throws(StoreError) -> any SecretStore in throw .storeMissing(path: "/nowhere") }
        let text = "env:\n- name: A\n  value: plain\n"
        #expect(try job.run(SpecSource(label: "x", bytes: Array(text.utf8))).get().bytes == Array(text.utf8))
    }

    /// What `--server` relies on: the job scans once and hands the store
    /// opener exactly the names it will look up, so a team server answers them
    /// in one request and the command never scans the spec itself.
    @Test("render, env and exec ask the store once, for the names their one scan references")
    func openerIsToldTheNames() throws {
        let text = """
            kind: Deployment
            spec:
              containers:
              - name: api
                env:
                - name: A
                  value: secret:db_password
                - name: B
                  value: secret:api_key
                - name: C
                  value: secret:db_password
              - name: worker
                env:
                - name: W
                  value: secret:worker_token

            """
        var snapshot = ResolvedSecretSnapshot()
        for name in ["db_password", "api_key", "worker_token"] {
            snapshot.add(name, value: try SecretValue(validating: "value-of-\(name)"), from: .team)
        }
        let source = SpecSource(label: "spec.yaml", bytes: Array(text.utf8))
        final class Asked: @unchecked Sendable { var names: [[String]] = [] }

        let rendered = Asked()
        _ = try RenderJob(chain: ScopeChain()) { names throws(StoreError) -> any SecretStore in
            rendered.names.append(names)
            return snapshot
        }.run(source).get()
        #expect(rendered.names == [["db_password", "api_key", "worker_token"]])

        let env = Asked()
        _ = try EnvJob(chain: ScopeChain(), format: .dotenv, select: "worker") { names throws(StoreError) -> any SecretStore in
            env.names.append(names)
            return snapshot
        }.run(source).get()
        #expect(env.names == [["worker_token"]])

        let exec = Asked()
        _ = try ExecJob(chain: ScopeChain(), select: "api", pristine: true) { names throws(StoreError) -> any SecretStore in
            exec.names.append(names)
            return snapshot
        }.plan(source, parent: []).get()
        #expect(exec.names == [["db_password", "api_key"]])
    }

    @Test("secret values never describe themselves")
    func redactedValue() throws {
        let value = try SecretValue(validating: "CANARY-123")
        var dumped = ""
        dump(value, to: &dumped)
        #expect("\(value)" == "<redacted>")
        #expect(String(reflecting: value) == "<redacted>")
        #expect(!dumped.contains("CANARY"))
        #expect(!"\([value])".contains("CANARY"))
    }
}
