#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The committed version of a store file, when its folder is a git work tree
/// and `HEAD` has it: what `secretfill store accept` compares against to say
/// which names a hand edit changed.
///
/// git runs as `Git` runs it (a trusted absolute path, no `SECRETFILL_*` in
/// its environment, nothing the repository configures started);
/// `cat-file blob` applies no filters or textconv either.
public enum StoreGitBaseline {
    /// The file's bytes at `HEAD`, or nil (not in git, not committed, no git).
    public static func committedBytes(of path: String) -> [UInt8]? {
        let (directory, name) = FileIO.split(path)
        return Git.output(["-C", directory, "cat-file", "blob", "HEAD:./" + name])
    }
}
