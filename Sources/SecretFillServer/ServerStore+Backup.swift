import NIOConcurrencyHelpers
import SecretFill
import SecretFillAPI
#if canImport(Glibc)
import Glibc
#endif

/// `POST /v1/backup` (issue 27): `secretfill backup --server`.
extension ServerStore {
    /// Writes a backup of this server's database, as `secretfill backup
    /// --database` would (one snapshot, sealed under the store key), into a
    /// new file in the temporary folder (mode 0600) and returns its path,
    /// for the route to send and remove. Admin only; audited `backup`.
    func backupForDownload(audit: Bool, by actor: ActingKey, client: String) async throws -> String {
        try await requireAdmin(actor, "back up the server", action: "backup", names: [], client: client)
        let key = try requireKey()
        let folder = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let path = folder + "/secretfill-backup-" + BearerText.random(bytes: 12) + ".backup"
        _ = try await ServerBackup.write(database, key: key, to: path, audit: audit, progress: nil)
        do {
            try await run(audited: true) { sql in
                try await Self.audit(sql, key: actor.name, action: "backup", scope: "-", names: [], client: client, outcome: "ok")
            }
        } catch {
            unlink(path)
            throw error
        }
        return path
    }
}

/// A file read by the backup route's streaming answer, closed once.
final class BackupFileDescriptor: Sendable {
    private let fd: NIOLockedValueBox<Int32>

    init(_ fd: Int32) { self.fd = NIOLockedValueBox(fd) }

    /// Opens `path` and removes its name at once (the open descriptor keeps
    /// the file until it is closed), with its length.
    static func openAndUnlink(_ path: String) throws -> (BackupFileDescriptor, Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        unlink(path)
        guard fd >= 0 else { throw DatabaseUnavailable(detail: "the backup file could not be read back") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            Glibc.close(fd)
            throw DatabaseUnavailable(detail: "the backup file could not be read back")
        }
        return (BackupFileDescriptor(fd), Int(info.st_size))
    }

    /// Up to `count` bytes; empty at the end of the file.
    func read(upTo count: Int) throws -> [UInt8] {
        try fd.withLockedValue { fd in
            guard fd >= 0 else { return [] }
            var buffer = [UInt8](repeating: 0, count: count)
            while true {
                let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
                if got >= 0 { return Array(buffer.prefix(got)) }
                if errno != EINTR { throw DatabaseUnavailable(detail: "the backup file could not be read back") }
            }
        }
    }

    func close() {
        fd.withLockedValue { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    deinit { close() }
}
