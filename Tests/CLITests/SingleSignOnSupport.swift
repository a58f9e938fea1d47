import Foundation
import OIDCTestSupport
import SecretFillJWT
import Testing

/// The tests' own strict OpenID Connect provider (Tests/Providers/strict_oidc.py),
/// a process on a loopback port: it checks the client secret, the PKCE
/// verifier, the redirect URI and that a code is used once, and answers each
/// code with the ID token the test wrote for it.
final class StrictProvider: @unchecked Sendable {
    let process: Process
    let folder: URL
    let port: Int
    var issuer: String { "http://127.0.0.1:\(port)" }
    static let script = CLI.packageRoot.appendingPathComponent("Tests/Providers/strict_oidc.py").path

    private init(process: Process, folder: URL, port: Int) {
        self.process = process
        self.folder = folder
        self.port = port
    }

    static func start(clientID: String, secret: String, authMethods: [String] = ["client_secret_basic"], keys: [TestKey]) throws -> StrictProvider {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("strict-oidc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("codes"), withIntermediateDirectories: true)
        let config: [String: Any] = ["client_id": clientID, "client_secret": secret, "auth_methods": authMethods]
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        var lastFailure = "no attempt"
        for _ in 0..<5 {
            let port = try OpenBaoDev.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, String(port), folder.path]
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SECRETFILL_") }
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let provider = StrictProvider(process: process, folder: folder, port: port)
            provider.publish(keys)
            for _ in 0..<100 {
                if !process.isRunning { break }
                let probe = CLI.execute("/usr/bin/curl", ["-s", "-o", "-", "-w", "%{http_code}", "--max-time", "2",
                                                         provider.issuer + "/.well-known/openid-configuration"],
                                        environment: ProcessInfo.processInfo.environment)
                if probe.stdoutText.hasSuffix("200") { return provider }
                Thread.sleep(forTimeInterval: 0.1)
            }
            lastFailure = "strict_oidc.py on port \(port) did not answer"
            provider.stop()
        }
        throw TestFailure("the strict provider did not start: \(lastFailure)")
    }

    func publish(_ keys: [TestKey]) {
        let text = "{\"keys\":[" + keys.map(\.publicJWK).joined(separator: ",") + "]}"
        try? Data(text.utf8).write(to: folder.appendingPathComponent("jwks"), options: .atomic)
    }

    func setIssuer(_ issuer: String) throws {
        let path = folder.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as! [String: Any]
        config["issuer"] = issuer
        try JSONSerialization.data(withJSONObject: config).write(to: path)
    }

    /// What the token endpoint answers for `code`.
    func grant(code: String, idToken: String, challenge: String, redirectURI: String) throws {
        let grant = ["id_token": idToken, "challenge": challenge, "redirect_uri": redirectURI]
        try JSONSerialization.data(withJSONObject: grant).write(to: folder.appendingPathComponent("codes/\(code).json"))
    }

    var tokenLog: String { (try? String(contentsOf: folder.appendingPathComponent("token.log"), encoding: .utf8)) ?? "" }

    /// SIGKILL: a SIGTERM the test runner ignores is ignored by its children too, and python would not stop.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: folder)
    }
}

/// A browser's part of a sign-in, by hand (curl): cookies kept per name.
struct SignInBrowser {
    let server: TestServer
    var cookies: [String: String] = [:]

    struct Page {
        var status: Int
        var headers: [(String, String)]
        var body: String
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var setCookies: [String] { headers.filter { $0.0.lowercased() == "set-cookie" }.map(\.1) }
        /// Whether a non-empty session cookie was set.
        var setsSession: Bool { setCookies.contains { $0.hasPrefix("sf_session=") && !$0.hasPrefix("sf_session=;") } }
    }

    mutating func send(_ method: String, _ path: String, form: [(String, String)]? = nil) -> Page {
        var arguments = ["-s", "-i", "-X", method, "--max-time", "30", server.url + path]
        if !cookies.isEmpty {
            arguments += ["-H", "Cookie: " + cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")]
        }
        if let form { arguments += ["--data-binary", FormEncoding.encode(form), "-H", "Content-Type: application/x-www-form-urlencoded"] }
        let outcome = CLI.execute("/usr/bin/curl", arguments, environment: ProcessInfo.processInfo.environment)
        let text = outcome.stdoutText
        guard let split = text.range(of: "\r\n\r\n") else { return Page(status: -1, headers: [], body: outcome.stderr) }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? -1
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let page = Page(status: status, headers: headers, body: String(text[split.upperBound...]))
        for cookie in page.setCookies {
            let pair = cookie.prefix { $0 != ";" }
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<equals]), value = String(pair[pair.index(after: equals)...])
            if value.isEmpty || cookie.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
        return page
    }

    /// The provider's address the server sent the browser to, and its query.
    struct Started {
        var location: String
        var query: [String: String]
        var state: String { query["state"] ?? "" }
        var nonce: String { query["nonce"] ?? "" }
        var challenge: String { query["code_challenge"] ?? "" }
        var redirectURI: String { query["redirect_uri"] ?? "" }
    }

    /// Opens the sign-in page and presses "Sign in with …".
    mutating func start() throws -> Started {
        let home = send("GET", "/")
        try #require(home.status == 200, "the sign-in page: \(home.status)")
        let marker = #"name="csrf" value=""#
        let csrf = try #require(home.body.components(separatedBy: marker).dropFirst().first?.prefix { $0 != "\"" }, "no csrf field")
        let started = send("POST", "/ui/oidc/start", form: [("csrf", String(csrf))])
        try #require(started.status == 303, "start: \(started.status) \(started.body)")
        let location = try #require(started.header("Location"))
        let components = try #require(URLComponents(string: location))
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        return Started(location: location, query: query)
    }

    mutating func callback(_ query: [(String, String)]) -> Page {
        send("GET", "/ui/oidc/callback?" + FormEncoding.encode(query))
    }
}
