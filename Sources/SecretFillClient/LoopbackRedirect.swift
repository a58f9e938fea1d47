import Foundation
import SecretFill
import SecretFillAPI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `secretfill login` as a person (issue 25): one redirect received on a
/// loopback port (RFC 8252 §7.3). The listener binds 127.0.0.1 on a port the
/// system picks, answers each request with a small page, and returns the
/// query of the first `GET /callback` that carries this login's `state`.
/// Nothing it receives is logged or printed.
final class LoopbackRedirect {
    let descriptor: Int32
    let port: Int

    init() throws(ClientFailure) {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw .other("cannot open a loopback port for the sign-in: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketDescriptor, $0, length) } }
        guard bound == 0, listen(socketDescriptor, 8) == 0 else {
            let reason = String(cString: strerror(errno))
            close(socketDescriptor)
            throw .other("cannot listen on a loopback port for the sign-in: \(reason)")
        }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketDescriptor, $0, &length) } }
        descriptor = socketDescriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }

    /// The query of the redirect that names `state`, or nil when none came within `timeoutSeconds`.
    func wait(state: String, timeoutSeconds: Int) -> [String: String]? {
        let deadline = UTCTime.nowSeconds() + timeoutSeconds
        while UTCTime.nowSeconds() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 500)
            guard ready > 0 else { continue }
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { continue }
            defer { close(connection) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            _ = setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while request.count < 16 * 1024, !request.ends(with: [13, 10, 13, 10]) {
                let count = read(connection, &buffer, buffer.count)
                guard count > 0 else { break }
                request += buffer[0..<count]
                if request.contains(subsequence: [13, 10, 13, 10]) { break }
            }
            let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
            let parts = line.split(separator: " ")
            guard parts.count >= 2, parts[0] == "GET", parts[1].hasPrefix("/callback?") else {
                respond(connection, status: "404 Not Found", "This address only receives secretfill login's sign-in.")
                continue
            }
            let query = Self.query(String(parts[1].dropFirst("/callback?".count)))
            guard let sent = query["state"], BearerText.constantTimeEqual(sent, state) else {
                respond(connection, status: "400 Bad Request", "This sign-in is not the one secretfill login is waiting for.")
                continue
            }
            respond(connection, status: "200 OK", "Signed in. You can close this window and go back to the terminal.")
            return query
        }
        return nil
    }

    func respond(_ connection: Int32, status: String, _ words: String) {
        let body = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>secretfill login</title></head><body><p>\(words)</p></body></html>"
        let head = "HTTP/1.1 \(status)\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n"
        let bytes = Array((head + body).utf8)
        _ = bytes.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
    }

    /// `a=1&b=2`, percent-decoded.
    static func query(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = parts.first else { continue }
            fields[String(name)] = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
        }
        return fields
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
    func contains(subsequence: [UInt8]) -> Bool {
        guard count >= subsequence.count else { return false }
        for start in 0...(count - subsequence.count) where Array(self[start..<(start + subsequence.count)]) == subsequence { return true }
        return false
    }
}

extension TeamClient {
    public func signInAsPerson(ttl: String?, timeoutSeconds: Int, open: @escaping @Sendable (String) -> Void) async throws(ClientFailure) -> LoginTokenResponse {
        // A --ttl the server would refuse is refused before anyone opens a browser:
        // the server checks ttl before the code, so an empty code asks only that.
        do {
            let _: LoginTokenResponse = try await send("/v1/login/token", LoginTokenRequest(code: "", verifier: String(repeating: "A", count: 43), ttl: ttl), bearer: nil)
        } catch {
            if case .invalid = error { throw error }
        }
        let listener = try LoopbackRedirect()
        let verifier = BearerText.random(bytes: 32)
        let state = BearerText.random(bytes: 32)
        let base = endpoint.url.hasSuffix("/") ? String(endpoint.url.dropLast()) : endpoint.url
        open(base + "/ui/oidc/cli?port=\(listener.port)&state=\(state)&challenge=\(BearerText.s256(verifier))")
        guard let query = listener.wait(state: state, timeoutSeconds: timeoutSeconds) else {
            throw .other("no sign-in arrived within \(timeoutSeconds / 60) minutes; run secretfill login again")
        }
        guard let code = query["code"], !code.isEmpty else {
            let words = query["error"].map { String($0.prefix(500)) } ?? "the server sent no sign-in code"
            throw .refused("the sign-in was refused: \(words)")
        }
        return try await send("/v1/login/token", LoginTokenRequest(code: code, verifier: verifier, ttl: ttl), bearer: nil)
    }

    public func logout() async throws(ClientFailure) {
        let _: SetResponse = try await post("/v1/logout", NoFields())
    }

    public func whoami() async throws(ClientFailure) -> WhoamiResponse {
        try await post("/v1/whoami", NoFields())
    }
}

/// `{}`: a request with nothing to say.
struct NoFields: Encodable {}
