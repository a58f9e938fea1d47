import Foundation
import Testing

/// Runs the built `secretfill` binary as a user would, capturing everything.
struct CLI {
    struct Outcome {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        /// Both streams together, for "never contains" assertions.
        var allOutput: String { stdoutText + stderr }
    }

    /// The package root, found from this file so tests run from any folder.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let fixtures = packageRoot.appendingPathComponent("Fixtures")

    /// Set by scripts/sanitize.sh: memory bounds do not hold under AddressSanitizer.
    static let underSanitizer = ProcessInfo.processInfo.environment["SECRETFILL_SANITIZER"] != nil

    /// The binary SwiftPM built next to this test bundle.
    static let binary: URL = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("secretfill"),
            Bundle.main.bundleURL.appendingPathComponent("secretfill"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("secretfill"),
            packageRoot.appendingPathComponent(".build/debug/secretfill"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
    }()

    /// A fresh store folder with its own key, isolated from the user's.
    let directory: URL
    let key: String
    var environment: [String: String]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        ScratchFolders.removeAtExit(directory.path)
        key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": directory.path,
            "XDG_CONFIG_HOME": directory.appendingPathComponent("config").path,
            "SECRETFILL_STORE": directory.appendingPathComponent("store.json").path,
            "SECRETFILL_KEY": key,
        ]
    }

    var storePath: String { environment["SECRETFILL_STORE"]! }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Creates the store (with SECRETFILL_KEY) and sets `secrets` in team scope.
    @discardableResult
    func initialise(team secrets: [String: String] = [:]) throws -> CLI {
        let outcome = run(["init"])
        try #require(outcome.status == 0, "init failed: \(outcome.stderr)")
        for (name, value) in secrets.sorted(by: { $0.key < $1.key }) {
            try set(.team, name, value)
        }
        return self
    }

    enum ScopeArg { case team, project(String), cluster(String) }

    func set(_ scope: ScopeArg, _ name: String, _ value: String) throws {
        var args = ["secrets", "set"]
        switch scope {
        case .team: args += ["team"]
        case .project(let id): args += ["project", "--id", id]
        case .cluster(let id): args += ["cluster", "--id", id]
        }
        let outcome = run(args + ["--name", name, "--value-stdin"], stdin: Array((value + "\n").utf8))
        try #require(outcome.status == 0, "set \(name) failed: \(outcome.stderr)")
    }

    func run(_ arguments: [String], stdin: [UInt8]? = nil, environment extra: [String: String] = [:],
             removing: [String] = [], currentDirectory: URL? = nil) -> Outcome {
        var env = environment.merging(extra) { $1 }
        for name in removing { env.removeValue(forKey: name) }
        return CLI.execute(CLI.binary.path, arguments, stdin: stdin, environment: env, currentDirectory: currentDirectory ?? directory)
    }

    /// `execute` on a thread of its own, not one of Swift's cooperative
    /// threads: an async test waiting for a long run (a browser flow) leaves
    /// both of them to the in-process servers of the tests beside it.
    static func executeOffPool(_ program: String, _ arguments: [String], environment: [String: String]) async -> Outcome {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: execute(program, arguments, environment: environment))
            }
        }
    }

    /// Runs any program, feeding stdin and draining both pipes concurrently.
    static func execute(_ program: String, _ arguments: [String], stdin: [UInt8]? = nil,
                        environment: [String: String], currentDirectory: URL? = nil) -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = environment
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            return Outcome(status: -1, stdout: [], stderr: "could not start \(program): \(error)")
        }
        let group = DispatchGroup()
        nonisolated(unsafe) var out = Data()
        nonisolated(unsafe) var err = Data()
        DispatchQueue.global().async(group: group) { out = output.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { err = errors.fileHandleForReading.readDataToEndOfFile() }
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin))
            try? input.fileHandleForWriting.close()
        }
        group.wait()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: Array(out), stderr: String(decoding: err, as: UTF8.self))
    }

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    static func bytes(_ path: String) -> [UInt8] {
        (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
    }

    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
    }
}

/// Every test's private folder, removed when the test process ends (a test
/// may hand its folder to a server still running in the background, so they
/// are not removed one by one).
enum ScratchFolders {
    nonisolated(unsafe) private static var folders: [String] = []
    private static let lock = NSLock()
    private static let registered: Void = { atexit { ScratchFolders.removeAll() } }()

    static func removeAtExit(_ path: String) {
        _ = registered
        lock.lock()
        folders.append(path)
        lock.unlock()
    }

    private static func removeAll() {
        lock.lock()
        let all = folders
        lock.unlock()
        for folder in all { try? FileManager.default.removeItem(atPath: folder) }
    }
}

extension FileHandle {
    /// Hands each chunk read from this pipe to `append` (on libdispatch's queue), and
    /// removes the handler at end of file.
    ///
    /// A handler left installed after end of file is called again and again with no
    /// data, and the pipe's descriptor is later closed under the still-armed dispatch
    /// source: a CI run crashed with signal 11 in `_dispatch_event_loop_drain` while
    /// such handlers were left behind. Owners also call `stopCollecting()` when they go
    /// away before end of file (a killed server whose child may still hold the pipe).
    func collect(_ append: @escaping @Sendable (Data) -> Void) {
        readabilityHandler = { handle in
            let chunk = handle.availableData
            guard !chunk.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            append(chunk)
        }
    }

    /// Removes the handler `collect` installed, if end of file has not already.
    func stopCollecting() {
        readabilityHandler = nil
    }
}

extension Process {
    /// `stopCollecting()` on the pipes of its standard output and error.
    func stopCollectingOutput() {
        (standardOutput as? Pipe)?.fileHandleForReading.stopCollecting()
        (standardError as? Pipe)?.fileHandleForReading.stopCollecting()
    }
}
