import SecretFill
import Testing

@Suite("Finding env blocks and references")
struct SpecScannerTests {
    @Test("list entries, indentless entries, flow entries, mappings and experimentEnv are all env blocks")
    func envBlockShapes() {
        let result = scan("""
            env:
            - name: A
              value: secret:a
            containers:
              - name: web
                env:
                  - {name: B, value: 'secret:b'}
                  - name: C
                    value: "secret:c"
            jobs:
              train:
                env:
                  D: secret:d
            experiment:
              experimentEnv: {E: secret:e}
            """)
        #expect(result.diagnostics.isEmpty)
        #expect(result.references.map(\.name) == ["a", "b", "c", "d", "e"])
        #expect(result.references.map(\.envName) == ["A", "B", "C", "D", "E"])
        #expect(result.envBlocks.count == 4)
        #expect(result.envBlocks[1].owner == "web")
        #expect(result.envBlocks[2].path == ["jobs", "train", "env"])
    }

    @Test("text that is not a whole env value is never a reference", arguments: [
        "env:\n- name: A\n  value: prefix secret:x\n",
        "env:\n- name: A\n  value: |\n    secret:x\n",
        "env:\n- name: A\n  value: >-\n    secret:x\n",
        "env:\n  secret:x: plain\n",
        "note: secret:x\n",
        "data:\n  env: secret:x\n",
        "env: secret:x\n",
        "env:\n- name: A\n  valueFrom: {secretKeyRef: {name: secret:x}}\n",
        "script: |\n  env:\n  - name: A\n    value: secret:x\n",
        "# value: secret:x\nenv: []\n",
    ])
    func notReferences(_ text: String) {
        let result = scan(text)
        #expect(result.references.isEmpty)
        #expect(result.diagnostics.isEmpty)
    }

    @Test("malformed references are errors at their position", arguments: [
        ("env:\n- name: A\n  value: 'secret:'\n", 3, 10),
        ("env:\n- name: A\n  value: secret:9lives\n", 3, 10),
        ("env:\n  A: 'secret:has space'\n", 2, 6),
        ("env:\n  A: \"secret:\(String(repeating: "x", count: 129))\"\n", 2, 6),
    ])
    func malformed(_ text: String, line: Int, column: Int) {
        let result = scan(text)
        #expect(result.references.isEmpty)
        #expect(result.diagnostics.map(\.code) == ["malformed-reference"])
        #expect(result.diagnostics.first?.location == SourceLocation(line: line, column: column))
    }

    @Test("columns count characters and byte ranges count bytes after non-ASCII text")
    func nonASCIIPositions() {
        let text = "# ünïcødé 日本語 🎉\nenv: {Ä: secret:a, ß: 'secret:b'}  # ü\nother:\n  env:\n  - {name: é, value: \"secret:c\"}\n"
        let bytes = Array(text.utf8)
        let result = SpecScanner().scan(bytes, file: "x")
        #expect(result.diagnostics.isEmpty)
        #expect(result.references.map(\.location) == [
            SourceLocation(line: 2, column: 10), SourceLocation(line: 2, column: 23), SourceLocation(line: 5, column: 22),
        ])
        let slices = result.references.map { String(decoding: bytes[$0.byteRange], as: UTF8.self) }
        #expect(slices == ["secret:a", "'secret:b'", "\"secret:c\""])
    }

    @Test("byte ranges stay exact when references fall at every position within and across 8- and 32-byte words")
    func byteRangesAcrossWords() {
        // Values of 0...70 characters mixing 1- to 4-byte characters shift each
        // following reference by a different number of bytes and characters.
        let alphabet = ["a", "é", "日", "🎉", " ", "ß"]
        var text = "env:\n"
        var expected: [String] = []
        for i in 0..<300 {
            let filler = (0..<(i % 71)).map { alphabet[($0 * 7 + i) % alphabet.count] }.joined()
            text += "- {name: F\(i), value: '\(filler)'}  # \(filler)\n"
            let reference = i % 3 == 0 ? "secret:n\(i)" : "\"secret:n\(i)\""
            text += "- {name: R\(i), value: \(reference)}\n"
            expected.append(reference)
        }
        let bytes = Array(text.utf8)
        let result = SpecScanner().scan(bytes, file: "x")
        #expect(result.diagnostics.isEmpty)
        #expect(result.references.map { String(decoding: bytes[$0.byteRange], as: UTF8.self) } == expected)
    }

    @Test("a UTF-8 byte order mark shifts byte offsets but not columns")
    func byteOrderMark() {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("é: 1\nenv: {A: secret:a}\n".utf8)
        let result = SpecScanner().scan(bytes, file: "x")
        #expect(result.references.first?.location == SourceLocation(line: 2, column: 10))
        #expect(result.references.first.map { String(decoding: bytes[$0.byteRange], as: UTF8.self) } == "secret:a")
    }

    @Test("UTF-16 and UTF-32 input is refused clearly, not spliced at wrong offsets")
    func foreignEncodings() {
        let utf16: [UInt8] = [0xFF, 0xFE] + Array("env: {}\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        let result = SpecScanner().scan(utf16, file: "x")
        #expect(result.diagnostics.map(\.code) == ["yaml-syntax"])
        #expect(result.diagnostics.first?.message.contains("UTF-16LE") == true)
    }

    @Test("an alias that reaches a reference is refused at the alias and at the reference")
    func aliasReachingReference() {
        let result = scan("""
            base: &common
              - name: A
                value: secret:a
            app:
              env: &shared
                - name: B
                  value: secret:b
            worker:
              env: *shared
            """)
        #expect(result.diagnostics.map(\.code).sorted() == ["alias-reaches-reference", "anchored-reference"])
        let alias = result.diagnostics.first { $0.code == "alias-reaches-reference" }
        #expect(alias?.location == SourceLocation(line: 9, column: 8))
        let anchored = result.diagnostics.first { $0.code == "anchored-reference" }
        #expect(anchored?.location == SourceLocation(line: 7, column: 14))
        #expect(anchored?.name == "b")
    }

    @Test("an alias to a secret: scalar in an env value is refused")
    func aliasToSecretText() {
        let result = scan("x: &pw secret:a\nenv:\n- name: A\n  value: *pw\n")
        #expect(result.diagnostics.map(\.code) == ["alias-reaches-reference"])
        #expect(result.diagnostics.first?.location == SourceLocation(line: 4, column: 10))
    }

    @Test("an alias that carries secret: text from outside env into an env block is refused", arguments: [
        "a: &x\n  - {name: A, value: secret:a}\nenv: *x\n",
        "a: &x {A: secret:a}\nenv:\n  <<: *x\n",
        "a: &x {name: A, value: secret:a}\nenv:\n- *x\n",
    ])
    func aliasCarryingSecretText(_ text: String) {
        #expect(scan(text).diagnostics.map(\.code) == ["alias-reaches-reference"])
    }

    @Test("anchors belong to their document, and a redefined anchor replaces the earlier one")
    func anchorScope() {
        // Document 1 anchors a reference; document 2 has no anchor of that name.
        let acrossDocuments = scan("env: &x\n- {name: A, value: secret:a}\n---\nother: *x\n")
        #expect(acrossDocuments.diagnostics.isEmpty)
        // Within one document the later anchor is the one an alias means.
        let redefined = scan("env: &x\n- {name: A, value: secret:a}\nb: &x plain\nc: *x\n")
        #expect(redefined.diagnostics.isEmpty)
        let reachesLater = scan("b: &x plain\nenv: &x\n- {name: A, value: secret:a}\nc: *x\n")
        #expect(reachesLater.diagnostics.map(\.code).sorted() == ["alias-reaches-reference", "anchored-reference"])
        #expect(reachesLater.diagnostics.first { $0.code == "alias-reaches-reference" }?.message.contains("'*x'") == true)
    }

    @Test("an anchored reference that nothing reuses is fine, and the anchor and tag stay outside the range")
    func anchoredUnused() {
        let text = "env:\n- name: A\n  value: &a !!str secret:a\n- name: B\n  value: !!str\n    'secret:b'\n"
        let bytes = Array(text.utf8)
        let result = SpecScanner().scan(bytes, file: "x")
        #expect(result.diagnostics.isEmpty)
        #expect(result.references.map { String(decoding: bytes[$0.byteRange], as: UTF8.self) } == ["secret:a", "'secret:b'"])
        #expect(result.references.map(\.location) == [SourceLocation(line: 3, column: 19), SourceLocation(line: 6, column: 5)])
    }

    @Test("a reference with a non-string tag is refused")
    func taggedReference() {
        let result = scan("env:\n- name: A\n  value: !!int secret:a\n")
        #expect(result.diagnostics.map(\.code) == ["tagged-reference"])
    }

    @Test("duplicates are found in blocks of thousands of names, and blocks never see each other's names")
    func duplicateNamesAtScale() {
        var text = "a:\n  env:\n"
        for i in 0..<3000 { text += "  - {name: N\(i), value: x}\n" }
        text += "  - {name: N1234, value: y}\n"
        // The same names again in a later block, and a small block after it.
        text += "b:\n  env:\n"
        for i in 0..<3000 { text += "  - {name: N\(i), value: x}\n" }
        text += "c:\n  env: {N0: a, N1: b, N0: c}\n"
        let result = scan(text, detail: .names)
        #expect(result.diagnostics.map(\.code) == ["duplicate-env-name", "duplicate-env-name"])
        #expect(result.diagnostics.map(\.location.line) == [3003, 6007])
        #expect(result.diagnostics.first?.message.contains("'N1234'") == true)
        #expect(result.diagnostics.first?.message.contains("first at 1237:") == true)
    }

    @Test("env, experimentEnv, name, value and << are recognized exactly, and keys that share their first and last bytes are not")
    func specialKeys() {
        let text = """
            env: [{name: A, value: secret:a}]
            experimentEnv: {B: secret:b}
            evv: [{name: C, value: secret:c}]
            experimentXnv: {D: secret:d}
            exXerimentEnv: {E: secret:e}
            other:
              env:
              - {nane: F, value: secret:f}
              - {name: G, vaXue: secret:g}
              - {name: H, value: secret:h}
              - {"<<": x, name: I, value: secret:i}
            quoted:
              env: {"<<": secret:m}
            """
        let result = scan(text)
        #expect(result.diagnostics.isEmpty)
        #expect(result.references.map(\.name) == ["a", "b", "f", "h", "i", "m"])
        #expect(result.references.map(\.envName) == ["A", "B", nil, "H", "I", "<<"])
        #expect(result.envBlocks.count == 4)
        #expect(result.envBlocks.allSatisfy { !$0.usesAlias })
    }

    @Test("the same env name twice in one block is reported at the second")
    func duplicateNames() {
        let result = scan("env:\n- name: A\n  value: x\n- name: A\n  value: y\nother:\n  env: {B: 1, B: 2}\n")
        #expect(result.diagnostics.map(\.code) == ["duplicate-env-name", "duplicate-env-name"])
        #expect(result.diagnostics.map(\.location.line) == [4, 7])
    }

    @Test("invalid YAML after a reference is reported with its position, and earlier problems too")
    func syntaxErrorAfterReference() {
        let result = scan("env:\n- name: A\n  value: \"secret:\"\n- name: B\n  value: \"unclosed\n")
        #expect(result.diagnostics.map(\.code) == ["malformed-reference", "yaml-syntax"])
        #expect(result.diagnostics.last?.location.line == 6)
    }

    @Test("nesting past the limit stops with a clear error instead of growing without bound")
    func depthLimit() {
        let text = String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
        let result = SpecScanner(limits: ScanLimits(maximumDepth: 1_000)).scan(Array(text.utf8), file: "x")
        #expect(result.diagnostics.map(\.code) == ["nesting-too-deep"])
    }

    @Test("with a focus, entries are kept only where the owner may be the one selected")
    func focus() {
        let text = "containers:\n- name: a\n  env: [{name: X, value: '1'}]\n- env: [{name: Y, value: '2'}]\n  name: b\n- name: b\n  env: [{name: Z, value: '3'}]\n"
        let result = SpecScanner(detail: .full, focus: "b").scan(Array(text.utf8), file: "x")
        #expect(result.envBlocks.map(\.owner) == ["a", "b", "b"])
        #expect(result.envBlocks.map { $0.entries.first?.value } == [nil, .text("2"), .text("3")])
    }

    @Test("with a focus, a block whose name comes after it is kept or dropped once the name is known (its duplicates too), and workflow blocks go by their path")
    func focusDecidedLate() {
        let text = """
            env: [{name: T, value: top}]
            containers:
            - env: [{name: W, value: other}, {name: W, value: again}]
              name: c
            - env: [{name: Y, value: mine}, {name: Y, value: twice}]
              name: b
            - name: a
              env: [{name: X, value: x}, {name: X, value: x}]
            ---
            defaults:
              name: shared
              env: {D: d}
            jobs:
              b:
                name: trainer
                env: {J: j}
              other:
                env: {O: o}
            """
        let result = SpecScanner(detail: .full, focus: "b").scan(Array(text.utf8), file: "x")
        #expect(result.envBlocks.map(\.owner) == [nil, "c", "b", "a", "shared", "trainer", nil])
        // The top-level block has no owner: only `--select ""` could pick it.
        #expect(result.envBlocks.map { $0.entries.compactMap(\.name) } == [[], [], ["Y", "Y"], [], ["D"], ["J"], []])
        let unnamed = SpecScanner(detail: .full, focus: "").scan(Array(text.utf8), file: "x")
        #expect(unnamed.envBlocks.map { $0.entries.compactMap(\.name) } == [["T"], [], [], [], ["D"], [], []])
        #expect(result.envBlocks[2].entries.map(\.value) == [.text("mine"), .text("twice")])
        // Duplicates are reported only in the blocks that are kept.
        #expect(result.diagnostics.map(\.code) == ["duplicate-env-name"])
        #expect(result.diagnostics.first?.location.line == 5)
        // A duplicate `name` key does not re-label a block whose entries were already settled.
        let twice = "c:\n  name: a\n  env: [{name: A, value: x}]\n  name: b\n"
        for (focus, kept) in [("a", ["A"]), ("b", [])] {
            let scanned = SpecScanner(detail: .full, focus: focus).scan(Array(twice.utf8), file: "x")
            #expect(scanned.envBlocks.map(\.owner) == ["a"])
            #expect(scanned.envBlocks.first?.entries.compactMap(\.name) == kept)
        }
        // Without a focus (check), every block's duplicates count.
        #expect(SpecScanner(detail: .names).scan(Array(text.utf8), file: "x").diagnostics.map(\.location.line) == [3, 5, 8])
    }

    @Test("inputs the fuzzer found keep the focus rule: a block keeps all its entries when the focus may select it, none otherwise",
          arguments: ["duplicate-name-beside-env.yaml", "empty-name-focus.yaml"])
    func fuzzFoundFocus(_ name: String) throws {
        let bytes = try Fixture.bytes("fuzz/render/\(name)")
        let full = SpecScanner(detail: .full).scan(bytes, file: name)
        let focus = try #require(full.envBlocks.lazy.compactMap(\.owner).first)
        let focused = SpecScanner(detail: .full, focus: focus).scan(bytes, file: name)
        #expect(focused.envBlocks.map(\.owner) == full.envBlocks.map(\.owner))
        for (f, b) in zip(focused.envBlocks, full.envBlocks) {
            // As EnvBlockSelector picks: jobs by path, defaults always, the rest by owner ("" for none).
            let isJob = b.path.count == 3 && b.path[0] == "jobs"
            let selectable = isJob ? b.path[1] == focus : (b.path.count == 2 && b.path[0] == "defaults") || (b.owner ?? "") == focus
            #expect(f.entries == (selectable ? b.entries : []))
        }
    }

    @Test("each referenced name is listed once, and references point at it by index")
    func namesInterned() {
        let result = scan("env:\n- {name: A, value: secret:x}\n- {name: B, value: secret:y}\n- {name: C, value: secret:x}\nenv2: {}\nk:\n  l:\n    m:\n      env: {D: secret:y}\n")
        #expect(result.secretNames == ["x", "y"])
        #expect(result.references.map(\.nameIndex) == [0, 1, 0, 1])
        #expect(result.references.allSatisfy { result.secretNames[$0.nameIndex] == $0.name })
        // Paths are recorded near the root only (where Gradient's blocks are).
        #expect(result.envBlocks.map(\.path) == [["env"], []])
    }

    @Test("values of env entries are kept as YAML loads them")
    func entryValues() {
        let result = scan("env:\n- name: A\n  value: ~\n- name: B\n  value: 'it''s'\n- name: C\n  value: [x]\n- name: D\n  valueFrom: {}\n- name: E\n  value: 5\n")
        let values = result.envBlocks.first?.entries.map(\.value)
        #expect(values == [.text(""), .text("it's"), .nonScalar, .absent, .text("5")])
    }
}
