#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and crash-safe writes, done with POSIX calls so that
/// permissions and durability are exactly what a secret file needs.
///
/// Foundation's atomic `Data.write` on Linux does not keep mode 0600, so
/// secret files never go through it.
public enum FileIO {
    /// Reads all of `path`; `-` reads standard input.
    public static func readAll(_ path: String) throws(IOError) -> [UInt8] {
        if path == "-" { return try readAll(fd: 0, path: "<stdin>") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError("read", path: path) }
        defer { close(fd) }
        return try readAll(fd: fd, path: path)
    }

    /// Reads until end of file, sizing the buffer from `fstat` when it can
    /// and never zero-filling it first.
    public static func readAll(fd: Int32, path: String) throws(IOError) -> [UInt8] {
        var info = stat()
        var capacity = 64 * 1024
        if fstat(fd, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { throw IOError("read", path: path, code: EISDIR) }
            if (info.st_mode & S_IFMT) == S_IFREG && info.st_size > 0 { capacity = Int(info.st_size) + 1 }
        }
        var result: [UInt8] = []
        while true {
            var failure: Int32 = 0
            var reachedEnd = false
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                initialized = 0
                while initialized < buffer.count {
                    let n = read(fd, buffer.baseAddress! + initialized, buffer.count - initialized)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        return
                    }
                    if n == 0 {
                        reachedEnd = true
                        return
                    }
                    initialized += n
                }
            }
            if failure != 0 { throw IOError("read", path: path, code: failure) }
            if result.isEmpty { result = chunk } else { result.append(contentsOf: chunk) }
            if reachedEnd { return result }
            capacity = max(capacity, result.count)
        }
    }

    /// Writes every byte to `fd`, retrying short writes and EINTR.
    public static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(IOError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("write", path: path)
            }
            offset += n
        }
    }

    /// Writes every byte the vectors point at, in order, retrying short
    /// writes and EINTR. The vectors are consumed (adjusted) as they go out.
    public static func writeAll(fd: Int32, vectors: inout [iovec], path: String) throws(IOError) {
        var first = 0
        while first < vectors.count {
            let n = vectors.withUnsafeMutableBufferPointer { v in
                writev(fd, v.baseAddress! + first, Int32(v.count - first))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("write", path: path)
            }
            var written = n
            while first < vectors.count && written >= vectors[first].iov_len {
                written -= vectors[first].iov_len
                first += 1
            }
            if written > 0 {
                vectors[first].iov_base += written
                vectors[first].iov_len -= written
            }
        }
    }

    /// Replaces `path` with `bytes` so that readers see the old file or the
    /// new one, never a mix: a temporary file created `O_EXCL` with `mode` in
    /// the same folder, fsynced, renamed over `path`, then the folder fsynced.
    /// On any failure the temporary file is removed and `path` is untouched.
    public static func replaceAtomically(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(IOError) {
        try replaceAtomically(path, mode: mode) { fd throws(IOError) in try write(bytes, to: fd, path: path) }
    }

    /// As `replaceAtomically(_:with:mode:)`, with the content produced by
    /// `produce` writing to the temporary file's descriptor, so a large
    /// output never has to sit whole in memory.
    ///
    /// A symbolic link at `path` is followed: the regular file at the end of
    /// its chain is replaced in its own folder and the link stays a link. A
    /// link to nothing, or to something that is not a regular file, is refused.
    public static func replaceAtomically(_ path: String, mode: mode_t = 0o600,
                                         produce: (Int32) throws(IOError) -> Void) throws(IOError) {
        let target = try replacementTarget(path)
        let temporary = try writeTemporary(beside: target, mode: mode, produce: produce)
        guard rename(temporary, target) == 0 else {
            let error = IOError("replace", path: target)
            unlink(temporary)
            TemporaryFileGuard.disarm()
            throw error
        }
        TemporaryFileGuard.disarm()
        syncDirectory(of: target)
    }

    /// The file that replacing `path` must rename over: `path` itself, or,
    /// when it is a symbolic link, the regular file its chain ends at (so the
    /// link is kept and its target gets the new content).
    public static func replacementTarget(_ path: String) throws(IOError) -> String {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return path }
        guard let resolved = realpath(path, nil) else {
            let code = errno
            throw IOError("follow the symbolic link", path: path, code: code,
                          detail: "it leads to nothing that exists (\(String(cString: strerror(code)))); write to the file itself, or remove the link")
        }
        let target = String(cString: resolved)
        free(resolved)
        guard stat(target, &info) == 0 else { throw IOError("follow the symbolic link", path: path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw IOError("replace", path: path, code: EINVAL,
                          detail: "it is a symbolic link to \(target), which is not a regular file")
        }
        return target
    }

    /// Removes temporary files of `path` (`.NAME.tmp-PID-…`) left by writers
    /// that were killed: those whose PID no longer runs, or, with
    /// `evenIfWriterRuns` (for a caller holding the file's lock, which rules
    /// out a live writer), every one. Only regular files are removed.
    public static func removeStaleTemporaryFiles(for path: String, evenIfWriterRuns: Bool = false) {
        let (directory, namePrefix) = split(temporaryPrefix(for: path))
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name.hasPrefix(namePrefix) else { continue }
            let candidate = directory + "/" + name
            if !evenIfWriterRuns {
                let pidText = name.dropFirst(namePrefix.count).prefix { $0 != "-" }
                guard let pid = pid_t(pidText), pid > 0, pid != getpid() else { continue }
                guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            }
            var info = stat()
            guard lstat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            unlink(candidate)
        }
    }

    /// Creates `path` with `bytes`, failing with EEXIST when it already
    /// exists; the file appears whole or not at all.
    public static func createExclusively(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(IOError) {
        let temporary = try writeTemporary(beside: path, mode: mode) { fd throws(IOError) in try write(bytes, to: fd, path: path) }
        defer {
            unlink(temporary)
            TemporaryFileGuard.disarm()
        }
        guard link(temporary, path) == 0 else {
            throw IOError("create", path: path)
        }
        syncDirectory(of: path)
    }

    /// Prefix of the temporary files this type leaves only when killed.
    public static func temporaryPrefix(for path: String) -> String {
        let (directory, name) = split(path)
        return directory + "/." + name + ".tmp-"
    }

    /// Writes all of `bytes` to `fd`.
    public static func write(_ bytes: [UInt8], to fd: Int32, path: String) throws(IOError) {
        let written: Result<Void, IOError> = bytes.withUnsafeBytes { raw in
            Result { () throws(IOError) in try writeAll(fd: fd, raw, path: path) }
        }
        try written.get()
    }

    /// Creates and fills the temporary file; on success it is returned with
    /// `TemporaryFileGuard` still armed on it (the caller disarms it once the
    /// file is renamed or removed).
    private static func writeTemporary(beside path: String, mode: mode_t,
                                       produce: (Int32) throws(IOError) -> Void) throws(IOError) -> String {
        let prefix = temporaryPrefix(for: path)
        var attempt = 0
        while true {
            var random = SystemRandomNumberGenerator()
            let candidate = prefix + String(getpid()) + "-" + String(random.next() & 0xFFFF_FFFF, radix: 16)
            // Signals stay blocked from creation until the guard knows the
            // name, so no moment exists where a kill leaves the file behind.
            let blocked = TemporaryFileGuard.blockSignals()
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            if fd >= 0 { TemporaryFileGuard.arm(candidate) }
            TemporaryFileGuard.restoreSignals(blocked)
            if fd < 0 {
                if errno == EEXIST && attempt < 16 {
                    attempt += 1
                    continue
                }
                throw IOError("create a temporary file for", path: path)
            }
            do throws(IOError) {
                // The umask may have narrowed `mode`; secret files must be exactly it.
                guard fchmod(fd, mode) == 0 else { throw IOError("set permissions on", path: candidate) }
                try produce(fd)
                guard fsync(fd) == 0 else { throw IOError("sync", path: candidate) }
                guard close(fd) == 0 else {
                    let error = IOError("close", path: candidate)
                    unlink(candidate)
                    TemporaryFileGuard.disarm()
                    throw error
                }
            } catch {
                close(fd)
                unlink(candidate)
                TemporaryFileGuard.disarm()
                throw error
            }
            return candidate
        }
    }

    /// Flushes a folder's entry list so a rename survives a power cut.
    public static func syncDirectory(of path: String) {
        let fd = open(split(path).directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Folder and last component of a path (`.` when there is no slash).
    public static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// Creates `path` and missing parents with mode 0700 (an existing folder is left as it is).
    public static func makeDirectories(_ path: String) throws(IOError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw IOError("create folder", path: path, code: ENOTDIR) }
            return
        }
        let parent = split(path).directory
        if parent != path && parent != "." && parent != "/" { try makeDirectories(parent) }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw IOError("create folder", path: path) }
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Permission bits of `path`, or nil when it cannot be stat'ed.
    public static func permissions(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// The absolute path of this process's own executable, links resolved
    /// (`/proc/self/exe` on Linux), or nil when the system does not say.
    public static func ownExecutablePath() -> String? {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #elseif canImport(Darwin)
        var size: UInt32 = 0
        _ = _NSGetExecutablePath(nil, &size)
        var buffer = [CChar](repeating: 0, count: Int(size) + 1)
        guard _NSGetExecutablePath(&buffer, &size) == 0, let resolved = realpath(buffer, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
        #else
        return nil
        #endif
    }
}

/// An exclusive `flock` on a lock file beside the file it guards, released
/// when `unlock()` is called or the process ends (even by SIGKILL).
///
/// The lock file is opened `O_NOFOLLOW` and must be a regular file owned by
/// this user: in a shared folder someone else could plant a link or a file
/// of their own there. A lock held longer than the timeout is an error that
/// names the lock file, never an endless wait.
public final class FileLock {
    private var fd: Int32

    /// How long a writer waits for another one by default, in seconds.
    public static let defaultTimeout: Double = 10

    /// Waits up to `timeout` seconds for the lock on `path`.
    public init(path: String, timeout: Double = FileLock.defaultTimeout) throws(IOError) {
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw IOError("open lock file", path: path, code: ELOOP,
                              detail: "it is a symbolic link, and a lock file is never followed; remove the link")
            }
            throw IOError("open lock file", path: path)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw closing(IOError("open lock file", path: path)) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw closing(IOError("open lock file", path: path, code: EINVAL, detail: "it is not a regular file; remove it"))
        }
        guard info.st_uid == geteuid() else {
            throw closing(IOError("open lock file", path: path, code: EPERM,
                                  detail: "it is owned by uid \(info.st_uid), not by you (uid \(geteuid())); remove it if no one else uses this store"))
        }
        let deadline = Self.now() + max(0, timeout)
        // Short pauses: a waiting writer should take a freed lock promptly.
        var pause: useconds_t = 1_000
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            guard errno == EWOULDBLOCK else { throw closing(IOError("lock", path: path)) }
            guard Self.now() < deadline else {
                throw closing(IOError("lock", path: path, code: EWOULDBLOCK,
                                      detail: "another process has held it for \(Self.seconds(timeout)) s; try again when it is done, or wait longer with --lock-timeout SECONDS"))
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    private func closing(_ error: IOError) -> IOError {
        close(fd)
        fd = -1
        return error
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value)
    }

    public func unlock() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { unlock() }
}
