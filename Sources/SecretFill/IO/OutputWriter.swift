#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends a command's result where the user asked: standard output, or a
/// file replaced atomically with mode 0600.
public enum OutputWriter {
    /// Writes to `path` (atomically, 0600) or, when nil or `-`, to stdout.
    /// A closed stdout surfaces as `IOError` with `EPIPE`.
    public static func emit(_ bytes: [UInt8], to path: String?) throws(IOError) {
        try emit(to: path) { fd throws(IOError) in try FileIO.write(bytes, to: fd, path: path ?? "standard output") }
    }

    /// Lets `produce` write the output to a descriptor: stdout, or the
    /// temporary file that then replaces `path`.
    public static func emit(to path: String?, produce: (Int32) throws(IOError) -> Void) throws(IOError) {
        if let path, path != "-" {
            try FileIO.replaceAtomically(path, mode: 0o600, produce: produce)
        } else {
            try produce(1)
        }
    }

    /// Checks before any work that the folder of `path` exists and is
    /// writable, so a bad `-o` fails fast and names itself.
    public static func checkWritable(_ path: String?) throws(IOError) {
        guard let path, path != "-" else { return }
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw IOError("write", path: path, code: EISDIR)
        }
        let directory = FileIO.split(path).directory
        guard access(directory, W_OK | X_OK) == 0 else { throw IOError("write into the folder of", path: path) }
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
