import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import SecretFill
import SecretFillAPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `secretfill backup --server` (issue 27): the server's backup file
/// (`POST /v1/backup`), written where the caller runs.
extension TeamClient {
    /// How long the server may take to write its snapshot before the first
    /// byte of the answer, and the longest pause between two reads of it.
    static let backupSeconds: Int64 = 600

    /// Downloads the server's backup into `path` (mode 0600, written beside
    /// it and renamed into place only when every byte the server announced
    /// has come), and returns its size. Nothing is left behind on failure.
    public func downloadBackup(audit: Bool, to path: String, progress: (@Sendable (Int) -> Void)? = nil) async throws(ClientFailure) -> Int {
        let where_ = "the secretfill server at \(endpoint.url)"
        let token = try await bearer()
        var request = HTTPClientRequest(url: endpoint.url + "/v1/backup")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: audit ? #"{"audit": true}"# : #"{"audit": false}"#))
        try await checkCertificateNames(where_: where_)
        // A client of its own: the server writes the whole snapshot before its
        // first byte, which takes longer than the 10 s every other request gets.
        let http = Self.client(tls: tls, readSeconds: Self.backupSeconds)
        let file: DownloadFile
        do throws(SecretFill.IOError) { file = try DownloadFile(beside: path) } catch {
            try? await http.shutdown()
            throw .other("cannot write \(path): \(error.description)")
        }
        do {
            let response = try await http.execute(request, deadline: .now() + .seconds(Self.backupSeconds))
            guard response.status == .ok else {
                let body = try await response.body.collect(upTo: 1 << 20)
                throw Self.failure(status: response.status, body: Data(body.readableBytesView), where_: where_)
            }
            let announced = response.headers.first(name: "Content-Length").flatMap { Int($0) }
            for try await chunk in response.body {
                try file.write(chunk)
                progress?(file.written)
            }
            guard announced == nil || announced == file.written else {
                throw ClientFailure.unavailable("\(where_) sent \(file.written) of the backup's \(announced ?? 0) bytes; nothing was written")
            }
            try file.finish(replacing: path)
            try? await http.shutdown()
            return file.written
        } catch {
            file.abandon()
            try? await http.shutdown()
            switch error {
            case let failure as ClientFailure: throw failure
            case let failure as SecretFill.IOError: throw .other("cannot write \(path): \(failure.description); nothing was written")
            case let failure as HTTPClientError where failure == .deadlineExceeded || failure == .readTimeout:
                throw .unavailable("\(where_) did not send the backup within \(Self.backupSeconds) s")
            default: throw .unavailable("cannot reach \(where_) (\(Self.describe(error))); nothing was written")
            }
        }
    }
}

/// A file being downloaded: created beside its final path (`O_EXCL`, mode
/// 0600), renamed over it when complete, removed otherwise.
final class DownloadFile: @unchecked Sendable {
    let temporary: String
    private var fd: Int32
    private(set) var written = 0

    init(beside path: String) throws(SecretFill.IOError) {
        let target = try FileIO.replacementTarget(path)
        var random = SystemRandomNumberGenerator()
        let candidate = FileIO.temporaryPrefix(for: target) + String(getpid()) + "-" + String(random.next() & 0xFFFF_FFFF, radix: 16)
        let opened = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard opened >= 0 else { throw SecretFill.IOError("create", path: candidate) }
        temporary = candidate
        fd = opened
    }

    func write(_ chunk: ByteBuffer) throws(SecretFill.IOError) {
        let result: Result<Void, SecretFill.IOError> = chunk.withUnsafeReadableBytes { raw in
            Result { () throws(SecretFill.IOError) in try FileIO.writeAll(fd: fd, raw, path: temporary) }
        }
        try result.get()
        written += chunk.readableBytes
    }

    /// fsync, close, rename over `path`'s target, fsync the folder.
    func finish(replacing path: String) throws(SecretFill.IOError) {
        guard fsync(fd) == 0 else { throw SecretFill.IOError("write", path: temporary) }
        close(fd)
        fd = -1
        let target = try FileIO.replacementTarget(path)
        guard rename(temporary, target) == 0 else {
            let error = SecretFill.IOError("replace", path: target)
            unlink(temporary)
            throw error
        }
        FileIO.syncDirectory(of: target)
    }

    func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporary)
    }
}
