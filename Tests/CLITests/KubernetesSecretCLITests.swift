import Foundation
import Testing

/// `render --k8s-secret` through the built binary.
@Suite("render --k8s-secret through the binary", .serialized)
struct KubernetesSecretCLITests {
    /// A fixed store key (not a secret: bytes 0…31), so the Secret names in the golden files are stable.
    static let fixedKey = Data((0..<32).map { UInt8($0) }).base64EncodedString()

    static let values: [String: String] = [
        "db_url": "postgres://app:pw@db:5432/app?sslmode=require",
        "db_password": "pw: #not-a-comment 'q'",
        "api_token": "tok_ABCDEFGHIJ",
        "smtp_password": "line one\nline \"two\" \\",
    ]

    static func setup(key: String = fixedKey, values: [String: String] = values) throws -> CLI {
        var cli = try CLI()
        cli.environment["SECRETFILL_KEY"] = key
        return try cli.initialise(team: values)
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("golden outputs: Deployment with an initContainer and two containers, a CronJob, a Pod in another namespace; CRLF kept",
          arguments: ["app", "crlf"])
    func golden(name: String) throws {
        let cli = try Self.setup()
        let input = CLI.fixture("k8s/\(name).yaml")
        let combined = cli.run(["render", input, "--k8s-secret", "app-secrets"])
        #expect(combined.status == 0, "\(combined.stderr)")
        #expect(combined.stderr.isEmpty)
        #expect(combined.stdout == CLI.bytes(CLI.fixture("k8s/\(name).k8s.yaml")), "\(combined.stdoutText)")

        let secrets = cli.path("secrets.yaml")
        let split = cli.run(["render", input, "--k8s-secret", "app-secrets", "--secret-out", secrets])
        #expect(split.status == 0, "\(split.stderr)")
        #expect(split.stdout == CLI.bytes(CLI.fixture("k8s/\(name).manifest.yaml")), "\(split.stdoutText)")
        #expect(CLI.bytes(secrets) == CLI.bytes(CLI.fixture("k8s/\(name).secrets.yaml")))
        #expect(CLI.mode(secrets) == 0o600)
        // The manifest followed by the Secrets is the combined output.
        #expect(split.stdout + CLI.bytes(secrets) == combined.stdout)
    }

    @Test("outside the changed entries the manifest equals the input byte for byte")
    func untouchedBytes() throws {
        let cli = try Self.setup()
        let input = CLI.bytes(CLI.fixture("k8s/app.yaml"))
        let outcome = cli.run(["render", CLI.fixture("k8s/app.yaml"), "--k8s-secret", "app-secrets", "--secret-out", cli.path("s.yaml")])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let before = input.split(separator: 0x0A, omittingEmptySubsequences: false).map { Self.text(Array($0)) }
        let after = outcome.stdout.split(separator: 0x0A, omittingEmptySubsequences: false).map { Self.text(Array($0)) }
        try #require(before.count == after.count)
        let reference = try Regex(#"value:\s+["']?secret:([A-Za-z0-9_]+)["']?"#)
        var changed = 0
        for (old, new) in zip(before, after) where old != new {
            changed += 1
            let match = try #require(old.firstMatch(of: reference), "a line without a reference changed: \(old)")
            let prefix = old[..<match.range.lowerBound], suffix = old[match.range.upperBound...]
            #expect(new.hasPrefix(prefix) && new.hasSuffix(suffix), "\(old) -> \(new)")
            let name = String(match.output[1].substring ?? "")
            let middle = new.dropFirst(prefix.count).dropLast(suffix.count)
            #expect(middle.hasPrefix("valueFrom: {secretKeyRef: {name: app-secrets-") && middle.hasSuffix(", key: \(name)}}"), "\(new)")
        }
        #expect(changed == 7)
    }

    @Test("kubectl kustomize reads back every reference and the values")
    func kustomize() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl") else {
            Issue.record("kubectl is not installed at /usr/bin/kubectl: this test cannot check that kustomize reads the output (install kubectl; CI has it)")
            return
        }
        let cli = try Self.setup()
        let folder = cli.directory.appendingPathComponent("kz")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let outcome = cli.run(["render", CLI.fixture("k8s/app.yaml"), "--k8s-secret", "app-secrets", "-o", folder.appendingPathComponent("all.yaml").path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        try "resources:\n- all.yaml\n".write(to: folder.appendingPathComponent("kustomization.yaml"), atomically: true, encoding: .utf8)
        let built = CLI.execute("/usr/bin/kubectl", ["kustomize", folder.path], environment: cli.environment, currentDirectory: cli.directory)
        #expect(built.status == 0, "\(built.stderr)")
        try Data(built.stdout).write(to: cli.directory.appendingPathComponent("built.yaml"))
        try Data(try JSONSerialization.data(withJSONObject: Self.values)).write(to: cli.directory.appendingPathComponent("values.json"))
        // Every container env entry the input made a reference now points at a Secret of its
        // namespace whose stringData holds exactly the value; no value is left in a container.
        let check = """
            import json, sys, yaml
            docs = [d for d in yaml.safe_load_all(open('built.yaml')) if d]
            values = json.load(open('values.json'))
            secrets = {(d['metadata'].get('namespace', ''), d['metadata']['name']): d['stringData'] for d in docs if d['kind'] == 'Secret'}
            refs = 0
            for d in docs:
                if d['kind'] == 'Secret': continue
                spec = d['spec']
                spec = spec['jobTemplate']['spec']['template']['spec'] if d['kind'] == 'CronJob' else spec.get('template', {}).get('spec', spec)
                for field in ('initContainers', 'containers'):
                    for c in spec.get(field, []):
                        for e in c.get('env', []):
                            assert 'secret:' not in str(e.get('value', '')), e
                            assert e.get('value') not in values.values(), e['name']
                            ref = e.get('valueFrom', {}).get('secretKeyRef')
                            if not ref: continue
                            refs += 1
                            data = secrets[(d['metadata'].get('namespace', ''), ref['name'])]
                            assert data[ref['key']] == values[ref['key']], ref
            for data in secrets.values():
                for k, v in data.items(): assert v == values[k], k
            print(refs, len(secrets))
            """
        let python = CLI.execute("/usr/bin/env", ["python3", "-c", check], environment: cli.environment, currentDirectory: cli.directory)
        #expect(python.status == 0, "\(python.stderr)")
        #expect(python.stdoutText == "7 2\n", "\(python.stdoutText)")
    }

    /// The Secret names the run emits, by namespace.
    static func secretNames(_ cli: CLI) throws -> [String: String] {
        let outcome = cli.run(["render", CLI.fixture("k8s/app.yaml"), "--k8s-secret", "app-secrets", "--secret-out", cli.path("s.yaml")])
        try #require(outcome.status == 0, "\(outcome.stderr)")
        var names: [String: String] = [:]
        var name = ""
        for line in Self.text(CLI.bytes(cli.path("s.yaml"))).split(separator: "\n") {
            if line.hasPrefix("  name: ") { name = String(line.dropFirst(8)) }
            if line.hasPrefix("  namespace: ") { names[String(line.dropFirst(13))] = name }
        }
        return names
    }

    @Test("the suffix is stable, changes when one of its namespace's values changes, and not otherwise")
    func suffix() throws {
        let cli = try Self.setup()
        let first = try Self.secretNames(cli)
        #expect(first.count == 2)
        #expect(try Self.secretNames(cli) == first)
        for (_, name) in first {
            let suffix = name.dropFirst("app-secrets-".count)
            #expect(suffix.count == 10 && suffix.allSatisfy { $0.isLowercase || $0.isNumber }, "\(name)")
        }
        // smtp_password is used only in prod: staging keeps its name.
        try cli.set(.team, "smtp_password", "another value")
        let second = try Self.secretNames(cli)
        #expect(second["prod"] != first["prod"])
        #expect(second["staging"] == first["staging"])
        // Setting it back restores the name; db_password is in both.
        try cli.set(.team, "smtp_password", Self.values["smtp_password"]!)
        #expect(try Self.secretNames(cli) == first)
        try cli.set(.team, "db_password", "changed")
        let third = try Self.secretNames(cli)
        #expect(third["prod"] != first["prod"] && third["staging"] != first["staging"])
        // Another store key gives other names for the same values.
        let other = try Self.setup(key: Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString())
        let foreign = try Self.secretNames(other)
        #expect(foreign["prod"] != first["prod"] && foreign["staging"] != first["staging"])
    }

    @Test("a reference outside a Kubernetes container env is an error at its place; nothing is written")
    func outsideContainerEnv() throws {
        let cli = try Self.setup()
        let manifest = cli.path("out.yaml"), secrets = cli.path("secrets.yaml")
        for spec in [CLI.fixture("k8s/paperspace-mixed.yaml"), CLI.fixture("gradient-workflow.yaml")] {
            let outcome = cli.run(["render", spec, "--k8s-secret", "app-secrets", "-o", manifest, "--secret-out", secrets])
            #expect(outcome.status == 1)
            #expect(outcome.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: manifest) && !FileManager.default.fileExists(atPath: secrets))
            #expect(outcome.stderr.contains("with --k8s-secret a reference must be the value of an env entry of a Kubernetes container"), "\(outcome.stderr)")
        }
        let mixed = cli.run(["render", CLI.fixture("k8s/paperspace-mixed.yaml"), "--k8s-secret", "app-secrets"])
        #expect(mixed.stderr.hasPrefix("\(CLI.fixture("k8s/paperspace-mixed.yaml")):13:10: error: "), "\(mixed.stderr)")
        #expect(mixed.stderr.split(separator: "\n").count == 1)
        // An entry with both value and valueFrom would get a second valueFrom: refused at the reference.
        let both = try String(contentsOfFile: CLI.fixture("k8s/crlf.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "      value: secret:api_token\r\n", with: "      value: secret:api_token\r\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\r\n")
        try both.write(toFile: cli.path("both.yaml"), atomically: true, encoding: .utf8)
        let twice = cli.run(["render", cli.path("both.yaml"), "--k8s-secret", "app-secrets"])
        #expect(twice.status == 1)
        #expect(twice.stdout.isEmpty)
        #expect(twice.stderr.hasPrefix("\(cli.path("both.yaml")):10:14: error: this env entry has both 'value' and 'valueFrom'"), "\(twice.stderr)")
        // Unknown references are listed as render lists them.
        let unknown = try Self.setup(values: ["api_token": "x-token-value"])
        let missing = unknown.run(["render", CLI.fixture("k8s/app.yaml"), "--k8s-secret", "app-secrets"])
        #expect(missing.status == 1)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderr.split(separator: "\n").count == 6, "\(missing.stderr)")
    }

    @Test("bad option combinations are usage errors")
    func usage() throws {
        let cli = try Self.setup()
        let input = CLI.fixture("k8s/app.yaml")
        #expect(cli.run(["render", input, "--secret-out", cli.path("s.yaml")]).status == 64)
        #expect(cli.run(["render", input, "--k8s-secret", "Bad_Name"]).status == 64)
        #expect(cli.run(["render", input, "--k8s-secret", "ok", "--secret-out", "-"]).status == 64)
        #expect(cli.run(["render", input, "--k8s-secret", "ok", "-o", cli.path("a"), "--secret-out", cli.path("a")]).status == 64)
        // A manifest without references needs no key and is passed through.
        let plain = cli.run(["render", CLI.fixture("k8s/app.yaml").replacingOccurrences(of: "app.yaml", with: "plain.yaml"), "--k8s-secret", "ok"],
                            removing: ["SECRETFILL_KEY"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout == CLI.bytes(CLI.fixture("k8s/plain.yaml")))
    }
}
