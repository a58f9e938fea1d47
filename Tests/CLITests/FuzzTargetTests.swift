import Foundation
import Testing

/// The fuzz targets compile from a hand-kept list of library files
/// (scripts/fuzz.sh); a change to the library can break one silently.
@Suite("Fuzz targets")
struct FuzzTargetTests {
    @Test("every fuzz target still compiles", arguments: ["render", "store", "import"])
    func compiles(_ target: String) {
        let outcome = CLI.execute("/bin/bash", [CLI.packageRoot.appendingPathComponent("scripts/fuzz.sh").path, "--typecheck", target],
                                  environment: ProcessInfo.processInfo.environment, currentDirectory: CLI.packageRoot)
        #expect(outcome.status == 0, "scripts/fuzz.sh --typecheck \(target):\n\(outcome.stderr)\(outcome.stdoutText)")
    }
}
