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
    public static func replaceAtomically(_ path: String, mode: mode_t = 0o600,
                                         produce: (Int32) throws(IOError) -> Void) throws(IOError) {
        let temporary = try writeTemporary(beside: path, mode: mode, produce: produce)
        guard rename(temporary, path) == 0 else {
            let error = IOError("replace", path: path)
            unlink(temporary)
            throw error
        }
        syncDirectory(of: path)
    }

    /// Creates `path` with `bytes`, failing with EEXIST when it already
    /// exists; the file appears whole or not at all.
    public static func createExclusively(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(IOError) {
        let temporary = try writeTemporary(beside: path, mode: mode) { fd throws(IOError) in try write(bytes, to: fd, path: path) }
        defer { unlink(temporary) }
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

    private static func writeTemporary(beside path: String, mode: mode_t,
                                       produce: (Int32) throws(IOError) -> Void) throws(IOError) -> String {
        let prefix = temporaryPrefix(for: path)
        var attempt = 0
        while true {
            var random = SystemRandomNumberGenerator()
            let candidate = prefix + String(getpid()) + "-" + String(random.next() & 0xFFFF_FFFF, radix: 16)
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
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
                    unlink(candidate)
                    throw IOError("close", path: candidate)
                }
            } catch {
                close(fd)
                unlink(candidate)
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
}

/// An exclusive `flock` on a lock file beside the file it guards, released
/// when `unlock()` is called or the process ends (even by SIGKILL).
public final class FileLock {
    private var fd: Int32

    /// Blocks until the lock on `path` is held.
    public init(path: String) throws(IOError) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IOError("open lock file", path: path) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let error = IOError("lock", path: path)
            close(fd)
            fd = -1
            throw error
        }
    }

    public func unlock() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { unlock() }
}
