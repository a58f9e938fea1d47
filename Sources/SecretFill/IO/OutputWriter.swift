#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends a command's result where the user asked: standard output, or a
/// file replaced atomically with mode 0600.
///
/// What `-o PATH` does depends on what PATH is, links followed:
/// - a regular file, or nothing: a temporary file in the same folder is
///   renamed over it (through a symbolic link: over the link's final target,
///   in that target's folder; the link stays);
/// - a character device, FIFO or socket (`/dev/null`, `/dev/stdout`,
///   `/dev/fd/N`, a named pipe): written through in place, with no temporary
///   file, no rename and no change of mode;
/// - a folder, a block device, a link to nothing: refused.
///
/// A path that names one of this process's descriptors (`/dev/stdout`,
/// `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`, or a link that leads to
/// one) is written through that descriptor, whatever it is open on: with
/// stdout redirected to a file, `-o /dev/stdout` writes where `>` or `>>`
/// said, as a shell redirection would, instead of replacing the file.
public enum OutputWriter {
    /// Writes to `path` or, when nil or `-`, to stdout.
    /// A closed stdout surfaces as `IOError` with `EPIPE`.
    public static func emit(_ bytes: [UInt8], to path: String?) throws(IOError) {
        try emit(to: path) { fd throws(IOError) in try FileIO.write(bytes, to: fd, path: path ?? "standard output") }
    }

    /// Lets `produce` write the output to a descriptor: stdout, the device,
    /// FIFO or socket at `path`, or the temporary file that then replaces `path`.
    public static func emit(to path: String?, produce: (Int32) throws(IOError) -> Void) throws(IOError) {
        guard let path, path != "-" else {
            try produce(1)
            return
        }
        if let descriptor = descriptor(named: path) {
            let fd = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
            guard fd >= 0 else { throw IOError("write", path: path) }
            defer { close(fd) }
            try produce(fd)
            return
        }
        var info = stat()
        if stat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                break
            case S_IFCHR, S_IFIFO:
                try writeThrough(path, produce: produce)
                return
            case S_IFSOCK:
                try writeToSocket(path, info, produce: produce)
                return
            default:
                throw unsupported(path, info)
            }
        }
        let target = try FileIO.replacementTarget(path)
        FileIO.removeStaleTemporaryFiles(for: target)
        try FileIO.replaceAtomically(target, mode: 0o600, produce: produce)
    }

    /// Checks before any work that `path` can be written: a device, FIFO or
    /// socket as it is, otherwise a folder that exists and is writable (the
    /// link target's folder for a link), so a bad `-o` fails fast and names itself.
    public static func checkWritable(_ path: String?) throws(IOError) {
        guard let path, path != "-" else { return }
        if let descriptor = descriptor(named: path) {
            let flags = fcntl(descriptor, F_GETFL)
            guard flags >= 0, flags & O_ACCMODE != O_RDONLY else {
                throw IOError("write", path: path, code: EBADF, detail: "descriptor \(descriptor) is not open for writing")
            }
            return
        }
        var info = stat()
        if stat(path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFCHR, S_IFIFO:
                guard access(path, W_OK) == 0 else { throw IOError("write", path: path) }
                return
            case S_IFSOCK: return
            default: throw unsupported(path, info)
            }
        }
        let target = try FileIO.replacementTarget(path)
        let directory = FileIO.split(target).directory
        guard access(directory, W_OK | X_OK) == 0 else { throw IOError("write into the folder of", path: target) }
    }

    /// Whether `output` is the file `input` names (same device and inode,
    /// links followed); `input` nil or `-` means standard input.
    public static func isSameFile(output: String?, input: String?) -> Bool {
        guard let output, output != "-" else { return false }
        var out = stat(), source = stat()
        guard stat(output, &out) == 0, (out.st_mode & S_IFMT) == S_IFREG else { return false }
        if let input, input != "-" {
            guard stat(input, &source) == 0 else { return false }
        } else {
            guard fstat(0, &source) == 0 else { return false }
        }
        return out.st_dev == source.st_dev && out.st_ino == source.st_ino
    }

    /// The descriptor of this process that `path` names, directly or
    /// through links (at most 40 of them): `/dev/stdout` (1), `/dev/stderr`
    /// (2), `/dev/fd/N`, `/proc/self/fd/N`, `/proc/PID/fd/N` with this PID,
    /// when that descriptor is open; nil otherwise.
    static func descriptor(named path: String) -> Int32? {
        var current = path
        for _ in 0..<40 {
            if let fd = descriptorNumber(current) { return fcntl(fd, F_GETFD) >= 0 ? fd : nil }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count > 0 else { return nil }
            let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : FileIO.split(current).directory + "/" + target
        }
        return nil
    }

    private static func descriptorNumber(_ path: String) -> Int32? {
        switch path {
        case "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default: break
        }
        for prefix in ["/dev/fd/", "/proc/self/fd/", "/proc/\(getpid())/fd/"] where path.hasPrefix(prefix) {
            let rest = path.dropFirst(prefix.count)
            guard !rest.isEmpty, rest.count <= 9, rest.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int32(rest)
        }
        return nil
    }

    private static func unsupported(_ path: String, _ info: stat) -> IOError {
        if (info.st_mode & S_IFMT) == S_IFDIR { return IOError("write", path: path, code: EISDIR) }
        return IOError("write", path: path, code: EINVAL,
                       detail: "it is neither a regular file nor a character device, FIFO or socket")
    }

    /// A character device or FIFO: opened for writing as it is (no create,
    /// no truncate, no chmod), checked again once open.
    private static func writeThrough(_ path: String, produce: (Int32) throws(IOError) -> Void) throws(IOError) {
        let fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError("open for writing", path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw IOError("write", path: path) }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFCHR || kind == S_IFIFO || kind == S_IFSOCK else {
            throw IOError("write", path: path, code: EINVAL, detail: "it changed while being opened")
        }
        try produce(fd)
    }

    /// A socket cannot be opened by path: one this process holds (`/dev/fd/N`,
    /// `/proc/self/fd/N` when N is a socket) is written through a duplicate
    /// of its descriptor; otherwise a named Unix socket is connected to.
    private static func writeToSocket(_ path: String, _ target: stat,
                                      produce: (Int32) throws(IOError) -> Void) throws(IOError) {
        var fd: Int32 = -1
        var info = stat()
        for candidate in Int32(0)..<Int32(1024) where fstat(candidate, &info) == 0 {
            if info.st_dev == target.st_dev && info.st_ino == target.st_ino && (info.st_mode & S_IFMT) == S_IFSOCK {
                fd = fcntl(candidate, F_DUPFD_CLOEXEC, 0)
                break
            }
        }
        if fd < 0 { fd = try connectUnixSocket(path) }
        defer { close(fd) }
        try produce(fd)
    }

    private static func connectUnixSocket(_ path: String) throws(IOError) -> Int32 {
        guard let resolved = realpath(path, nil) else { throw IOError("open for writing", path: path) }
        let target = String(cString: resolved)
        free(resolved)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(target.utf8)
        let room = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < room else { throw IOError("connect to the socket", path: path, code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError("connect to the socket", path: path) }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let error = IOError("connect to the socket", path: path)
            close(fd)
            throw error
        }
        return fd
    }
}

/// A spec given on the command line: a path, `-`, or nothing (stdin).
public struct SpecSource: Sendable {
    /// How diagnostics name it: the path as given, or `<stdin>`.
    public var label: String
    public var bytes: [UInt8]

    public init(label: String, bytes: [UInt8]) {
        self.label = label
        self.bytes = bytes
    }

    public static func read(_ argument: String?) throws(IOError) -> SpecSource {
        guard let argument, argument != "-" else {
            return SpecSource(label: "<stdin>", bytes: try FileIO.readAll("-"))
        }
        return SpecSource(label: argument, bytes: try FileIO.readAll(argument))
    }
}
