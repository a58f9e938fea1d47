import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Security review, issue 23, items 1 and 2: the two ways anyone could stop
/// the team server. Connections that each send part of a request must not
/// exhaust its descriptors (a 10 s deadline for a request's head, a cap on
/// connections, the soft descriptor limit raised), and PostgreSQL stopped
/// and started again under load must not crash it (answered 503 while the
/// database is down, 200 again within 5 s of its return). Every attack runs
/// against the built binary, on 127.0.0.1 only, bounded in count and time.
@Suite("Availability: slow-client floods and database restarts", .serialized)
struct AvailabilityTests {
    // MARK: Item 1: connections cannot exhaust the server

    @Test("ulimit -n 1024, 1,100 clients each holding a partial request line: the server lives, a keep-alive connection and the database pool keep answering, the 205 over the cap (1024 - 128 = 896, one taken by the keep-alive) are closed at once, the rest at the 10 s head deadline, then new requests answer 200")
    func slowClientFlood() throws {
        try LoopbackSocket.raiseOwnDescriptorLimit(to: 4096)
        let cli = try CLI()
        let database = try TestPostgres.freshDatabase()
        let reader = try cli.createKeyDirect("reader", grants: ["team:read"], database: database)
        let server = try LaunchedServer(cli: cli, database: database, shellPrefix: "ulimit -n 1024 && ")
        defer { server.stop() }

        // The limit the server runs under (soft and hard: it raises its soft
        // limit to the hard one, so both are set), hence its cap of 896.
        let limits = try String(contentsOfFile: "/proc/\(server.pid)/limits", encoding: .utf8)
        let openFiles = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map { $0.split(separator: " ", omittingEmptySubsequences: true) } ?? []
        try #require(openFiles.count >= 5 && openFiles[3] == "1024" && openFiles[4] == "1024", "the server's descriptor limit: \(openFiles)")
        let cap = 1024 - 128
        let flood = 1100

        // One keep-alive connection opened before the flood, and the database works through it.
        let keepAlive = try #require(LoopbackSocket(port: server.port, timeout: 10))
        defer { keepAlive.close() }
        let resolve = LoopbackSocket.resolveRequest(port: server.port, token: reader, names: ["a"])
        try #require(keepAlive.exchange(LoopbackSocket.healthRequest(port: server.port))?.status == 200, "GET /healthz before the flood")
        try #require(keepAlive.exchange(resolve)?.status == 200, "POST /v1/resolve before the flood")

        // The flood: each connection sends part of a request line and nothing more.
        var sockets: [LoopbackSocket] = []
        var openedAt: [Double] = []
        defer { for socket in sockets { socket.close() } }
        var connectFailures = 0
        let floodStart = LoopbackSocket.now()
        for _ in 0..<flood {
            guard let socket = LoopbackSocket(port: server.port, timeout: 5) else { connectFailures += 1; continue }
            _ = socket.send(Array("GET /healthz HT".utf8))
            sockets.append(socket)
            openedAt.append(LoopbackSocket.now())
        }
        let floodEnd = LoopbackSocket.now()
        #expect(connectFailures == 0, "\(connectFailures) of \(flood) connections could not even connect")

        // While the flood holds the server: it is alive, the connection
        // opened before answers, and a request needing the database works.
        #expect(server.process.isRunning)
        let duringHealth = keepAlive.exchange(LoopbackSocket.healthRequest(port: server.port))
        #expect(duringHealth?.status == 200, "GET /healthz on the keep-alive connection during the flood: \(String(describing: duringHealth?.status))")
        let duringResolve = keepAlive.exchange(resolve)
        #expect(duringResolve?.status == 200 && duringResolve?.body.contains("\"missing\"") == true,
                "POST /v1/resolve on the keep-alive connection during the flood: \(String(describing: duringResolve?.status))")
        // One more connection is over the cap: closed by the server at once.
        if let probe = LoopbackSocket(port: server.port, timeout: 5) {
            _ = probe.send(Array(LoopbackSocket.healthRequest(port: server.port)))
            let outcome = probe.waitForClose(seconds: 3)
            #expect(outcome.closed && outcome.received.isEmpty, "a new connection while the cap is reached: closed \(outcome.closed), \(outcome.received.count) bytes answered")
            probe.close()
        }

        // Every flood connection's fate: seconds from its opening to the
        // server closing it (read 0 or a reset), or nil if still open 15 s
        // after the flood.
        var closedAfter = [Double?](repeating: nil, count: sockets.count)
        var answered = 0
        var polls = sockets.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        var remaining = sockets.count
        var buffer = [UInt8](repeating: 0, count: 512)
        while remaining > 0 && LoopbackSocket.now() < floodEnd + 15 {
            let ready = poll(&polls, nfds_t(polls.count), 100)
            guard ready > 0 else { continue }
            let at = LoopbackSocket.now()
            for index in polls.indices where polls[index].fd >= 0 && polls[index].revents != 0 {
                let count = recv(polls[index].fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count > 0 { answered += 1; continue }
                if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                closedAfter[index] = at - openedAt[index]
                polls[index].fd = -1
                remaining -= 1
            }
        }
        let atOnce = closedAfter.compactMap { $0 }.filter { $0 < 2 }
        let atDeadline = closedAfter.compactMap { $0 }.filter { $0 >= 2 }
        let lastClose = zip(closedAfter, openedAt).compactMap { after, opened in after.map { opened + $0 } }.max() ?? floodEnd
        print(String(format: "slowClientFlood: %d connections opened in %.1f s; %d closed at once (over the cap), %d at the head deadline (%.1f to %.1f s after opening), %d still open; last closed %.1f s after the flood",
                     sockets.count, floodEnd - floodStart, atOnce.count, atDeadline.count, atDeadline.min() ?? 0, atDeadline.max() ?? 0,
                     remaining, lastClose - floodEnd))
        #expect(remaining == 0, "\(remaining) slow connections were still open 15 s after the flood")
        #expect(answered == 0, "\(answered) partial requests got an answer")
        // 1 keep-alive connection + 895 of the flood fill the cap; the other
        // 205 are closed at once (a few more if earlier connections, curl's
        // health checks, were not yet released).
        let overCap = flood - (cap - 1)
        #expect(atOnce.count >= overCap && atOnce.count <= overCap + 3,
                "closed at once: \(atOnce.count), expected \(overCap) (the flood beyond the cap of \(cap))")
        #expect(atDeadline.allSatisfy { $0 >= 9 && $0 <= 13 }, "held connections closed between \(atDeadline.min() ?? 0) and \(atDeadline.max() ?? 0) s after opening, not at about 10 s")
        #expect(lastClose - floodEnd <= 12, "the last slow connection was closed \(lastClose - floodEnd) s after the flood")

        // Afterwards: the server is alive, the keep-alive connection (idle
        // less than 60 s) and new connections answer, and nothing fatal was logged.
        #expect(server.process.isRunning, "the server exited: \(server.log.suffix(2000))")
        #expect(keepAlive.exchange(LoopbackSocket.healthRequest(port: server.port))?.status == 200, "the keep-alive connection after the flood")
        #expect(server.status("/healthz") == 200, "a new request after the flood")
        let fresh = LoopbackSocket(port: server.port, timeout: 10)
        #expect(fresh?.exchange(resolve)?.status == 200, "a new POST /v1/resolve after the flood")
        fresh?.close()
        let log = server.log.lowercased()
        for word in ["fatal", "signal", "too many open files", "emfile"] {
            #expect(!log.contains(word), "the server's log mentions \(word): \(server.log.suffix(2000))")
        }
    }

    @Test("a client that sends a header line every 2 s is closed at the 10 s head deadline (between 9 and 13 s), not kept alive by each line")
    func headerTrickle() throws {
        let cli = try CLI()
        let server = try LaunchedServer(cli: cli, database: try Backend.sqlite.freshURL(in: cli))
        defer { server.stop() }
        let socket = try #require(LoopbackSocket(port: server.port, timeout: 5))
        defer { socket.close() }
        let start = LoopbackSocket.now()
        #expect(socket.send(Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n".utf8)))
        var linesSent = 0
        var closedAt: Double?
        var received: [UInt8] = []
        // A header line every 2 s for up to 20 s; stop when the server closes.
        while closedAt == nil && LoopbackSocket.now() < start + 20 {
            let outcome = socket.waitForClose(seconds: 2)
            received += outcome.received
            if outcome.closed { closedAt = LoopbackSocket.now(); break }
            if !socket.send(Array("X-Trickle-\(linesSent): \(linesSent)\r\n".utf8)) { closedAt = LoopbackSocket.now(); break }
            linesSent += 1
        }
        let after = try #require(closedAt.map { $0 - start }, "the trickling client was still connected after 20 s (\(linesSent) lines sent)")
        print(String(format: "headerTrickle: closed %.2f s after the first line, %d header lines sent 2 s apart", after, linesSent))
        #expect(after >= 9 && after <= 13, "closed \(after) s after the request started, not at about 10 s")
        #expect(linesSent >= 4, "only \(linesSent) header lines were sent before the close")
        #expect(!String(decoding: received, as: UTF8.self).contains(" 200 "), "the unfinished request was answered 200")
        #expect(server.status("/healthz") == 200)
        #expect(server.process.isRunning)
    }

    // MARK: Item 2: a database restart under load does not crash the server

    /// Repetitions per client count: 3 by default, `SECRETFILL_RESTART_REPEATS`
    /// (the issue's full run: 10).
    static let restartRepeats: Int = {
        guard let text = ProcessInfo.processInfo.environment["SECRETFILL_RESTART_REPEATS"], let count = Int(text), count > 0 else { return 3 }
        return min(count, 50)
    }()

    @Test("clients resolving while PostgreSQL is stopped (pg_ctl stop -m fast) for 6 s and started again, repeated: the server never exits; every request is answered 200 or 503 within 10 s, 503 while the database is down; every client gets 200 again within 5 s of pg_ctl start -w",
          arguments: [1, 8, 32])
    func databaseRestart(clients: Int) throws {
        // 6 s, not 3: a request waits up to the server's 5 s deadline for a
        // connection, so in a 3 s outage the one sent as the connections drop
        // is answered 200 once the database is back, none is answered while
        // it is down, and "503 while down" would go untested.
        try RestartRun(clients: clients, outage: 6, repetitions: Self.restartRepeats).run()
    }

    @Test("8 clients, PostgreSQL down for 14 s (the case that crashed the server 2 of 2 times): no request held longer than 10 s, 503 while down, 200 within 5 s of its return")
    func longDatabaseOutage() throws {
        try RestartRun(clients: 8, outage: 14, repetitions: 1).run()
    }
}

/// The idle keep-alive timeout: a test of its own that sleeps a minute, in a
/// suite that runs beside the others (it costs no CPU).
@Suite("Availability: idle keep-alive timeout")
struct AvailabilityIdleTests {
    @Test("a keep-alive connection left idle after a response is closed by the server between 55 and 65 s later (the 60 s idle timeout)")
    func idleKeepAlive() throws {
        let cli = try CLI()
        let server = try LaunchedServer(cli: cli, database: try Backend.sqlite.freshURL(in: cli))
        defer { server.stop() }
        let socket = try #require(LoopbackSocket(port: server.port, timeout: 10))
        defer { socket.close() }
        try #require(socket.exchange(LoopbackSocket.healthRequest(port: server.port))?.status == 200)
        let answered = LoopbackSocket.now()
        let outcome = socket.waitForClose(seconds: 70)
        let after = LoopbackSocket.now() - answered
        print(String(format: "idleKeepAlive: closed %@ %.1f s after the response", outcome.closed ? "by the server" : "NOT", after))
        #expect(outcome.closed, "the idle connection was still open after 70 s")
        #expect(outcome.received.isEmpty)
        #expect(after >= 55 && after <= 65, "closed \(after) s after the response, not at about 60 s")
        #expect(server.status("/healthz") == 200)
    }
}

// MARK: - The database restart run

/// A PostgreSQL cluster of the restart tests' own (they stop it), made once
/// with scripts/postgres.sh and removed at exit.
enum RestartCluster {
    static let script = CLI.packageRoot.appendingPathComponent("scripts/postgres.sh").path

    static let started: Result<(directory: String, url: String), TestPostgres.PostgresUnavailable> = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-restart-pg-\(UUID().uuidString.prefix(8))").path
        let outcome = CLI.execute("/bin/bash", [script, "start", directory], environment: ProcessInfo.processInfo.environment)
        guard outcome.status == 0 else {
            return .failure(TestPostgres.PostgresUnavailable(detail: "scripts/postgres.sh start failed (\(outcome.status)): \(outcome.stderr)"))
        }
        directoryToRemove = directory
        atexit {
            if let directory = RestartCluster.directoryToRemove {
                _ = CLI.execute("/bin/bash", [RestartCluster.script, "stop", directory], environment: ProcessInfo.processInfo.environment)
            }
        }
        return .success((directory, outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)))
    }()
    nonisolated(unsafe) static var directoryToRemove: String?

    /// A new database on the cluster.
    static func freshDatabase() throws -> String {
        let base = try started.get().url
        let name = "r_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let outcome = TestPostgres.psql(base, "CREATE DATABASE \(name)")
        try #require(outcome.status == 0, "CREATE DATABASE: \(outcome.stderr)")
        return base.replacingOccurrences(of: "/secretfill", with: "/\(name)")
    }

    /// `pg_ctl stop -m fast -w` (halt) or `pg_ctl start -w` (resume), as scripts/postgres.sh runs them.
    static func pgctl(_ verb: String) -> CLI.Outcome {
        guard case .success(let cluster) = started else { return CLI.Outcome(status: -1, stdout: [], stderr: "no cluster") }
        return CLI.execute("/bin/bash", [script, verb, cluster.directory], environment: ProcessInfo.processInfo.environment)
    }
}

/// N clients resolving one secret in a loop against one server, while its
/// PostgreSQL is stopped and started `repetitions` times.
struct RestartRun {
    let clients: Int
    let outage: Double
    let repetitions: Int

    func run() throws {
        let started = LoopbackSocket.now()
        let cli = try CLI()
        let database = try RestartCluster.freshDatabase()
        let writer = try cli.createKeyDirect("writer", grants: ["team:write"], database: database)
        let reader = try cli.createKeyDirect("reader", grants: ["team:read"], database: database)
        // No rate limit: 32 clients on one key would otherwise meet 429, which is not what this test is about.
        let server = try LaunchedServer(cli: cli, database: database, arguments: ["--rate-limit", "0"], logLevel: "notice")
        defer {
            server.stop()
            // The cluster is left running for the next test whatever happened here.
            if TestPostgres.psql((try? RestartCluster.started.get().url) ?? "", "SELECT 1").status != 0 { _ = RestartCluster.pgctl("resume") }
        }
        let set = server.call("/v1/secrets/set", ["-H", "Authorization: Bearer \(writer)", "-H", "Content-Type: application/json",
                                                  "--data-binary", "{\"scope\": \"team\", \"id\": null, \"secrets\": [{\"name\": \"db_url\", \"value\": \"restart-value\"}]}"])
        try #require(set.status == 200, "set: \(set.status) \(set.body)")

        var longest = 0.0, slowestRecovery = 0.0
        var totals = (ok: 0, unavailable: 0, duringOutage: 0)
        for repetition in 1...repetitions {
            let label = "\(clients) clients, outage \(Int(outage)) s, repetition \(repetition)/\(repetitions)"
            let load = ResolveLoad(port: server.port, token: reader, clients: clients)
            load.start()
            defer { load.stop() }
            // Every client resolves before the database goes.
            let warm = LoopbackSocket.now()
            while !load.everyClientSucceeded(after: 0) && LoopbackSocket.now() < warm + 15 { Thread.sleep(forTimeInterval: 0.05) }
            try #require(load.everyClientSucceeded(after: 0), "\(label): not every client resolved before the restart: \(load.summary())")
            Thread.sleep(forTimeInterval: 0.3)

            let halt = RestartCluster.pgctl("halt")
            let stopped = LoopbackSocket.now()
            try #require(halt.status == 0, "\(label): pg_ctl stop: \(halt.stderr)")
            Thread.sleep(forTimeInterval: outage)
            let resumeCalled = LoopbackSocket.now()
            let resume = RestartCluster.pgctl("resume")
            let resumed = LoopbackSocket.now()
            try #require(resume.status == 0, "\(label): pg_ctl start: \(resume.stderr)")
            // Until every client has a 200 that ended after the start returned (at most 8 s).
            while !load.everyClientSucceeded(after: resumed) && LoopbackSocket.now() < resumed + 8 { Thread.sleep(forTimeInterval: 0.05) }
            load.stop()
            #expect(server.process.isRunning, "\(label): the server exited: \(server.log.suffix(3000))")

            let records = load.records
            let all = records.flatMap { $0 }
            let refused = all.filter { $0.status != 200 && $0.status != 503 }
            #expect(refused.isEmpty, "\(label): \(refused.count) requests not answered 200 or 503 (-1: no answer within 12 s or the connection failed; -2: a 200 without the value): \(refused.prefix(5).map { String(format: "%d after %.1f s", $0.status, $0.end - $0.start) })")
            let slowest = all.map { $0.end - $0.start }.max() ?? 0
            #expect(slowest <= 10, "\(label): a request was held \(slowest) s")
            // Sent and answered while the database was down: 503 (an answer in flight when it stopped may
            // still be a 200 computed before, delivered late on a loaded machine), and every client had one.
            let whileDown = all.filter { $0.start > stopped && $0.end < resumeCalled }
            #expect(whileDown.allSatisfy { $0.status == 503 }, "\(label): answered while the database was down: \(Set(whileDown.map(\.status)))")
            for (client, list) in records.enumerated() {
                #expect(list.contains { $0.end > stopped && $0.end < resumeCalled && $0.status == 503 },
                        "\(label): client \(client) got no 503 while the database was down")
                // A long outage: requests sent after the stop are answered 503
                // before the database returns, not held until it does.
                if outage >= 10 {
                    #expect(list.contains { $0.start >= stopped && $0.end < resumeCalled && $0.status == 503 },
                            "\(label): client \(client) sent a request after the stop that was not answered before the database returned")
                }
            }
            var recovery = 0.0
            for (client, list) in records.enumerated() {
                guard let first = list.filter({ $0.status == 200 && $0.end > resumed }).map(\.end).min() else {
                    Issue.record("\(label): client \(client) got no 200 within 8 s of pg_ctl start -w returning: \(list.suffix(3).map(\.status))")
                    continue
                }
                recovery = max(recovery, first - resumed)
            }
            #expect(recovery <= 5, "\(label): a client got its first 200 \(recovery) s after pg_ctl start -w returned")
            let ok = all.filter { $0.status == 200 }.count, unavailable = all.filter { $0.status == 503 }.count
            print(String(format: "databaseRestart %@: %d × 200, %d × 503 (%d answered while down), longest request %.2f s, every client 200 again %.2f s after pg_ctl start -w (start took %.2f s)",
                         label, ok, unavailable, whileDown.count, slowest, recovery, resumed - resumeCalled))
            longest = max(longest, slowest)
            slowestRecovery = max(slowestRecovery, recovery)
            totals.ok += ok; totals.unavailable += unavailable; totals.duringOutage += whileDown.count
        }
        let log = server.log
        for word in ["precondition", "Fatal error", "fatal", "signal"] {
            #expect(!log.contains(word), "the server's log mentions \(word): \(log.suffix(3000))")
        }
        #expect(server.status("/healthz") == 200)
        #expect(server.process.isRunning)
        let exit = server.stop()
        #expect(exit == 0, "serve did not exit 0 on SIGTERM after the restarts: \(String(describing: exit))")
        print(String(format: "databaseRestart summary, %d clients × %d repetitions, outage %.0f s: %d × 200, %d × 503 (%d while down), longest request %.2f s, slowest recovery %.2f s, %.0f s in all",
                     clients, repetitions, outage, totals.ok, totals.unavailable, totals.duringOutage, longest, slowestRecovery, LoopbackSocket.now() - started))
    }
}

/// Client threads, each resolving on its own keep-alive connection (a new
/// one when the server closes it), recording every request.
final class ResolveLoad: @unchecked Sendable {
    /// One request: monotonic start and end, and the HTTP status (-1: no
    /// answer within 12 s or the connection failed; -2: a 200 without the
    /// secret's value).
    struct Record { var start: Double; var end: Double; var status: Int }

    let port: Int
    let token: String
    let clients: Int
    private let lock = NSLock()
    private var stopping = false
    private var recorded: [[Record]]
    private let finished = DispatchGroup()
    private var running = false

    init(port: Int, token: String, clients: Int) {
        self.port = port
        self.token = token
        self.clients = clients
        recorded = Array(repeating: [], count: clients)
    }

    func start() {
        running = true
        let request = LoopbackSocket.resolveRequest(port: port, token: token, names: ["db_url"])
        for client in 0..<clients {
            finished.enter()
            let thread = Thread { [self] in
                defer { finished.leave() }
                var socket: LoopbackSocket?
                while !isStopping {
                    let start = LoopbackSocket.now()
                    if socket == nil { socket = LoopbackSocket(port: port, timeout: 12) }
                    var status = -1
                    if let current = socket, let answer = current.exchange(request) {
                        status = answer.status
                        if answer.status == 200 && !answer.body.contains("restart-value") { status = -2 }
                        if answer.closes || status == -2 {
                            current.close()
                            socket = nil
                        }
                    } else {
                        socket?.close()
                        socket = nil
                    }
                    let end = LoopbackSocket.now()
                    lock.lock(); recorded[client].append(Record(start: start, end: end, status: status)); lock.unlock()
                    if status < 0 { Thread.sleep(forTimeInterval: 0.05) }
                }
                socket?.close()
            }
            thread.start()
        }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    /// Stops the clients and waits for their requests in flight (each at most 12 s).
    func stop() {
        guard running else { return }
        running = false
        lock.lock(); stopping = true; lock.unlock()
        finished.wait()
    }

    var records: [[Record]] { lock.lock(); defer { lock.unlock() }; return recorded }

    func everyClientSucceeded(after time: Double) -> Bool {
        records.allSatisfy { list in list.contains { $0.status == 200 && $0.end > time } }
    }

    func summary() -> String {
        records.enumerated().map { "client \($0.offset): \($0.element.count) requests, last \($0.element.last.map { String($0.status) } ?? "none")" }.joined(separator: "; ")
    }
}

// MARK: - A server launched through /bin/sh, and raw loopback sockets

/// A `secretfill serve` on a free loopback port, started through /bin/sh so
/// that a test can set its limits first (`ulimit -n 1024 && `), over HTTP or
/// HTTPS; its stderr kept. Modelled on `TestServer`.
final class LaunchedServer: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var collected = Data()
    private(set) var url = ""
    private(set) var port = 0

    init(cli: CLI, database: String, arguments extra: [String] = [], shellPrefix: String = "", logLevel: String = "info") throws {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", shellPrefix + "exec \"$0\" \"$@\"", CLI.binary.path,
                             "serve", "--database", database, "--listen", "127.0.0.1:0", "--log-level", logLevel] + extra
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
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let range = log.range(of: "serving on ") {
                let address = log[range.upperBound...].prefix { !$0.isWhitespace }
                if address.hasPrefix("http"), let colon = address.lastIndex(of: ":"), let number = Int(address[address.index(after: colon)...]) {
                    url = String(address)
                    port = number
                }
                break
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(!url.isEmpty, "serve did not start: \(log)")
        while Date() < deadline {
            if status("/healthz") == 200 { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("serve never became healthy: \(log)")
    }

    var pid: Int32 { process.processIdentifier }

    var log: String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: collected, as: UTF8.self)
    }

    struct Answer {
        var status: Int
        /// Header lines of the final response, as sent.
        var headers: [String]
        var body: String

        /// Values of every header `name` (case-insensitive).
        func values(_ name: String) -> [String] {
            headers.compactMap { line in
                guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name.lowercased() else { return nil }
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        func value(_ name: String) -> String? { values(name).first }

        /// The value of cookie `name` set by this answer.
        func setCookie(_ name: String) -> (value: String, attributes: String)? {
            for line in values("Set-Cookie") where line.hasPrefix(name + "=") {
                let rest = line.dropFirst(name.count + 1)
                let value = rest.prefix { $0 != ";" }
                return (String(value), String(rest.dropFirst(value.count)))
            }
            return nil
        }
    }

    /// One request with curl (`-k`: the TLS tests' certificate is self-signed); `options` are curl's.
    func call(_ path: String, _ options: [String] = []) -> Answer {
        let arguments = ["-s", "-k", "-i", "--max-time", "15"] + options + [url + path]
        let outcome = CLI.execute("/usr/bin/curl", arguments, environment: ProcessInfo.processInfo.environment)
        var text = outcome.stdoutText
        // Skip interim answers (100 Continue).
        while text.hasPrefix("HTTP/1.1 1"), let end = text.range(of: "\r\n\r\n") { text = String(text[end.upperBound...]) }
        guard let end = text.range(of: "\r\n\r\n") else { return Answer(status: -1, headers: [], body: outcome.stderr) }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let status = lines.first.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? -1
        return Answer(status: status, headers: Array(lines.dropFirst()), body: String(text[end.upperBound...]))
    }

    func status(_ path: String) -> Int { call(path).status }

    /// SIGTERM, then the exit status (nil if it did not exit within `seconds`).
    @discardableResult
    func stop(seconds: Double = 15) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
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

/// A blocking TCP connection to 127.0.0.1 speaking just enough HTTP/1.1.
/// Writes never raise SIGPIPE (MSG_NOSIGNAL); reads and writes time out.
final class LoopbackSocket: @unchecked Sendable {
    private(set) var fd: Int32

    /// Connects (within `timeout` seconds, as every later read and write), or nil.
    init?(port: Int, timeout: Double) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { Glibc.close(descriptor); return nil }
        fd = descriptor
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Sends all of `bytes`; false if the connection failed.
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    struct Response {
        var status: Int
        var body: String
        /// The server said it closes the connection after this answer.
        var closes: Bool
    }

    /// Sends a request and reads its response (Content-Length or chunked);
    /// nil if the connection failed, closed or timed out first.
    func exchange(_ request: [UInt8]) -> Response? {
        guard fd >= 0, send(request) else { return nil }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        func more() -> Bool {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { return more() }
            guard count > 0 else { return false }
            data += buffer[0..<count]
            return true
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            if data.count >= 4 {
                for index in 0...(data.count - 4) where Array(data[index..<index + 4]) == separator { headEnd = index; break }
            }
            if headEnd == nil && !more() { return nil }
        }
        let head = String(decoding: data[0..<headEnd!], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        var length: Int?
        var chunked = false, closes = false
        for line in lines.dropFirst() {
            let lower = line.lowercased()
            if lower.hasPrefix("content-length:") { length = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) }
            if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") { chunked = true }
            if lower.hasPrefix("connection:") && lower.contains("close") { closes = true }
        }
        var body: [UInt8] = []
        if chunked {
            while true {
                if let decoded = Self.dechunk(Array(data[(headEnd! + 4)...])) { body = decoded; break }
                guard more() else { return nil }
            }
        } else {
            let wanted = length ?? 0
            while data.count - (headEnd! + 4) < wanted {
                guard more() else { return nil }
            }
            body = Array(data[(headEnd! + 4)..<(headEnd! + 4 + wanted)])
        }
        return Response(status: status, body: String(decoding: body, as: UTF8.self), closes: closes)
    }

    /// A chunked body decoded, or nil while its last chunk has not arrived.
    private static func dechunk(_ bytes: [UInt8]) -> [UInt8]? {
        var body: [UInt8] = []
        var index = 0
        while true {
            guard let lineEnd = find([13, 10], in: Array(bytes[index...])) else { return nil }
            let sizeText = String(decoding: bytes[index..<index + lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            index += lineEnd + 2
            if size == 0 { return bytes.count >= index + 2 ? body : nil }
            guard bytes.count >= index + size + 2 else { return nil }
            body += bytes[index..<index + size]
            index += size + 2
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where Array(haystack[index..<index + needle.count]) == needle { return index }
        return nil
    }

    /// Waits up to `seconds` for the server to close the connection (read 0
    /// or a reset), collecting whatever it sends meanwhile.
    func waitForClose(seconds: Double) -> (closed: Bool, received: [UInt8]) {
        var received: [UInt8] = []
        let deadline = Self.now() + seconds
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Self.now() < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(max(1, min(1000, (deadline - Self.now()) * 1000))))
            if ready <= 0 { continue }
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { received += buffer[0..<count]; continue }
            if count < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            return (true, received)
        }
        return (false, received)
    }

    static func healthRequest(port: Int) -> [UInt8] {
        Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
    }

    static func resolveRequest(port: Int, token: String, names: [String]) -> [UInt8] {
        let body = "{\"project\": null, \"cluster\": null, \"names\": [\(names.map { "\"\($0)\"" }.joined(separator: ","))]}"
        return Array(("POST /v1/resolve HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(token)\r\n"
                      + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }

    /// Monotonic seconds.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Raises this process's soft descriptor limit to `wanted` (at most the
    /// hard limit); fails the test if that leaves too few for the flood.
    static func raiseOwnDescriptorLimit(to wanted: Int) throws {
        var limit = rlimit()
        try #require(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        if limit.rlim_cur < rlim_t(wanted) {
            limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        try #require(limit.rlim_cur >= 1400, "this test process may open only \(limit.rlim_cur) descriptors; the flood needs about 1,200")
    }
}
