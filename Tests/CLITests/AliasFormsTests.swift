import Foundation
import Testing

/// Alias forms that once got past the alias check (issue 12.8): a merge
/// into an env entry, and an alias key standing for `value`. Each is an
/// error at the alias in check, render and env, and nothing is written.
@Suite("alias forms in env blocks")
struct AliasFormsTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var spec: String
        var location: String
        var message: String
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "- <<: *t where &t holds value: secret:c1",
             spec: "t: &t\n  value: secret:c1\nenv:\n- <<: *t\n  name: X\n", location: "4:7",
             message: "alias '*t' puts 'secret:' text (anchored at 1:4) into an env block; secretfill does not expand aliases, so write the reference out here"),
        Case(label: "- <<: [*t] (a merge list)",
             spec: "t: &t\n  value: secret:c1\nenv:\n- name: X\n  <<: [*t]\n", location: "5:8",
             message: "alias '*t' puts 'secret:' text (anchored at 1:4) into an env block; secretfill does not expand aliases, so write the reference out here"),
        Case(label: "<<: [*t] in an env mapping",
             spec: "t: &t {A: secret:c1}\nenv:\n  <<: [*t]\n", location: "3:8",
             message: "alias '*t' puts 'secret:' text (anchored at 1:4) into an env block; secretfill does not expand aliases, so write the reference out here"),
        Case(label: "*k : secret:c1 where &k is the scalar value",
             spec: "k: &k value\nenv:\n- name: X\n  *k : secret:c1\n", location: "4:3",
             message: "alias '*k' (anchored at 1:4) stands for the key 'value' of an env entry whose value is 'secret:' text; secretfill does not expand aliases, so write `value:` out here"),
        Case(label: "*k : 'secret:c1' in a flow entry",
             spec: "k: &k value\nenv:\n- {name: X, *k : 'secret:c1'}\n", location: "3:13",
             message: "alias '*k' (anchored at 1:4) stands for the key 'value' of an env entry whose value is 'secret:' text; secretfill does not expand aliases, so write `value:` out here"),
        Case(label: "*k : secret:c1 in an env mapping",
             spec: "k: &k DB_PASSWORD\nenv:\n  *k : secret:c1\n", location: "3:3",
             message: "alias '*k' (anchored at 1:4) is the name of an env entry whose value is 'secret:' text; secretfill does not expand aliases, so write the name out here"),
        Case(label: "an alias key whose anchor this document does not define",
             spec: "env:\n  *nope : secret:c1\n", location: "2:3",
             message: "alias '*nope' (not anchored in this document) is the name of an env entry whose value is 'secret:' text; secretfill does not expand aliases, so write the name out here"),
        Case(label: "*k : *s with both anchored",
             spec: "k: &k value\ns: &s secret:c1\nenv:\n- name: X\n  *k : *s\n", location: "5:8",
             message: "alias '*s' puts 'secret:' text (anchored at 2:4) into an env block; secretfill does not expand aliases, so write the reference out here"),
    ]

    @Test("each form is an error at the alias in check, render and env", arguments: cases)
    func refusedAtTheAlias(_ c: Case) throws {
        let cli = try CLI().initialise(team: ["c1": "CANARY-c1-value"])
        let spec = cli.path("s.yaml")
        try c.spec.write(toFile: spec, atomically: true, encoding: .utf8)
        let line = "\(spec):\(c.location): error: \(c.message)"
        let check = cli.run(["check", spec])
        #expect(check.status == 1)
        #expect(check.stdoutText.hasPrefix(line + "\n"))
        let render = cli.run(["render", spec])
        #expect(render.status == 1)
        #expect(render.stdout.isEmpty)
        #expect(render.stderr == line + "\n")
        let env = cli.run(["env", spec, "-o", cli.path("out.env")])
        #expect(env.status == 1)
        #expect(env.stderr.contains(line + "\n"))
        #expect(!FileManager.default.fileExists(atPath: cli.path("out.env")))
        for outcome in [check, render, env] { #expect(!outcome.allOutput.contains("CANARY")) }
    }

    @Test("without secret: text the same shapes render unchanged, and env refuses the block it cannot expand")
    func harmlessShapes() throws {
        let cli = try CLI().initialise()
        for text in ["t: &t\n  value: plain\nenv:\n- <<: *t\n  name: X\n", "k: &k value\nenv:\n- name: X\n  *k : plain\n",
                     "k: &k name\nenv:\n- *k : X\n  value: secret:c1\n"] {
            let spec = cli.path("h.yaml")
            try text.write(toFile: spec, atomically: true, encoding: .utf8)
            let check = cli.run(["check", spec])
            #expect(!check.stdoutText.contains("alias"), "\(text): \(check.stdoutText)")
            if !text.contains("secret:") {
                let render = cli.run(["render", spec])
                #expect(render.status == 0)
                #expect(render.stdoutText == text)
            }
            let env = cli.run(["env", spec])
            #expect(env.status == 1)
            #expect(env.stderr.contains("this env block takes entries through an alias or a merge key"))
        }
    }
}
