import Foundation
import Testing

/// The PostgreSQL the server tests use: `SECRETFILL_TEST_DATABASE_URL`
/// (scripts/test.sh starts one and sets it), else a cluster this process
/// starts with scripts/postgres.sh and stops at exit. If neither works the
/// PostgreSQL tests fail loudly; they never pass by skipping.
enum TestPostgres {
    nonisolated(unsafe) static var startedDirectory: String?

    static let baseURL: Result<String, PostgresUnavailable> = {
        if let url = ProcessInfo.processInfo.environment["SECRETFILL_TEST_DATABASE_URL"], !url.isEmpty { return .success(url) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-test-pg-\(UUID().uuidString)").path
        let outcome = CLI.execute("/bin/bash", [CLI.packageRoot.appendingPathComponent("scripts/postgres.sh").path, "start", directory],
                                  environment: ProcessInfo.processInfo.environment)
        guard outcome.status == 0 else {
            return .failure(PostgresUnavailable(detail: "scripts/postgres.sh start failed (\(outcome.status)): \(outcome.stderr)"))
        }
        startedDirectory = directory
        atexit {
            if let directory = TestPostgres.startedDirectory {
                _ = CLI.execute("/bin/bash", [CLI.packageRoot.appendingPathComponent("scripts/postgres.sh").path, "stop", directory],
                                environment: ProcessInfo.processInfo.environment)
            }
        }
        return .success(outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
    }()

    struct PostgresUnavailable: Error, CustomStringConvertible {
        let detail: String
        var description: String { "PostgreSQL is needed for the server tests and is not available: \(detail)" }
    }

    /// A new, empty database on the test cluster, for one test.
    static func freshDatabase() throws -> String {
        let base = try baseURL.get()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let outcome = CLI.execute("/usr/bin/psql", [base, "-v", "ON_ERROR_STOP=1", "-q", "-c", "CREATE DATABASE \(name)"],
                                  environment: ProcessInfo.processInfo.environment)
        try #require(outcome.status == 0, "CREATE DATABASE failed: \(outcome.stderr)")
        return base.replacingOccurrences(of: "/secretfill", with: "/\(name)")
    }

    static func psql(_ url: String, _ sql: String) -> CLI.Outcome {
        CLI.execute("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-c", sql], environment: ProcessInfo.processInfo.environment)
    }
}

/// Which database a server test runs on.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case postgres, sqlite
    var testDescription: String { rawValue }

    func freshURL(in cli: CLI) throws -> String {
        switch self {
        case .postgres: try TestPostgres.freshDatabase()
        case .sqlite: "sqlite:" + cli.path("server-\(UUID().uuidString.prefix(8)).db")
        }
    }
}

/// A `secretfill serve` process on a free loopback port, its stderr kept.
final class TestServer: @unchecked Sendable {
    let process: Process
    private let lock = NSLock()
    private var collected = Data()
    private(set) var url = ""
    let databaseURL: String

    /// Starts the server and waits until /healthz answers 200.
    init(cli: CLI, database: String, arguments extra: [String] = [], environment: [String: String] = [:], waitHealthy: Bool = true) throws {
        databaseURL = database
        process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--database", database, "--listen", "127.0.0.1:0", "--log-level", "trace"] + extra
        process.environment = cli.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        errors.fileHandleForReading.collect { [weak self] chunk in
            guard let self else { return }
            self.lock.lock(); self.collected.append(chunk); self.lock.unlock()
        }
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let range = log.range(of: "serving on http://") {
                let rest = log[range.upperBound...]
                let address = rest.prefix { !$0.isWhitespace }
                url = "http://" + address
                break
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(!url.isEmpty, "serve did not start: \(log)")
        if waitHealthy {
            while Date() < deadline {
                if health().status == 200 { return }
                Thread.sleep(forTimeInterval: 0.1)
            }
            Issue.record("serve never became healthy: \(log)")
        }
    }

    var log: String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: collected, as: UTF8.self)
    }

    struct Answer {
        var status: Int
        var body: String
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
    }

    func health() -> Answer { request("GET", "/healthz", body: nil, token: nil) }

    /// One request with curl; the body is given as bytes on stdin.
    func request(_ method: String, _ path: String, body: [UInt8]?, token: String?) -> Answer {
        var arguments = ["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "15", url + path]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if body != nil { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        let outcome = CLI.execute("/usr/bin/curl", arguments, stdin: body, environment: ProcessInfo.processInfo.environment)
        let text = outcome.stdoutText
        guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]) else {
            return Answer(status: -1, body: outcome.stderr)
        }
        return Answer(status: status, body: String(text[..<newline]))
    }

    func post(_ path: String, _ json: String, token: String?) -> Answer {
        request("POST", path, body: Array(json.utf8), token: token)
    }

    /// SIGTERM, then the exit status (nil if it did not exit within `seconds`).
    @discardableResult
    func stop(seconds: Double = 15) -> Int32? {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.stopCollectingOutput()
    }
}

extension CLI {
    /// `keys create NAME --grant … --database URL`: the token, straight from the database.
    func createKeyDirect(_ name: String, grants: [String], database: String, expires: String? = nil) throws -> String {
        var arguments = ["keys", "create", name, "--database", database]
        for grant in grants { arguments += ["--grant", grant] }
        if let expires { arguments += ["--expires", expires] }
        let outcome = run(arguments)
        try #require(outcome.status == 0, "keys create failed: \(outcome.stderr)")
        return outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The same CLI pointed at a server with a token.
    func remote(_ server: TestServer, token: String) -> CLI {
        var copy = self
        copy.environment["SECRETFILL_SERVER"] = server.url
        copy.environment["SECRETFILL_TOKEN"] = token
        return copy
    }
}
