/// A `secret:<name>` env value found in a spec, with the exact bytes to replace.
public struct SecretReference: Sendable, Hashable {
    /// The secret's name (the text after `secret:`).
    public var name: String
    /// Where `name` is in `SpecScan.secretNames`, so per-name results can
    /// live in an array instead of hashing the name again per reference.
    public var nameIndex: Int
    /// The env variable the reference is the value of, when the spec names it.
    public var envName: String?
    /// Where the scalar's text starts (after any anchor or tag).
    public var location: SourceLocation
    /// The scalar's bytes in the input, quotes included, anchor and tag excluded.
    public var byteRange: Range<Int>
}

/// What an env entry's value is, as far as secretfill is concerned.
public enum EnvValue: Sendable, Hashable {
    /// A literal string, exactly as YAML loads it.
    case text(String)
    /// A secret reference: an index into `SpecScan.references`.
    case reference(Int)
    /// A mapping or sequence where a string was expected.
    case nonScalar
    /// The entry has no `value` (Kubernetes `valueFrom`, for example).
    case absent
}

/// One `name`/`value` pair of an env block.
public struct EnvEntry: Sendable, Hashable {
    public var name: String?
    public var value: EnvValue
    public var location: SourceLocation
}

/// The value of an `env` (or `experimentEnv`) key: a list of name/value
/// mappings or a mapping of names to values.
public struct EnvBlock: Sendable, Hashable {
    /// The `name` beside the `env` key (a Kubernetes container, a Paperspace spec).
    public var owner: String?
    /// Keys from the document root down to the `env` key (`["jobs", "train", "env"]`),
    /// recorded for blocks within three levels of the root, where Gradient
    /// puts `defaults.env` and `jobs.<job>.env`; empty for deeper blocks.
    public var path: [String]
    /// Where the `env` key's value starts.
    public var location: SourceLocation
    /// 1-based index of the document in the stream.
    public var document: Int
    public var entries: [EnvEntry]
    /// The block pulls entries in through an alias or a merge key, which
    /// secretfill does not expand.
    public var usesAlias: Bool
}

/// Everything secretfill needs to know about one spec: its references, its
/// env blocks and the problems found while reading it.
public struct SpecScan: Sendable {
    public var references: [SecretReference] = []
    /// Each referenced name once, in order of first use.
    public var secretNames: [String] = []
    public var envBlocks: [EnvBlock] = []
    public var diagnostics: [Diagnostic] = []
    public var documentCount = 0
    /// Job names under a top-level `jobs` mapping (Gradient workflows), with
    /// their document, so `env --select JOB` works for jobs without an env.
    public var workflowJobs: [(document: Int, name: String)] = []
}

/// Limits that keep hostile input cheap; real specs stay far below them.
public struct ScanLimits: Sendable {
    /// Deepest nesting of mappings and sequences accepted.
    public var maximumDepth: Int
    /// Most documents accepted in one stream.
    public var maximumDocuments: Int

    public init(maximumDepth: Int = 1_000, maximumDocuments: Int = 100_000) {
        self.maximumDepth = maximumDepth
        self.maximumDocuments = maximumDocuments
    }
}
