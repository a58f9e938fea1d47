import Foundation
import Testing

/// Issue 28, item 5: contrib/secretfill.service as systemd reads it.
@Suite("systemd unit (issue 28)")
struct SystemdUnitTests {
    static let unit = CLI.packageRoot.appendingPathComponent("contrib/secretfill.service").path
    static let analyze = "/usr/bin/systemd-analyze"

    /// `systemd-analyze verify` on a copy of the unit whose ExecStart names
    /// `program` (verify wants the program to exist): exit status and every line it printed.
    static func verify(_ text: String, in folder: String) throws -> (status: Int32, lines: [String]) {
        let copy = folder + "/secretfill.service"
        try text.write(toFile: copy, atomically: true, encoding: .utf8)
        // --man=no: the unit's Documentation=man:secretfill(1) is checked with `man`, and the page
        // (scripts/man.sh) is not installed where the tests run; every other check stays on.
        let outcome = CLI.execute(analyze, ["verify", "--man=no", copy], environment: ProcessInfo.processInfo.environment)
        let lines = (outcome.stdoutText + "\n" + outcome.stderr).split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return (outcome.status, lines)
    }

    static func withBuiltProgram(_ text: String) -> String {
        text.replacingOccurrences(of: "/usr/local/bin/secretfill", with: CLI.binary.path)
    }

    @Test("systemd-analyze verify reports nothing: no unknown or unparsable directive, ExecStart names the built program")
    func verifiesClean() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.analyze), "systemd-analyze is needed for this test")
        let cli = try CLI()
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        #expect(text.contains("ExecStart=/usr/local/bin/secretfill serve"), "the unit names the installed program")
        let clean = try Self.verify(Self.withBuiltProgram(text), in: cli.directory.path)
        #expect(clean.status == 0 && clean.lines.isEmpty, "systemd-analyze verify: \(clean.lines.joined(separator: "\n"))")

        // The check would catch a mistake: an unknown key, a bad value and a missing program each print a line.
        let broken = try Self.verify(Self.withBuiltProgram(text).replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystem=strictest\nProtectSystems=yes"),
                                     in: cli.directory.path)
        #expect(broken.lines.contains { $0.contains("Unknown key") && $0.contains("ProtectSystems") }, "\(broken.lines)")
        #expect(broken.lines.contains { $0.contains("Failed to parse") && $0.contains("strictest") }, "\(broken.lines)")
        let missing = try Self.verify(text.replacingOccurrences(of: "/usr/local/bin/secretfill", with: cli.path("no-such-program")), in: cli.directory.path)
        #expect(missing.status != 0 && missing.lines.contains { $0.contains("is not executable") }, "\(missing.lines)")
    }

    @Test("the unit has what issue 28 asks: its own user, state directory, key as a credential, hardening, reload by SIGHUP")
    func directives() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        let lines = Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        for expected in ["User=secretfill", "StateDirectory=secretfill", "StateDirectoryMode=0700",
                         "LoadCredential=key:/etc/secretfill/key", "Environment=SECRETFILL_KEY_FILE=%d/key",
                         "Environment=SECRETFILL_DATABASE_URL=sqlite:/var/lib/secretfill/server.db",
                         "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                         "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service", "CapabilityBoundingSet=",
                         "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure"] {
            #expect(lines.contains(expected), "contrib/secretfill.service lacks \(expected)")
        }
        #expect(!text.contains("SECRETFILL_KEY="), "the key itself never goes in the unit")
    }

    @Test("MemoryDenyWriteExecute holds for the built program: no executable stack, no writable and executable segment")
    func noWritableExecutableMemory() throws {
        let outcome = CLI.execute("/usr/bin/readelf", ["-lW", CLI.binary.path], environment: ProcessInfo.processInfo.environment)
        try #require(outcome.status == 0, "readelf: \(outcome.stderr)")
        let segments = outcome.stdoutText.split(separator: "\n").filter { $0.contains("LOAD") || $0.contains("GNU_STACK") }
        #expect(segments.contains { $0.contains("GNU_STACK") }, "\(outcome.stdoutText)")
        for segment in segments {
            // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align, Flg being "R E", "RW " and the like.
            let fields = segment.split(separator: " ")
            let flags = fields.count > 7 ? fields[6..<(fields.count - 1)].joined() : ""
            #expect(!(flags.contains("W") && flags.contains("E")), "writable and executable: \(segment)")
        }
    }
}
