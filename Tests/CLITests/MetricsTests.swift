import Foundation
import Testing

/// `serve --metrics-listen`: `/metrics` in Prometheus' text format, checked
/// by `promtool check metrics` and scraped by a real Prometheus (Debian's
/// `prometheus` package, started here on a loopback port with its own
/// config and storage; scripts/setup.sh --tests installs it).
@Suite("Metrics", .serialized)
struct MetricsTests {
    static let canary = "CANARY-metrics-\(UUID().uuidString)"
    static let secretName = "metricsname_\(UUID().uuidString.prefix(8).lowercased())"
    static let keyName = "keymetrics\(UUID().uuidString.prefix(8).lowercased())"
    static let requestID = "rid-metrics-\(UUID().uuidString)"

    /// The bounded sets every label value must come from.
    static let routes: Set<String> = ["/healthz", "/v1/resolve", "/v1/values", "/v1/names", "/v1/scopes", "/v1/secrets/set", "/v1/secrets/delete",
                                      "/v1/secrets/history", "/v1/secrets/rollback", "/v1/keys", "/v1/keys/list", "/v1/keys/revoke", "/v1/audit",
                                      "unmatched"]
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"]
    static let reasons: Set<String> = ["unauthenticated", "forbidden", "rate_limited", "too_large", "invalid"]

    /// A server with metrics, and the requests whose counts the tests check:
    /// 2 resolves answered (one name found each), one 401, one 403, one 400,
    /// one unknown path (404), each resolve with the same X-Request-Id.
    struct Scene {
        let team: ServerTests.Team
        let metricsURL: String
        let tokens: [String]

        init() throws {
            team = try ServerTests.Team(.sqlite, serverArguments: ["--metrics-listen", "127.0.0.1:0"])
            let log = team.server.log
            let range = try #require(log.range(of: "metrics on http://"), "no metrics line: \(log)")
            metricsURL = "http://" + log[range.upperBound...].prefix { !$0.isWhitespace && $0 != "\"" }
            let writer = try team.key("writer" + MetricsTests.keyName, ["team:write"])
            let reader = try team.key(MetricsTests.keyName, ["team:read"])
            tokens = [team.admin, writer, reader]
            #expect(team.set("team", nil, MetricsTests.secretName, MetricsTests.canary, token: writer).status == 200)
            for _ in 0..<2 {
                let answer = team.server.exchange("POST", "/v1/resolve", body: "{\"names\": [\"\(MetricsTests.secretName)\", \"absent_name\"]}",
                                                  token: reader, headers: ["X-Request-Id": MetricsTests.requestID])
                #expect(answer.status == 200)
            }
            #expect(team.resolve(project: nil, names: [MetricsTests.secretName], token: nil).status == 401)
            #expect(team.resolve(project: "pr-\(MetricsTests.keyName)", names: [MetricsTests.secretName], token: reader).status == 403)
            #expect(team.server.post("/v1/resolve", "{not json", token: reader).status == 400)
            #expect(team.server.request("GET", "/no/such/\(MetricsTests.secretName)", body: nil, token: nil).status == 404)
        }

        func scrape() -> CLI.Outcome {
            CLI.execute("/usr/bin/curl", ["-s", "--max-time", "10", metricsURL], environment: ProcessInfo.processInfo.environment)
        }
    }

    /// `name{a="x",b="y"} value` lines: the name, the labels, the value.
    static func samples(_ text: String) -> [(name: String, labels: [String: String], value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            var name = "", labels: [String: String] = [:]
            var rest = Substring(line)
            if let brace = rest.firstIndex(of: "{"), let close = rest.lastIndex(of: "}") {
                name = String(rest[..<brace])
                for pair in rest[rest.index(after: brace)..<close].split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { continue }
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
                rest = rest[rest.index(after: close)...]
            } else {
                name = String(rest.prefix { $0 != " " })
                rest = rest.dropFirst(name.count)
            }
            guard let value = Double(rest.trimmingCharacters(in: .whitespaces)) else { return nil }
            return (name, labels, value)
        }
    }

    /// Every label value seen is in its bounded set.
    static func expectBounded(_ name: String, _ key: String, _ value: String, sourceLocation: SourceLocation = #_sourceLocation) {
        switch key {
        case "route": #expect(routes.contains(value), "\(name): route \(value)", sourceLocation: sourceLocation)
        case "method": #expect(methods.contains(value), "\(name): method \(value)", sourceLocation: sourceLocation)
        case "status": #expect(Int(value).map { (100...599).contains($0) } ?? false, "\(name): status \(value)", sourceLocation: sourceLocation)
        case "reason": #expect(reasons.contains(value), "\(name): reason \(value)", sourceLocation: sourceLocation)
        case "le": #expect(value == "+Inf" || Double(value) != nil, "\(name): le \(value)", sourceLocation: sourceLocation)
        case "__name__":
            // Prometheus' own series about each scrape come along with ours.
            let scrapeSeries: Set<String> = ["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added",
                                             "scrape_samples_post_metric_relabeling"]
            #expect(value.hasPrefix("secretfill_") || value == "process_start_time_seconds" || scrapeSeries.contains(value), "\(value)",
                    sourceLocation: sourceLocation)
        case "job": #expect(value == "secretfill", sourceLocation: sourceLocation)
        case "instance": #expect(value.hasPrefix("127.0.0.1:"), sourceLocation: sourceLocation)
        default: Issue.record("\(name): unexpected label \(key)=\(value)", sourceLocation: sourceLocation)
        }
    }

    @Test("a scrape passes promtool check metrics, counts what the requests did, and names no secret, key, id or token")
    func scrapeHoldsTheCounts() throws {
        let scene = try Scene()
        defer { scene.team.server.stop() }
        let scrape = scene.scrape()
        try #require(scrape.status == 0, "curl: \(scrape.stderr)")
        let text = scrape.stdoutText
        let check = CLI.execute("/usr/bin/promtool", ["check", "metrics"], stdin: scrape.stdout, environment: ProcessInfo.processInfo.environment)
        #expect(check.status == 0, "promtool: \(check.allOutput)\n\(text)")

        let samples = Self.samples(text)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        #expect(value("secretfill_http_requests_total", ["route": "/v1/resolve", "method": "POST", "status": "200"]) == 2)
        #expect(value("secretfill_http_requests_total", ["route": "/v1/resolve", "method": "POST", "status": "401"]) == 1)
        #expect(value("secretfill_http_requests_total", ["route": "/v1/resolve", "method": "POST", "status": "403"]) == 1)
        #expect(value("secretfill_http_requests_total", ["route": "unmatched", "method": "GET", "status": "404"]) == 1)
        #expect(value("secretfill_http_request_duration_seconds_count", ["route": "/v1/resolve"]) == 5, "refused ones included")
        #expect(value("secretfill_resolves_total") == 2)
        #expect(value("secretfill_resolved_names_total") == 2)
        #expect(value("secretfill_refusals_total", ["reason": "unauthenticated"]) == 1)
        #expect(value("secretfill_refusals_total", ["reason": "forbidden"]) == 1)
        #expect(value("secretfill_refusals_total", ["reason": "invalid"]) == 1)
        #expect(value("secretfill_refusals_total", ["reason": "rate_limited"]) == 0)
        #expect(value("secretfill_refusals_total", ["reason": "too_large"]) == 0)
        // Two key creations, a set, two resolves, the 403's refusal row and the 401's.
        #expect((value("secretfill_audit_writes_total") ?? 0) >= 7)
        #expect(value("secretfill_audit_failures_total") == 0)
        #expect((value("secretfill_db_calls_total") ?? 0) >= 7)
        #expect(value("secretfill_db_errors_total") == 0)
        #expect((value("secretfill_db_call_duration_seconds_count") ?? 0) >= 7)
        #expect(value("secretfill_db_pool_connections_in_use") == 0)
        #expect((value("secretfill_key_cache_hits_total") ?? 0) + (value("secretfill_key_cache_misses_total") ?? 0) >= 6)
        let start = try #require(value("process_start_time_seconds"))
        #expect(abs(start - Date().timeIntervalSince1970) < 600)

        var seen: Set<String> = []
        for sample in samples {
            for (key, labelValue) in sample.labels {
                seen.insert("\(key)=\(labelValue)")
                Self.expectBounded(sample.name, key, labelValue)
            }
        }
        #expect(seen.contains("route=/v1/resolve") && seen.contains("route=unmatched"), "\(seen.sorted())")
        for word in [Self.canary, Self.secretName, Self.keyName, Self.requestID, "pr-\(Self.keyName)"] + scene.tokens {
            #expect(!text.contains(word), "the scrape names \(word)")
        }
    }

    @Test("--metrics-listen refuses a non-loopback address without TLS, and a malformed one")
    func listenRules() throws {
        let cli = try CLI()
        let database = "sqlite:" + cli.path("m.db")
        let refused = cli.run(["serve", "--database", database, "--listen", "127.0.0.1:0", "--metrics-listen", "0.0.0.0:0"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("refusing to serve /metrics on 0.0.0.0 without TLS"), "\(refused.stderr)")
        let malformed = cli.run(["serve", "--database", database, "--metrics-listen", "nonsense"])
        #expect(malformed.status == 64)
        #expect(malformed.stderr.contains("--metrics-listen must be HOST:PORT"), "\(malformed.stderr)")
        // A port another listener holds is named with its option.
        let first = try TestServer(cli: cli, database: database, arguments: ["--metrics-listen", "127.0.0.1:0"])
        defer { first.stop() }
        let range = try #require(first.log.range(of: "metrics on http://127.0.0.1:"), "\(first.log)")
        let port = String(first.log[range.upperBound...].prefix { $0.isNumber })
        let taken = cli.run(["serve", "--database", "sqlite:" + cli.path("m2.db"), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:\(port)"])
        #expect(taken.status == 2)
        #expect(taken.stderr.contains("--metrics-listen 127.0.0.1:\(port) is already in use"), "\(taken.stderr)")
    }

    @Test("with --tls-cert, /metrics is served with TLS and the same certificate, and not in clear")
    func metricsOverTLS() throws {
        let cli = try CLI()
        let certificate = cli.path("server.crt"), key = cli.path("server.key")
        let made = CLI.execute("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                                                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate],
                               environment: ProcessInfo.processInfo.environment)
        try #require(made.status == 0, "openssl: \(made.stderr)")
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--database", "sqlite:" + cli.path("tls.db"), "--listen", "127.0.0.1:0", "--tls-cert", certificate,
                             "--tls-key", key, "--metrics-listen", "127.0.0.1:0"]
        process.environment = cli.environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let collected = LockedText()
        errors.fileHandleForReading.collect { collected.append($0) }
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
        }
        var metricsURL = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            let log = collected.text
            if let range = log.range(of: "metrics on https://") {
                metricsURL = "https://" + log[range.upperBound...].prefix { !$0.isWhitespace }
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(!metricsURL.isEmpty, "no metrics line: \(collected.text)")
        let secure = CLI.execute("/usr/bin/curl", ["-s", "--max-time", "10", "--cacert", certificate, metricsURL], environment: ProcessInfo.processInfo.environment)
        #expect(secure.status == 0 && secure.stdoutText.contains("process_start_time_seconds"), "\(secure.stderr)")
        let clear = CLI.execute("/usr/bin/curl", ["-s", "--max-time", "10", "http://" + metricsURL.dropFirst("https://".count)],
                                environment: ProcessInfo.processInfo.environment)
        #expect(!clear.stdoutText.contains("process_start_time_seconds"), "served in clear")
    }

    @Test("a real Prometheus scrapes the server and its API returns the counts the requests caused")
    func prometheusScrapes() throws {
        let scene = try Scene()
        defer { scene.team.server.stop() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = scene.metricsURL.dropFirst("http://".count).prefix { $0 != "/" }
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: secretfill
                static_configs:
                  - targets: ['\(target)']
            """
        let configPath = folder.appendingPathComponent("prometheus.yml").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let port = try FreePort.pick()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(configPath)", "--storage.tsdb.path=\(folder.appendingPathComponent("data").path)",
                                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"]
        prometheus.currentDirectoryURL = folder
        prometheus.standardInput = FileHandle.nullDevice
        prometheus.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        prometheus.standardError = errors
        try prometheus.run()
        defer {
            if prometheus.isRunning { prometheus.terminate() }
            prometheus.waitUntilExit()
        }

        let query = "http://127.0.0.1:\(port)/api/v1/query?query=secretfill_http_requests_total"
        var results: [[String: Any]] = []
        var counted: [String: Double] = [:]
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline && prometheus.isRunning {
            let answer = CLI.execute("/usr/bin/curl", ["-s", "--max-time", "5", query], environment: ProcessInfo.processInfo.environment)
            if answer.status == 0, let json = (try? JSONSerialization.jsonObject(with: Data(answer.stdout))) as? [String: Any],
               let data = json["data"] as? [String: Any], let found = data["result"] as? [[String: Any]] {
                results = found
                counted = [:]
                for result in found {
                    guard let metric = result["metric"] as? [String: String], let pair = result["value"] as? [Any],
                          pair.count == 2, let text = pair[1] as? String, let number = Double(text) else { continue }
                    counted["\(metric["route"] ?? "") \(metric["method"] ?? "") \(metric["status"] ?? "")"] = number
                }
                if counted["/v1/resolve POST 200"] == 2, counted["/v1/resolve POST 401"] == 1, counted["unmatched GET 404"] == 1 { break }
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(counted["/v1/resolve POST 200"] == 2, "\(counted)")
        #expect(counted["/v1/resolve POST 401"] == 1, "\(counted)")
        #expect(counted["/v1/resolve POST 403"] == 1, "\(counted)")
        #expect(counted["/v1/resolve POST 400"] == 1, "\(counted)")
        #expect(counted["unmatched GET 404"] == 1, "\(counted)")
        if counted.isEmpty {
            Issue.record("Prometheus never answered: \(String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self))")
        }

        // Every label value Prometheus holds for the server, listed, each in its bounded set.
        var seen: Set<String> = []
        for result in results {
            for (key, value) in (result["metric"] as? [String: String]) ?? [:] {
                seen.insert("\(key)=\(value)")
                Self.expectBounded("secretfill_http_requests_total", key, value)
            }
        }
        let everything = CLI.execute("/usr/bin/curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/api/v1/query?query=%7Bjob%3D%22secretfill%22%7D"],
                                     environment: ProcessInfo.processInfo.environment)
        let all = try #require((try? JSONSerialization.jsonObject(with: Data(everything.stdout))) as? [String: Any])
        let series = ((all["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
        #expect(series.count > 10, "\(series.count) series")
        for result in series {
            let metric = (result["metric"] as? [String: String]) ?? [:]
            for (key, value) in metric {
                seen.insert("\(key)=\(value)")
                Self.expectBounded(metric["__name__"] ?? "?", key, value)
            }
        }
        for word in [Self.canary, Self.secretName, Self.keyName, Self.requestID] + scene.tokens {
            #expect(!everything.stdoutText.contains(word), "Prometheus holds \(word)")
        }
        #expect(seen.contains("route=/v1/resolve"), "\(seen.sorted())")
    }
}

/// Text a pipe's handler appends to from another thread.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ chunk: Data) { lock.lock(); data.append(chunk); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}

/// A loopback port nothing listens on now (the kernel's pick).
enum FreePort {
    struct Failure: Error {}

    static func pick() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure() }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure() }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafeMutablePointer(to: &address, {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }) == 0 else { throw Failure() }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension TestServer {
    /// One request with extra headers; the answer's headers too (lower-cased names).
    func exchange(_ method: String, _ path: String, body: String?, token: String?, headers: [String: String] = [:])
        -> (status: Int, body: String, headers: [String: String]) {
        let headerFile = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-headers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        var arguments = ["-s", "-o", "-", "-D", headerFile, "-w", "\n%{http_code}", "-X", method, "--max-time", "15", url + path]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if body != nil { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        let outcome = CLI.execute("/usr/bin/curl", arguments, stdin: body.map { Array($0.utf8) }, environment: ProcessInfo.processInfo.environment)
        let text = outcome.stdoutText
        guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]) else {
            return (-1, outcome.stderr, [:])
        }
        var answerHeaders: [String: String] = [:]
        let headerText = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        for line in headerText.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            answerHeaders[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, String(text[..<newline]), answerHeaders)
    }
}
