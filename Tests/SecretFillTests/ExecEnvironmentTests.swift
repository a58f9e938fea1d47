import Foundation
import Testing
@testable import SecretFill

@Suite("exec's child environment and command lookup")
struct ExecEnvironmentTests {
    static func entries(_ pairs: [String]) -> [[UInt8]] { pairs.map { Array($0.utf8) } }
    static func variable(_ name: String, _ value: String) -> EnvVariable {
        EnvVariable(name: name, value: value, location: SourceLocation(line: 1, column: 1))
    }

    @Test("credentials are dropped, the block wins, the parent's order and bytes are kept")
    func inherited() {
        var parent = Self.entries(["PATH=/bin", "SECRETFILL_KEY=k", "A=parent", "SECRETFILL_KEY_FILE=/k", "SECRETFILL_TOKEN=t", "SECRETFILL_TOKEN_FILE=/t", "A=second", "NOEQUALS"])
        parent.append([0x42, 0x3D, 0xFF, 0xFE]) // B=<invalid UTF-8>, passed as it is
        let environment = ExecEnvironment(parent: parent, block: [Self.variable("A", "block"), Self.variable("C", "c")], pristine: false)
        #expect(environment.entries == Self.entries(["PATH=/bin"]) + [[0x42, 0x3D, 0xFF, 0xFE]] + Self.entries(["A=block", "C=c"]))
        #expect(environment.value(of: "A") == "block")
        #expect(environment.value(of: "SECRETFILL_KEY") == nil && environment.value(of: "SECRETFILL_TOKEN_FILE") == nil)
        // A block may pass a credential on purpose.
        let asked = ExecEnvironment(parent: parent, block: [Self.variable("SECRETFILL_TOKEN", "for-the-child")], pristine: false)
        #expect(asked.value(of: "SECRETFILL_TOKEN") == "for-the-child")
        #expect(!"\(environment)".contains("block") && "\(environment)".contains("A"))
    }

    @Test("--pristine keeps only its list from the parent")
    func pristine() {
        let parent = Self.entries(["PATH=/bin", "HOME=/h", "OTHER=x", "TZ=UTC", "SECRETFILL_KEY=k", "LC_ALL=C", "LC_CTYPE=C"])
        let environment = ExecEnvironment(parent: parent, block: [Self.variable("V", "v")], pristine: true)
        #expect(environment.names == ["PATH", "HOME", "TZ", "LC_ALL", "V"])
    }

    @Test("refusals: empty name, '=', NUL, and the 128 KiB string limit counted as the kernel counts it")
    func refusals() {
        #expect(ExecEnvironment.refusal(for: Self.variable("", "x")) != nil)
        #expect(ExecEnvironment.refusal(for: Self.variable("A=B", "x"))?.contains("'='") == true)
        #expect(ExecEnvironment.refusal(for: Self.variable("A", "a\u{0}b"))?.contains("NUL") == true)
        // "N=" + value + NUL must fit in 131072 bytes.
        let fits = String(repeating: "x", count: 128 * 1024 - 3)
        #expect(ExecEnvironment.refusal(for: Self.variable("N", fits)) == nil)
        let over = ExecEnvironment.refusal(for: Self.variable("N", fits + "x"))
        #expect(over?.contains("131073 bytes") == true)
        #expect(over?.contains("xxxx") == false)
    }

    @Test("PATH lookup: 127 when nothing is found, 126 when only a non-executable is, the first executable wins")
    func lookup() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-exec-lookup-\(UUID().uuidString)").path
        mkdir(folder, 0o700)
        defer { _ = unlink(folder + "/tool"); _ = unlink(folder + "/plain"); rmdir(folder) }
        for (name, mode) in [("tool", mode_t(0o755)), ("plain", mode_t(0o644))] {
            let fd = open(folder + "/" + name, O_WRONLY | O_CREAT, mode)
            close(fd)
            chmod(folder + "/" + name, mode)
        }
        #expect(try CommandLocator.locate("tool", searchPath: folder + "/missing-folder:" + folder).get() == folder + "/tool")
        #expect(CommandLocator.locate("missing-zz9", searchPath: folder) == .failure(.notFound(command: "missing-zz9")))
        #expect(CommandLocator.locate("plain", searchPath: folder).failureStatus == 126)
        #expect(CommandLocator.locate(folder, searchPath: nil).failureStatus == 126)
        #expect(CommandLocator.locate(folder + "/nope", searchPath: nil).failureStatus == 127)
        #expect(CommandLocator.locate("", searchPath: folder).failureStatus == 127)
        #expect(ProcessLauncher.exitStatus(3 << 8) == 3)
        #expect(ProcessLauncher.exitStatus(15) == 143)
    }
}

extension Result where Failure == ExecError {
    var failureStatus: Int32? {
        if case .failure(let error) = self { return error.exitStatus }
        return nil
    }
}
