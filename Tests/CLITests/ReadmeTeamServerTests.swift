import Foundation
import Testing

/// README's *Team server* section, followed literally: its `sh` blocks run
/// in order in one shell, in a fresh HOME with no SECRETFILL_* variables,
/// with the built `secretfill` first on PATH. Only the port is changed (a
/// free one for 8470), so the test can run beside others.
@Suite("README's Team server section, run as written")
struct ReadmeTeamServerTests {
    static func section(_ readme: String, _ heading: String) -> String {
        guard let start = readme.range(of: "\n## \(heading)\n") else { return "" }
        let rest = readme[start.upperBound...]
        let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    /// The bodies of the ```sh blocks, in order.
    static func shellBlocks(_ text: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```sh" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        return blocks
    }

    static func freePort() -> Int {
        let outcome = CLI.execute("/usr/bin/env", ["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"],
                                  environment: ProcessInfo.processInfo.environment)
        return Int(outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    @Test("every sh block of README's Team server section, in order, in a fresh HOME on SQLite: each command succeeds and does what the text says")
    func teamServerSection() throws {
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = Self.shellBlocks(Self.section(readme, "Team server"))
        try #require(blocks.count >= 2, "the section has its sh blocks")
        let port = Self.freePort()
        try #require(port > 0)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-readme-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let body = blocks.joined(separator: "\n").replacingOccurrences(of: "8470", with: String(port))
        // Every command must succeed; the server started in the background is stopped whatever happens.
        let script = "set -euo pipefail\ncd \"$HOME\"\ntrap 'kill $(jobs -p) 2>&1 || true' EXIT\nset -x\n" + body + "\n"
        let bin = CLI.binary.deletingLastPathComponent().path
        let environment = [
            "HOME": home.path,
            "PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        ]
        let outcome = CLI.execute("/bin/bash", ["-c", script], environment: environment)
        #expect(outcome.status == 0, "\(outcome.stdoutText)\n--- stderr ---\n\(outcome.stderr)")
        let out = outcome.stdoutText
        #expect(out.contains("Created key \(home.path)/.config/secretfill/key"), "\(out)")
        #expect(out.contains("ok"), "healthz answered")
        #expect(out.contains("alice") && out.contains("ci-pr-1"), "keys list names both keys: \(out)")
        #expect(out.contains("Set team secret 'db_password'") && out.contains("Set cluster cl-1 secret 'kube_token'"), "\(out)")
        #expect(out.contains("Deleted team secret 'db_password'"), "\(out)")
        #expect(out.contains("api_key"), "which answered for CI: \(out)")
        #expect(out.contains("Revoked key 'ci-pr-1'"), "\(out)")
        #expect(out.contains("  set  ok  team  db_password  "), "the audit log lists alice's writes: \(out)")
        let database = home.path + "/.config/secretfill/server.db"
        #expect(CLI.mode(database) == 0o600, "server.db is 0600")
    }
}
