import Foundation
import Testing

/// Issue 28, item 4: SIGHUP makes `serve` read `--tls-cert` and `--tls-key`
/// again. New connections get the new pair, a connection already open keeps
/// working, a broken pair is refused in the log and the old one kept; without
/// TLS, SIGHUP is logged and the server goes on.
@Suite("Certificate reload on SIGHUP (issue 28)", .serialized)
struct CertificateReloadTests {
    /// `serve` with its stderr collected, started through `launcher` (a
    /// program and its first arguments) when given.
    final class Server: @unchecked Sendable {
        let process = Process()
        private let lock = NSLock()
        private var collected = Data()
        private(set) var port = 0

        init(cli: CLI, arguments: [String], scheme: String, launcher: [String] = []) throws {
            let serve = [CLI.binary.path, "serve", "--database", "sqlite:" + cli.path("server-\(UUID().uuidString.prefix(8)).db"),
                         "--listen", "127.0.0.1:0", "--log-level", "info"] + arguments
            process.executableURL = URL(fileURLWithPath: launcher.first ?? serve[0])
            process.arguments = Array((launcher.isEmpty ? serve : launcher + serve).dropFirst())
            process.environment = cli.environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            errors.fileHandleForReading.collect { [weak self] chunk in
                guard let self else { return }
                self.lock.lock(); self.collected.append(chunk); self.lock.unlock()
            }
            try process.run()
            let marker = "serving on \(scheme)://127.0.0.1:"
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, process.isRunning {
                if let range = log.range(of: marker) {
                    port = Int(log[range.upperBound...].prefix { $0.isNumber }) ?? 0
                    break
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            try #require(port > 0, "serve did not start: \(log)")
        }

        var log: String {
            lock.lock(); defer { lock.unlock() }
            return String(decoding: collected, as: UTF8.self)
        }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }

        /// Waits until the log contains `text` (true) or `seconds` pass (false).
        func waitForLog(_ text: String, seconds: Double = 10) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if log.contains(text) { return true }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return false
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.stopCollectingOutput()
        }
    }

    /// A self-signed certificate for localhost and 127.0.0.1 (its own CA, for
    /// `--cacert`), `name.crt` and `name.key` in `folder`.
    static func selfSigned(_ name: String, in folder: String) throws {
        let outcome = CLI.execute("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                       "-days", "2", "-subj", "/CN=secretfill reload test \(name)",
                                                       "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                                       "-keyout", "\(folder)/\(name).key", "-out", "\(folder)/\(name).crt"],
                                  environment: ProcessInfo.processInfo.environment)
        try #require(outcome.status == 0, "openssl req: \(outcome.stderr)")
    }

    static func replace(_ path: String, with source: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// A file of the test's own for an answer's body that is not looked at.
    static func bodyFile() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("curl-body-\(UUID().uuidString)").path
        ScratchFolders.removeAtExit(path)
        return path
    }

    /// curl's exit status for GET /healthz trusting only `ca` (0: handshake and answer).
    static func curl(port: Int, ca: String) -> (status: Int32, output: String) {
        let outcome = CLI.execute("/usr/bin/curl", ["-sS", "-o", bodyFile(), "-w", "%{http_code}", "--max-time", "10", "--cacert", ca,
                                                    "https://127.0.0.1:\(port)/healthz"], environment: ProcessInfo.processInfo.environment)
        return (outcome.status, outcome.stdoutText + outcome.stderr)
    }

    /// One keep-alive TLS connection trusting `ca`: a request, then, once
    /// `go` exists, a second request on the same socket. Prints each
    /// answer's status with the socket's local port.
    static let keepAliveScript = """
        import http.client, os, ssl, sys, time
        port, ca, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=ca), timeout=20)
        conn.request("GET", "/healthz")
        r = conn.getresponse(); r.read()
        print("first", r.status, conn.sock.getsockname()[1], flush=True)
        deadline = time.time() + 60
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.05)
        local = conn.sock.getsockname()[1] if conn.sock else None
        conn.auto_open = 0
        conn.request("GET", "/healthz")
        r = conn.getresponse(); r.read()
        print("second", r.status, local, flush=True)
        """

    @Test("SIGHUP with a new certificate: a client pinning the new one connects, the old one is refused, a connection opened before keeps working; a broken pair leaves the new one serving")
    func reloadOnSIGHUP() throws {
        let cli = try CLI()
        let folder = cli.path("tls")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Self.selfSigned("a", in: folder)
        try Self.selfSigned("b", in: folder)
        let certificate = folder + "/serving.crt", key = folder + "/serving.key"
        try Self.replace(certificate, with: folder + "/a.crt")
        try Self.replace(key, with: folder + "/a.key")

        let server = try Server(cli: cli, arguments: ["--tls-cert", certificate, "--tls-key", key], scheme: "https")
        defer { server.stop() }
        var healthy = Self.curl(port: server.port, ca: folder + "/a.crt")
        for _ in 0..<100 where healthy.output != "200" {
            Thread.sleep(forTimeInterval: 0.1)
            healthy = Self.curl(port: server.port, ca: folder + "/a.crt")
        }
        try #require(healthy.status == 0 && healthy.output == "200", "certificate A serves: \(healthy.output) \(server.log)")
        #expect(Self.curl(port: server.port, ca: folder + "/b.crt").status != 0, "B is not served yet")

        // A connection opened with A, kept alive across the reload.
        let script = cli.path("keepalive.py"), go = cli.path("go")
        try Self.keepAliveScript.write(toFile: script, atomically: true, encoding: .utf8)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        client.arguments = [script, "\(server.port)", folder + "/a.crt", go]
        let output = Pipe()
        client.standardOutput = output
        client.standardError = output
        try client.run()
        let lines = PipeLines(output.fileHandleForReading)
        let first = lines.next(seconds: 20)
        try #require(first?.hasPrefix("first 200 ") == true, "the keep-alive client's first request: \(first ?? "nothing") \(lines.rest())")

        try Self.replace(certificate, with: folder + "/b.crt")
        try Self.replace(key, with: folder + "/b.key")
        server.signal(SIGHUP)
        #expect(server.waitForLog("TLS certificate reloaded from \(certificate)"), "\(server.log)")
        let pinningB = Self.curl(port: server.port, ca: folder + "/b.crt")
        #expect(pinningB.status == 0 && pinningB.output == "200", "a client pinning B connects: \(pinningB.output)")
        #expect(Self.curl(port: server.port, ca: folder + "/a.crt").status != 0, "A is no longer served to new connections")

        _ = FileManager.default.createFile(atPath: go, contents: nil)
        let second = lines.next(seconds: 20)
        client.waitUntilExit()
        let firstPort = first?.split(separator: " ").last.map(String.init)
        #expect(second == "second 200 \(firstPort ?? "?")", "the connection opened before answers on the same socket: \(second ?? "nothing") \(lines.rest())")
        #expect(client.terminationStatus == 0)

        // A key that is not the certificate's, then a certificate that is not PEM: both refused, B kept.
        try Self.replace(certificate, with: folder + "/b.crt")
        try Self.replace(key, with: folder + "/a.key")
        server.signal(SIGHUP)
        #expect(server.waitForLog("TLS certificate reload refused: cannot use --tls-cert \(certificate) / --tls-key \(key): the private key in \(key) is not the key of the first certificate in \(certificate); still serving the previous one"),
                "\(server.log)")
        #expect(Self.curl(port: server.port, ca: folder + "/b.crt").output == "200", "B still serves after a mismatched pair")
        try "not a certificate\n".write(toFile: certificate, atomically: true, encoding: .utf8)
        try Self.replace(key, with: folder + "/b.key")
        server.signal(SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while server.log.components(separatedBy: "TLS certificate reload refused: ").count < 3 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(server.log.components(separatedBy: "TLS certificate reload refused: ").count == 3, "\(server.log)")
        #expect(server.log.contains("\(certificate) is not a PEM certificate chain; still serving the previous one"), "\(server.log)")
        #expect(Self.curl(port: server.port, ca: folder + "/b.crt").output == "200", "B still serves after a broken certificate")
        #expect(server.process.isRunning)

        // Nothing of either private key reaches the log.
        for name in ["a", "b"] {
            let pem = try String(contentsOfFile: "\(folder)/\(name).key", encoding: .utf8)
            let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }
            for line in body { #expect(!server.log.contains(line), "key material in the log") }
        }
        #expect(!server.log.contains("PRIVATE KEY"))
    }

    @Test("SIGHUP without TLS: logged, nothing to reload, the server keeps serving")
    func sighupWithoutTLS() throws {
        let cli = try CLI()
        let server = try Server(cli: cli, arguments: [], scheme: "http")
        defer { server.stop() }
        server.signal(SIGHUP)
        #expect(server.waitForLog("no TLS certificate to reload"), "\(server.log)")
        Thread.sleep(forTimeInterval: 0.3)
        #expect(server.process.isRunning, "SIGHUP did not stop the server: \(server.log)")
        let answer = CLI.execute("/usr/bin/curl", ["-s", "-o", Self.bodyFile(), "-w", "%{http_code}", "--max-time", "10", "http://127.0.0.1:\(server.port)/healthz"],
                                 environment: ProcessInfo.processInfo.environment)
        #expect(answer.stdoutText == "200")
    }

    @Test("MemoryDenyWriteExecute at run time: serve under the kernel's PR_SET_MDWE (what the unit asks of systemd) answers over TLS")
    func servesUnderMemoryDenyWriteExecute() throws {
        let cli = try CLI()
        let folder = cli.path("tls")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Self.selfSigned("a", in: folder)
        // prctl(PR_SET_MDWE = 65, PR_MDWE_REFUSE_EXEC_GAIN = 1) is kept across execve (Linux 6.3+).
        let launcher = ["/usr/bin/python3", "-c", """
            import ctypes, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit("PR_SET_MDWE failed: errno %d" % ctypes.get_errno())
            os.execv(sys.argv[1], sys.argv[1:])
            """]
        let server = try Server(cli: cli, arguments: ["--tls-cert", folder + "/a.crt", "--tls-key", folder + "/a.key"], scheme: "https", launcher: launcher)
        defer { server.stop() }
        var answer = Self.curl(port: server.port, ca: folder + "/a.crt")
        for _ in 0..<100 where answer.output != "200" {
            Thread.sleep(forTimeInterval: 0.1)
            answer = Self.curl(port: server.port, ca: folder + "/a.crt")
        }
        #expect(answer.output == "200", "\(answer.output) \(server.log)")
        server.signal(SIGHUP)
        #expect(server.waitForLog("TLS certificate reloaded"), "\(server.log)")
        #expect(server.process.isRunning)
    }
}

/// Lines from a pipe, read on demand with a deadline.
final class PipeLines: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ""

    init(_ handle: FileHandle) {
        handle.collect { [weak self] chunk in
            guard let self else { return }
            self.lock.lock(); self.buffer += String(decoding: chunk, as: UTF8.self); self.lock.unlock()
        }
    }

    func next(seconds: Double) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            lock.lock()
            if let newline = buffer.firstIndex(of: "\n") {
                let line = String(buffer[..<newline])
                buffer = String(buffer[buffer.index(after: newline)...])
                lock.unlock()
                return line
            }
            lock.unlock()
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    func rest() -> String { lock.lock(); defer { lock.unlock() }; return buffer }
}
