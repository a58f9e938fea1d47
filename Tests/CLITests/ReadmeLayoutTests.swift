import Foundation
import Testing

/// README's *Development* layout names every folder of `Sources/` and
/// `Tests/` (issue 22, item 7): a target added without its line fails here.
@Suite("README's layout")
struct ReadmeLayoutTests {
    @Test("every folder under Sources/ and Tests/ has its line in README's Development layout")
    func everyFolderIsListed() throws {
        let root = CLI.packageRoot
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "\n## Development\n"), "README has no Development section")
        let rest = readme[start.upperBound...]
        let open = try #require(rest.range(of: "```\n"))
        let close = try #require(rest[open.upperBound...].range(of: "\n```"))
        let lines = rest[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
        var folders: [String] = []
        for parent in ["Sources", "Tests"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(parent).path)
            for name in names.sorted() {
                var isFolder: ObjCBool = false
                if FileManager.default.fileExists(atPath: root.appendingPathComponent("\(parent)/\(name)").path, isDirectory: &isFolder), isFolder.boolValue {
                    folders.append("\(parent)/\(name)/")
                }
            }
        }
        #expect(folders.count >= 15, "\(folders)")
        for folder in folders {
            #expect(lines.contains { $0.hasPrefix(folder + " ") }, "README's Development layout has no line for \(folder)")
        }
    }
}
