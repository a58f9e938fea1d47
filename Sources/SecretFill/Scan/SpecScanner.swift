import CYAML
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a spec once with libyaml's event parser and finds its env blocks and
/// secret references, without building a document tree.
///
/// Only scalars in env positions become Swift strings; every other scalar is
/// looked at as bytes, so the cost stays close to libyaml's own parse.
/// Aliases are never expanded: an alias that would carry a reference into a
/// place, or a reference inside an anchored node that an alias reuses, is
/// reported instead, because silently expanding it would change the spec's
/// shape and hide where a value ends up.
public struct SpecScanner: Sendable {
    /// How much of each env block to keep. Less detail is faster: render
    /// needs only the references, check also entry names, env everything.
    public enum Detail: Int, Sendable, Comparable {
        /// References and diagnostics only (render).
        case references
        /// Also env names, for duplicate detection and messages (check).
        case names
        /// Also literal values, owners and paths (env).
        case full

        public static func < (a: Detail, b: Detail) -> Bool { a.rawValue < b.rawValue }
    }

    public var limits: ScanLimits
    public var detail: Detail
    /// With `.full`, the one name that matters (`env --select`): blocks that
    /// belong to another name keep no entries and are not checked for
    /// duplicate names, since `env` writes and warns only about the block it
    /// selects; most of a large manifest's entries are in such blocks. A
    /// block belongs to another name when its owner (the first `name` beside
    /// it, before or after) is another, when it has no owner and the focus is
    /// not empty (`EnvBlockSelector` labels it ""), or when it is another
    /// Gradient job's `jobs.<job>.env`; `defaults.env` is always kept.
    public var focus: String?

    public init(limits: ScanLimits = ScanLimits(), detail: Detail = .full, focus: String? = nil) {
        self.limits = limits
        self.detail = detail
        self.focus = focus
    }

    /// Scans `bytes`; `file` only labels diagnostics.
    public func scan(_ bytes: UnsafeBufferPointer<UInt8>, file: String) -> SpecScan {
        var walker = SpecWalker(bytes: bytes, file: file, limits: limits, detail: detail, focus: focus)
        return walker.run()
    }

    public func scan(_ bytes: [UInt8], file: String) -> SpecScan {
        bytes.withUnsafeBufferPointer { scan($0, file: file) }
    }
}

/// What a mapping key means to the scanner.
private enum KeyKind: UInt8 {
    case other, env, name, value, merge, nonScalar
    /// An alias used as a key in an env mapping or entry: what it stands for
    /// is on `SpecWalker.aliasKeys`, and its value is checked for `secret:`.
    case aliased
}

/// What a collection is, for the scanner.
private enum Role: UInt8 {
    case plain
    /// `env:` as a list of entries.
    case envList
    /// `env:` as a mapping NAME: value.
    case envMap
    /// One `{name, value}` mapping inside an env list.
    case envEntry
}

/// One open collection. Trivially copyable on purpose: its text lives in
/// side buffers, so pushing, popping and reading a frame never retains or
/// releases anything (that bookkeeping once cost more than libyaml's own
/// work per event).
private struct Frame {
    var isMapping: Bool
    var role: Role
    /// Why an event at this frame cannot take a short path, as one byte so
    /// that the short paths test it with a single branch (each extra,
    /// data-dependent branch there cost mispredictions on every event).
    var slowBits: UInt8 = 0
    /// `role` is not `.plain`.
    static let notPlain: UInt8 = 1
    /// This collection or one around it carries an anchor, so scalars here
    /// must be checked for `secret:` text an alias could carry.
    static let anchored: UInt8 = 2
    /// This collection itself carries an anchor (its name is on `openAnchors`).
    static let ownAnchor: UInt8 = 4
    /// An env block in this mapping waits for its `name` (on `pendingOwners`).
    static let awaitsOwner: UInt8 = 8
    var expectingKey = true
    var key: KeyKind = .other
    /// For env blocks and their entries: whether the block's entries are
    /// stored (see `SpecScanner.focus`).
    var decision: BlockDecision = .keep
    /// Whether the slots at this depth in `keyBytes`, `ownerBytes` and
    /// `pathBytes` hold this frame's last key, `name` value and parent key.
    /// The owner is the first `name` in the mapping: a block's entries are
    /// kept or dropped as soon as its owner is known, so a second `name` key
    /// (a duplicate, which YAML loaders resolve to the last) must not change it.
    var hasKeyBytes = false
    var hasOwnerBytes = false
    var hasPathBytes = false
    /// Whether `envNameBytes` at this depth holds the env name: the current key
    /// of an env mapping, or the `name` of an env-list entry.
    var hasNameBytes = false
    /// For entries of an env list: what the `value` key held so far.
    var entryKind: EntryKind = .absent
    var entryReference = -1
    /// A text value's bytes in `SpecWalker.textArena`.
    var entryText: Range<Int> = 0..<0
    var keyLocation = SourceLocation(line: 0, column: 0)
    /// For env lists, env mappings and entries: the block's index.
    var block = -1
    var entryLocation = SourceLocation(line: 0, column: 0)
}

/// `EnvValue` without its payload, so `Frame` stays trivial.
private enum EntryKind: UInt8 {
    case absent, text, reference, nonScalar
}

/// Whether an env block's entries are stored, for `env --select NAME`.
private enum BlockDecision: UInt8 {
    /// The block may be the one selected (or there is no selection).
    case keep
    /// The block belongs to another name: only its names are checked.
    case drop
    /// The block's owner is a `name` key that may still follow it in the
    /// enclosing mapping: its entries wait in `SpecWalker.deferred`.
    case undecided
}

/// An env value while scanning: text stays bytes in `SpecWalker.textArena`
/// until its block is known to be kept, so blocks that turn out to belong to
/// another name never cost a `String`.
private enum ScannedValue {
    case absent
    case nonScalar
    case reference(Int)
    case text(Range<Int>)
}

/// An entry of an undecided block, kept as bytes until its owner is known.
private struct DeferredEntry {
    var block: Int
    var name: Range<Int>?
    var value: ScannedValue
    var location: SourceLocation
}

/// Raw scalar bytes kept by depth without making a `String`: keys near the
/// root (block paths) and `name` values (env owners) are recorded for every
/// mapping, but only the few beside an env block are ever needed as text.
/// Slots keep their capacity, so after warm-up recording allocates nothing;
/// which slot is valid is tracked by flags on `Frame`.
private struct DepthBytes: ~Copyable {
    private struct Slot {
        var base: UnsafeMutablePointer<UInt8>?
        var capacity = 0
        var count = 0
    }

    private var slots = PointerArray<Slot>(capacity: 8)

    deinit {
        for depth in 0..<slots.count { slots[depth].base?.deallocate() }
    }

    /// A `memcpy` into the slot's own buffer, which only ever grows.
    mutating func set(_ depth: Int, _ value: UnsafeBufferPointer<UInt8>) {
        while slots.count <= depth { slots.append(Slot()) }
        if slots[depth].capacity < value.count {
            slots[depth].base?.deallocate()
            let capacity = max(value.count, 32)
            slots[depth].base = .allocate(capacity: capacity)
            slots[depth].capacity = capacity
        }
        if let source = value.baseAddress, value.count > 0 {
            slots[depth].base!.update(from: source, count: value.count)
        }
        slots[depth].count = value.count
    }

    mutating func copy(from source: borrowing DepthBytes, at sourceDepth: Int, to depth: Int) {
        source.withBytes(sourceDepth) { set(depth, $0) }
    }

    func withBytes<R>(_ depth: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        body(UnsafeBufferPointer(start: slots[depth].base, count: slots[depth].count))
    }

    func text(_ depth: Int) -> String {
        withBytes(depth) { String(decoding: $0, as: UTF8.self) }
    }

    func append(_ depth: Int, to array: inout [UInt8]) {
        withBytes(depth) { array.append(contentsOf: $0) }
    }

    func equals(_ depth: Int, _ bytes: [UInt8]) -> Bool {
        withBytes(depth) { $0.elementsEqual(bytes) }
    }
}

/// A growable array addressed through a pointer, so that reading or writing
/// a field of an element touches only that field (Array's subscript would
/// hand out a copy of the whole element first).
private struct PointerArray<Element>: ~Copyable {
    private var base: UnsafeMutablePointer<Element>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    var isEmpty: Bool { count == 0 }
    /// Index of the last element, or nil when empty.
    var lastIndex: Int? { count > 0 ? count - 1 : nil }

    subscript(index: Int) -> Element {
        unsafeAddress { UnsafePointer(base + index) }
        nonmutating unsafeMutableAddress { base + index }
    }

    @inline(__always)
    mutating func append(_ element: consuming Element) {
        if count == capacity { grow() }
        (base + count).initialize(to: element)
        count += 1
    }

    @inline(never)
    private mutating func grow() {
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
        grown.moveInitialize(from: base, count: count)
        base.deallocate()
        base = grown
        capacity *= 2
    }

    /// Drops the last element; the caller knows there is one.
    @inline(__always)
    mutating func removeLast() {
        count -= 1
        (base + count).deinitialize(count: 1)
    }

    mutating func popLast() -> Element? {
        guard count > 0 else { return nil }
        count -= 1
        return (base + count).move()
    }
}

private struct AnchorInfo {
    var location: SourceLocation
    /// References found inside the anchored node (indices into references).
    var references: [Int] = []
    /// A scalar whose text starts with `secret:`, wherever it stands.
    var secretLike = false
    var scalarText: String?
    var isCollection: Bool
    var reported = false
    /// A scalar anchor whose text is `value`: as a key in an env entry, an
    /// alias of it stands for the entry's `value` key.
    var standsForValue = false
}

/// An alias used as a key in an env mapping or entry, until its value is seen.
private struct AliasKey {
    var depth: Int
    var anchor: String
    /// Where the anchor is, or nil when this document defines none of that name.
    var anchorLocation: SourceLocation?
    var location: SourceLocation
    /// The anchor is the scalar `value` (what it means in an env entry).
    var standsForValue: Bool
}

/// The env names of the open env blocks, for duplicate detection: one
/// `ByteStringTable` over all open blocks, each block a scope of its own, so
/// a lookup is a hash and usually one comparison, whatever the block's size
/// (a list scan per block mispredicted its exit on nearly every name). A
/// closing block's names are the newest, and are undone newest first.
private struct EnvNameStack: ~Copyable {
    private struct OpenBlock {
        var block: Int
        var firstName: Int
    }

    private var names = ByteStringTable()
    /// Where each name was first seen, by its number in `names`.
    private var locations: [SourceLocation] = []
    private var open: [OpenBlock] = []

    mutating func openBlock(_ block: Int) {
        open.append(OpenBlock(block: block, firstName: names.count))
    }

    /// Forgets `block`'s names when it is the innermost open block.
    mutating func closeBlock(_ block: Int) {
        guard let last = open.last, last.block == block else { return }
        names.removeLast(names.count - last.firstName)
        locations.removeSubrange(last.firstName...)
        open.removeLast()
    }

    /// Records `name` in `block`; returns where it was first seen when it is a repeat.
    mutating func insert(_ name: UnsafeBufferPointer<UInt8>, block: Int, at location: SourceLocation) -> SourceLocation? {
        guard open.last?.block == block || open.contains(where: { $0.block == block }) else { return nil }
        let (number, isNew) = names.insert(name, scope: block)
        guard isNew else { return locations[number] }
        locations.append(location)
        return nil
    }
}

/// One pass over the events. A struct, not a class, so that state access
/// is checked for exclusivity at compile time rather than on every event.
private struct SpecWalker: ~Copyable {
    let bytes: UnsafeBufferPointer<UInt8>
    let file: String
    let limits: ScanLimits
    let detail: SpecScanner.Detail
    var result = SpecScan()
    /// Open collections, innermost last.
    var frames = PointerArray<Frame>(capacity: 64)
    /// Text of env values and of deferred entries' names, for the current
    /// document (cleared when the next one starts).
    var textArena: [UInt8] = []
    /// Entries of undecided blocks, oldest first; a block's entries are
    /// stored or dropped when the mapping holding its `name` ends.
    var deferred: [DeferredEntry] = []
    /// Duplicate-name findings in undecided blocks, settled the same way.
    var deferredDuplicates: [(block: Int, diagnostic: Diagnostic)] = []
    var keyBytes = DepthBytes()
    var ownerBytes = DepthBytes()
    var pathBytes = DepthBytes()
    /// `SpecScanner.focus` as bytes, compared with `name` values without
    /// decoding them.
    let focusBytes: [UInt8]?
    /// Anchors of the current document: `anchorInfos[i]` describes the
    /// latest node anchored with name number `i` of `anchorNames`.
    var anchorNames = ByteStringTable()
    var anchorInfos: [AnchorInfo] = []
    /// Name numbers of the anchored collections still open, innermost last.
    var openAnchors: [Int] = []
    /// Env blocks created in a plain mapping, waiting for its `name` (depth, block).
    var pendingOwners: [(depth: Int, block: Int)] = []
    /// Env names seen in each open env block, for duplicate detection.
    /// Dropped when the block ends, so the tables stay small.
    var envNames = EnvNameStack()
    /// Env names by depth (see `Frame.hasNameBytes`).
    var envNameBytes = DepthBytes()
    /// Each referenced name, numbered as in `result.secretNames`.
    var secretNameTable = ByteStringTable(capacity: 256)
    /// Aliases used as keys in env mappings and entries whose value is still
    /// to come, by increasing depth (a slow path: only alias keys push here).
    var aliasKeys: [AliasKey] = []

    init(bytes: UnsafeBufferPointer<UInt8>, file: String, limits: ScanLimits, detail: SpecScanner.Detail, focus: String?) {
        self.bytes = bytes
        self.file = file
        self.limits = limits
        self.detail = detail
        focusBytes = focus.map { Array($0.utf8) }
    }

    mutating func run() -> SpecScan {
        var reader: YAMLEventReader
        do {
            reader = try YAMLEventReader(bytes: bytes)
        } catch {
            addSyntax(error)
            return result
        }
        do {
            while try reader.next() {
                if !handle(&reader) { break }
            }
        } catch {
            addSyntax(error)
        }
        // Only a stop or a syntax error leaves owners unresolved; keep those entries.
        settleDeferred(fromBlock: 0, keep: true)
        return result
    }

    // MARK: Events

    /// Returns false to stop reading. Inlined into `run`'s loop, so that the
    /// registers it needs are saved once per scan instead of once per event.
    ///
    /// Dispatches with plain comparisons, most frequent event first, rather
    /// than a `switch` (which compiles to a jump table): an indirect jump
    /// per event here made libyaml's own jump tables mispredict far more
    /// often (cachegrind: 28x its indirect mispredictions on the 10k spec).
    @inline(__always)
    private mutating func handle(_ reader: inout YAMLEventReader) -> Bool {
        let event = reader.event
        let type = event.pointee.type.rawValue
        if type == YAML_SCALAR_EVENT.rawValue {
            scalar(&reader, event)
        } else if type >= YAML_SEQUENCE_START_EVENT.rawValue {
            // SEQUENCE-START 7, SEQUENCE-END 8, MAPPING-START 9, MAPPING-END 10.
            if type & 1 == 0 {
                endCollection()
                return true
            }
            guard frames.count < limits.maximumDepth else {
                stopForDepth(at: event.pointee.start_mark)
                return false
            }
            let isMapping = type == YAML_MAPPING_START_EVENT.rawValue
            let anchorPointer = isMapping ? event.pointee.data.mapping_start.anchor : event.pointee.data.sequence_start.anchor
            startCollection(isMapping: isMapping, anchor: anchorPointer, at: event.pointee.start_mark)
        } else if type == YAML_ALIAS_EVENT.rawValue {
            alias(event)
        } else if type == YAML_DOCUMENT_START_EVENT.rawValue {
            result.documentCount += 1
            anchorNames.removeAll()
            anchorInfos.removeAll(keepingCapacity: true)
            // Every collection of the last document is closed, so no frame or
            // deferred entry points into the arena any more.
            if deferred.isEmpty { textArena.removeAll(keepingCapacity: true) }
            if result.documentCount > limits.maximumDocuments {
                stopForDocuments(at: event.pointee.start_mark)
                return false
            }
        }
        return true
    }

    // Kept out of line so `handle`, which runs for every event, stays small.
    @inline(never)
    private mutating func stopForDepth(at mark: yaml_mark_t) {
        add("nesting-too-deep", at: YAMLEventReader.location(of: mark),
            "nesting is deeper than \(limits.maximumDepth) levels; secretfill stops reading here")
    }

    @inline(never)
    private mutating func stopForDocuments(at mark: yaml_mark_t) {
        add("too-many-documents", at: YAMLEventReader.location(of: mark),
            "the stream has more than \(limits.maximumDocuments) documents; secretfill stops reading here")
    }

    /// Most scalars are keys or values of ordinary mappings, with no anchor
    /// in sight: those take a short path that only tracks keys. Everything
    /// else goes through `scalarInContext`.
    @inline(__always)
    private mutating func scalar(_ reader: inout YAMLEventReader, _ event: UnsafePointer<yaml_event_t>) {
        // `slowBits` has no `anchored` bit only when `openAnchors` is empty.
        if let top = frames.lastIndex, frames[top].slowBits & (Frame.notPlain | Frame.anchored) == 0,
           event.pointee.data.scalar.anchor == nil {
            guard frames[top].isMapping else { return }
            if frames[top].expectingKey {
                let value = UnsafeBufferPointer(start: event.pointee.data.scalar.value, count: Int(event.pointee.data.scalar.length))
                frames[top].key = keyKind(value, plain: event.pointee.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                recordKeyBytes(value, at: top)
                frames[top].expectingKey = false
            } else {
                // The first `name` names the mapping's env blocks (see `hasOwnerBytes`).
                if frames[top].key == .name && detail == .full && !frames[top].hasOwnerBytes {
                    let value = UnsafeBufferPointer(start: event.pointee.data.scalar.value, count: Int(event.pointee.data.scalar.length))
                    ownerBytes.set(top, value)
                    frames[top].hasOwnerBytes = true
                }
                frames[top].expectingKey = true
            }
            return
        }
        scalarInContext(&reader, event)
    }

    @inline(never)
    private mutating func scalarInContext(_ reader: inout YAMLEventReader, _ event: UnsafePointer<yaml_event_t>) {
        let data = event.pointee.data.scalar
        let value = UnsafeBufferPointer(start: data.value, count: Int(data.length))
        let hasProperties = data.anchor != nil || data.tag != nil
        let anchor = data.anchor
        if !openAnchors.isEmpty && startsWithSecretPrefix(value) {
            for open in openAnchors { anchorInfos[open].secretLike = true }
        }

        guard !frames.isEmpty else {
            if let anchor { defineScalarAnchor(anchor, value: value, at: YAMLEventReader.location(of: event.pointee.start_mark)) }
            return
        }
        let top = frames.count - 1
        if frames[top].isMapping && frames[top].expectingKey {
            mappingKey(value, plain: data.style == YAML_PLAIN_SCALAR_STYLE, at: event.pointee.start_mark)
            if let anchor { defineScalarAnchor(anchor, value: value, at: YAMLEventReader.location(of: event.pointee.start_mark)) }
            frames[top].expectingKey = false
            return
        }

        var referenceIndex: Int?
        if frames[top].isMapping {
            let role = frames[top].role
            let key = frames[top].key
            if key == .aliased {
                aliasKeyValue(at: top, carriesSecretText: startsWithSecretPrefix(value)
                    && data.style != YAML_LITERAL_SCALAR_STYLE && data.style != YAML_FOLDED_SCALAR_STYLE)
            } else if role == .envMap && key != .merge && key != .nonScalar {
                let entryValue = envValue(&reader, event, value, hasProperties: hasProperties)
                if case .reference(let i) = entryValue { referenceIndex = i }
                addEntry(block: frames[top].block, nameAt: frames[top].hasNameBytes ? top : nil, value: entryValue,
                         at: frames[top].keyLocation, decision: frames[top].decision)
            } else if role == .envEntry && key == .value {
                let entryValue = envValue(&reader, event, value, hasProperties: hasProperties)
                if case .reference(let i) = entryValue { referenceIndex = i }
                setEntryValue(entryValue, at: top)
            } else if role == .envEntry && key == .name {
                if detail >= .names {
                    envNameBytes.set(top, value)
                    frames[top].hasNameBytes = true
                }
            } else if role == .plain && key == .name {
                if detail == .full && !frames[top].hasOwnerBytes {
                    ownerBytes.set(top, value)
                    frames[top].hasOwnerBytes = true
                }
            }
            frames[top].expectingKey = true
        }
        if let anchor {
            let number = defineScalarAnchor(anchor, value: value, at: YAMLEventReader.location(of: event.pointee.start_mark))
            if let referenceIndex { anchorInfos[number].references.append(referenceIndex) }
        }
    }

    /// Classifies a key without a branch that depends on which key it is:
    /// keys of every length pass through here, and a chain of length tests
    /// mispredicted on most of them. The first two and last two bytes plus
    /// the length identify the candidates (exactly, for up to four bytes);
    /// only a match is confirmed byte by byte.
    @inline(__always)
    private func keyKind(_ value: UnsafeBufferPointer<UInt8>, plain: Bool) -> KeyKind {
        let n = value.count
        guard n >= 2 && n <= 13 else { return .other }
        let p = UnsafeRawPointer(value.baseAddress!)
        let signature = UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            | UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: n - 2, as: UInt16.self))) << 16
            | UInt64(n) << 32
        // Selects, not branches: at most one of these holds.
        var kind: UInt8 = 0
        kind |= signature == Self.nameSignature ? 1 : 0
        kind |= signature == Self.envSignature ? 2 : 0
        kind |= signature == Self.valueSignature ? 3 : 0
        kind |= signature == Self.mergeSignature ? 4 : 0
        kind |= signature == Self.experimentEnvSignature ? 5 : 0
        guard kind != 0 else { return .other }
        switch kind {
        case 1: return .name
        case 2: return .env
        case 3: return p.load(fromByteOffset: 2, as: UInt8.self) == UInt8(ascii: "l") ? .value : .other
        case 4: return plain ? .merge : .other
        default: return equals(value, "experimentEnv") ? .env : .other
        }
    }

    /// `keyKind`'s signatures of the special keys: the first two and last two
    /// bytes, little-endian, then the length (`SpecScannerTests` checks
    /// every special key and near misses).
    private static let nameSignature: UInt64 = 0x4_656D_616E  // "na" "me" 4
    private static let envSignature: UInt64 = 0x3_766E_6E65  // "en" "nv" 3
    private static let valueSignature: UInt64 = 0x5_6575_6176  // "va" "ue" 5
    private static let mergeSignature: UInt64 = 0x2_3C3C_3C3C  // "<<" "<<" 2
    private static let experimentEnvSignature: UInt64 = 0xD_766E_7865  // "ex" "nv" 13

    @inline(never)
    private mutating func mappingKey(_ value: UnsafeBufferPointer<UInt8>, plain: Bool, at mark: yaml_mark_t) {
        let top = frames.count - 1
        frames[top].key = keyKind(value, plain: plain)
        if frames[top].role == .envMap {
            if detail >= .names {
                envNameBytes.set(top, value)
                frames[top].hasNameBytes = true
            }
            frames[top].keyLocation = YAMLEventReader.location(of: mark)
        }
        recordKeyBytes(value, at: top)
    }

    /// With `.full`, keeps the bytes of keys near the root, for block paths
    /// and Gradient job names.
    @inline(__always)
    private mutating func recordKeyBytes(_ value: UnsafeBufferPointer<UInt8>, at top: Int) {
        guard detail == .full else { return }
        guard top < 3 else { return }
        keyBytes.set(top, value)
        frames[top].hasKeyBytes = true
        if top == 1 && frames[1].isMapping && frames[1].hasPathBytes && pathBytes.equals(1, Self.jobsKey) {
            result.workflowJobs.append((result.documentCount, String(decoding: value, as: UTF8.self)))
        }
    }

    private static let jobsKey = Array("jobs".utf8)

    /// A collection inside an ordinary one, not under an `env` key and
    /// without an anchor, only needs a frame; the rest go through
    /// `startCollectionInContext`.
    @inline(__always)
    private mutating func startCollection(isMapping: Bool, anchor: UnsafeMutablePointer<yaml_char_t>?, at mark: yaml_mark_t) {
        if anchor == nil, let top = frames.lastIndex, frames[top].slowBits & Frame.notPlain == 0,
           !frames[top].isMapping || (!frames[top].expectingKey && frames[top].key != .env) {
            frames.append(Frame(isMapping: isMapping, role: .plain, slowBits: frames[top].slowBits & Frame.anchored))
            if frames[top].isMapping { inheritPath(from: top) }
            return
        }
        startCollectionInContext(isMapping: isMapping, anchor: anchor, at: YAMLEventReader.location(of: mark))
    }

    @inline(never)
    private mutating func startCollectionInContext(isMapping: Bool, anchor: UnsafeMutablePointer<yaml_char_t>?, at location: SourceLocation) {
        var frame = Frame(isMapping: isMapping, role: .plain)
        var takesPath = false
        if let top = frames.lastIndex {
            let parentRole = frames[top].role
            if frames[top].isMapping {
                if frames[top].expectingKey {
                    // A complex key: nothing in it, nor the value after it, is an env value.
                    frames[top].key = .nonScalar
                    if frames[top].role == .envMap { frames[top].hasNameBytes = false }
                    frames[top].hasKeyBytes = false
                } else {
                    takesPath = true
                    let parentBlock = frames[top].block
                    switch (parentRole, frames[top].key) {
                    case (.plain, .env), (.envEntry, .env):
                        frame.role = isMapping ? .envMap : .envList
                        frame.block = newBlock(at: location)
                        frame.decision = decision(forNewBlock: frame.block, parent: top)
                        if detail >= .names { envNames.openBlock(frame.block) }
                        if parentRole == .plain {
                            pendingOwners.append((frames.count, frame.block))
                            frames[top].slowBits |= Frame.awaitsOwner
                        }
                    case (.envEntry, .value):
                        frames[top].entryKind = .nonScalar
                    case (.envMap, .merge), (.envEntry, .merge):
                        result.envBlocks[parentBlock].usesAlias = true
                    case (_, .aliased):
                        aliasKeyValue(at: top, carriesSecretText: false)
                    case (.envMap, _):
                        addEntry(block: parentBlock, nameAt: frames[top].hasNameBytes ? top : nil, value: .nonScalar,
                                 at: frames[top].keyLocation, decision: frames[top].decision)
                    default:
                        break
                    }
                }
            } else if parentRole == .envList && isMapping {
                frame.role = .envEntry
                frame.block = frames[top].block
                frame.decision = frames[top].decision
                frame.entryLocation = location
            }
        }
        frame.slowBits = (frame.role == .plain ? 0 : Frame.notPlain)
            | (frames.lastIndex.map { frames[$0].slowBits & Frame.anchored } ?? 0)
        if let anchor {
            openAnchors.append(defineAnchor(anchor, AnchorInfo(location: location, isCollection: true)))
            frame.slowBits |= Frame.anchored | Frame.ownAnchor
        }
        frames.append(frame)
        if takesPath { inheritPath(from: frames.count - 2) }
    }

    /// Closing an ordinary collection that no env block waits on only
    /// completes the node in its parent; the rest go through
    /// `endCollectionInContext`.
    @inline(__always)
    private mutating func endCollection() {
        if let top = frames.lastIndex, frames[top].slowBits & (Frame.notPlain | Frame.ownAnchor | Frame.awaitsOwner) == 0 {
            frames.removeLast()
            completeNode()
            return
        }
        endCollectionInContext()
    }

    @inline(never)
    private mutating func endCollectionInContext() {
        guard let frame = frames.popLast() else { return }
        // The popped frame's bytes stay in their depth slots until the next push.
        let depth = frames.count
        if frame.role == .envList || frame.role == .envMap { envNames.closeBlock(frame.block) }
        if frame.role == .envEntry {
            addEntry(block: frame.block, nameAt: frame.hasNameBytes ? depth : nil, value: entryValue(of: frame),
                     at: frame.entryLocation, decision: frame.decision)
        } else if frame.isMapping, let last = pendingOwners.last, last.depth == frames.count + 1 {
            resolveOwners(of: frame, at: depth)
        }
        if frame.slowBits & Frame.ownAnchor != 0 { openAnchors.removeLast() }
        completeNode()
    }

    private mutating func alias(_ event: UnsafePointer<yaml_event_t>) {
        let location = YAMLEventReader.location(of: event.pointee.start_mark)
        let number = anchorNames.index(of: cStringBytes(event.pointee.data.alias.anchor))
        if let number {
            var info = anchorInfos[number]
            let name = anchorNames.text(number)
            if let first = info.references.first {
                let referenceName = result.references[first].name
                add("alias-reaches-reference", at: location,
                    "alias '*\(name)' reaches secret reference '\(referenceName)' (anchored at \(info.location.line):\(info.location.column)); secretfill does not expand aliases, so write the reference out here",
                    name: referenceName)
                if !info.reported {
                    for index in info.references {
                        let reference = result.references[index]
                        add("anchored-reference", at: reference.location,
                            "secret reference '\(reference.name)' is inside anchor '&\(name)', which an alias reuses at \(location.line):\(location.column); move the reference out of the anchored node",
                            name: reference.name)
                    }
                    info.reported = true
                    anchorInfos[number] = info
                }
            } else if info.secretLike && isEnvPosition {
                add("alias-reaches-reference", at: location,
                    "alias '*\(name)' puts 'secret:' text (anchored at \(info.location.line):\(info.location.column)) into an env block; secretfill does not expand aliases, so write the reference out here")
            }
        }
        if let top = frames.lastIndex, frames[top].isMapping {
            if frames[top].expectingKey {
                frames[top].key = .nonScalar
                if frames[top].role == .envMap { frames[top].hasNameBytes = false }
                frames[top].hasKeyBytes = false
                frames[top].expectingKey = false
                if frames[top].role == .envMap || frames[top].role == .envEntry {
                    // `*k : secret:x`: a loader expands the key, so its value
                    // may be an env value (or an entry's `value`) that
                    // secretfill would never see; checked when it comes.
                    frames[top].key = .aliased
                    result.envBlocks[frames[top].block].usesAlias = true
                    let info = number.map { anchorInfos[$0] }
                    while let last = aliasKeys.last, last.depth >= top { aliasKeys.removeLast() }
                    aliasKeys.append(AliasKey(depth: top, anchor: String(decoding: cStringBytes(event.pointee.data.alias.anchor), as: UTF8.self),
                                              anchorLocation: info?.location, location: location,
                                              standsForValue: info.map { !$0.isCollection && $0.standsForValue } ?? false))
                }
                return
            }
            let info = number.map { anchorInfos[$0] }
            let text = info.flatMap { $0.isCollection ? nil : $0.scalarText }
            let parentRole = frames[top].role
            switch (parentRole, frames[top].key) {
            case (.envMap, .merge), (.envEntry, .merge):
                result.envBlocks[frames[top].block].usesAlias = true
            case (_, .aliased):
                // An alias after an alias key: its own check above covered it.
                aliasKeyValue(at: top, carriesSecretText: false)
            case (.envMap, _):
                addEntry(block: frames[top].block, nameAt: frames[top].hasNameBytes ? top : nil,
                         value: aliasValue(text, decision: frames[top].decision),
                         at: frames[top].keyLocation, decision: frames[top].decision)
            case (.envEntry, .value):
                setEntryValue(aliasValue(text, decision: frames[top].decision), at: top)
            case (.envEntry, .name):
                if var text, detail >= .names {
                    text.withUTF8 { envNameBytes.set(top, $0) }
                    frames[top].hasNameBytes = true
                }
            case (.plain, .env), (.envEntry, .env):
                let block = newBlock(at: location)
                result.envBlocks[block].usesAlias = true
                if parentRole == .plain {
                    pendingOwners.append((frames.count, block))
                    frames[top].slowBits |= Frame.awaitsOwner
                }
            default:
                break
            }
            frames[top].expectingKey = true
        } else if let top = frames.lastIndex, frames[top].role == .envList {
            result.envBlocks[frames[top].block].usesAlias = true
        }
    }

    /// Whether a node here would be (part of) an env block: the value of an
    /// `env` key, an entry of an env list, or a value or merge in an env mapping.
    /// A merge (`<<: *a`, `<<: [*a, *b]`) in an env entry or mapping
    /// counts, since it brings its keys into the entry or the block, and so
    /// does the value of an alias key there (`*k : *v`).
    private var isEnvPosition: Bool {
        guard let top = frames.lastIndex else { return false }
        if !frames[top].isMapping {
            if frames[top].role == .envList { return true }
            // A merge's list of aliases.
            guard top > 0, frames[top - 1].isMapping, !frames[top - 1].expectingKey, frames[top - 1].key == .merge else { return false }
            return frames[top - 1].role == .envEntry || frames[top - 1].role == .envMap
        }
        guard !frames[top].expectingKey else { return false }
        switch frames[top].role {
        case .envMap: return true
        case .envEntry:
            let key = frames[top].key
            return key == .value || key == .name || key == .merge || key == .aliased
        case .envList: return false
        case .plain: return frames[top].key == .env
        }
    }

    /// The value after an alias key in an env mapping or entry (see
    /// `aliasKeys`): an error at the alias when it is `secret:` text that a
    /// loader would make an env value, since secretfill never resolves it.
    @inline(never)
    private mutating func aliasKeyValue(at top: Int, carriesSecretText: Bool) {
        guard let index = aliasKeys.lastIndex(where: { $0.depth == top }) else { return }
        let key = aliasKeys[index]
        aliasKeys.removeSubrange(index...)
        guard carriesSecretText else { return }
        let anchored = key.anchorLocation.map { "anchored at \($0.line):\($0.column)" } ?? "not anchored in this document"
        if frames[top].role == .envMap {
            add("alias-reaches-reference", at: key.location,
                "alias '*\(key.anchor)' (\(anchored)) is the name of an env entry whose value is 'secret:' text; secretfill does not expand aliases, so write the name out here")
        } else if key.standsForValue {
            add("alias-reaches-reference", at: key.location,
                "alias '*\(key.anchor)' (\(anchored)) stands for the key 'value' of an env entry whose value is 'secret:' text; secretfill does not expand aliases, so write `value:` out here")
        }
    }

    @inline(__always)
    private mutating func completeNode() {
        if let top = frames.lastIndex, frames[top].isMapping {
            frames[top].expectingKey.toggle()
        }
    }

    // MARK: Env values

    private mutating func envValue(_ reader: inout YAMLEventReader, _ event: UnsafePointer<yaml_event_t>, _ value: UnsafeBufferPointer<UInt8>,
                          hasProperties: Bool) -> ScannedValue {
        let data = event.pointee.data.scalar
        let isBlockScalar = data.style == YAML_LITERAL_SCALAR_STYLE || data.style == YAML_FOLDED_SCALAR_STYLE
        guard !isBlockScalar, startsWithSecretPrefix(value) else {
            if !isBlockScalar && value.count >= 7 && value[6] == 0x3A { warnIfOtherCase(value, at: event.pointee.start_mark) }
            guard detail == .full && frames[frames.count - 1].decision != .drop else { return .text(0..<0) }
            return .text(isLoadedAsEmpty(value, style: data.style, hasTag: data.tag != nil) ? 0..<0 : appendText(value))
        }
        let startByte = reader.byteOffset(of: event.pointee.start_mark)
        var location = YAMLEventReader.location(of: event.pointee.start_mark)
        let textStart = hasProperties ? skipProperties(from: startByte, location: &location) : startByte
        if let tag = data.tag {
            let tagText = String(cString: tag)
            if tagText != "tag:yaml.org,2002:str" && tagText != "!" {
                add("tagged-reference", at: location,
                    "a secret reference cannot carry the tag '\(tagText)'; remove the tag or use !!str")
                return .nonScalar
            }
        }
        let nameBytes = UnsafeBufferPointer(rebasing: value[7...])
        guard SecretName.isValid(nameBytes) else {
            let detail = nameBytes.isEmpty ? "has no name after 'secret:'" : "does not name a valid secret: \(SecretName.ruleDescription)"
            add("malformed-reference", at: location, "malformed secret reference \(Self.quotedText(value)): it \(detail)")
            return .nonScalar
        }
        let (nameIndex, isNew) = secretNameTable.insert(nameBytes)
        if isNew { result.secretNames.append(String(decoding: nameBytes, as: UTF8.self)) }
        let name = result.secretNames[nameIndex]
        let endByte = reader.byteOffset(of: event.pointee.end_mark)
        let top = frames.count - 1
        let envName = frames[top].hasNameBytes ? envNameBytes.text(top) : nil
        result.references.append(SecretReference(name: name, nameIndex: nameIndex, envName: envName, location: location,
                                                 byteRange: textStart..<endByte))
        let index = result.references.count - 1
        for open in openAnchors { anchorInfos[open].references.append(index) }
        return .reference(index)
    }

    /// `SECRET:x`, `Secret:x`: almost certainly meant as a reference, but
    /// the prefix is `secret:` exactly, so this stays literal text. A
    /// warning, not an error (render writes it as it is).
    @inline(never)
    private mutating func warnIfOtherCase(_ value: UnsafeBufferPointer<UInt8>, at mark: yaml_mark_t) {
        let prefix: [UInt8] = Array("secret".utf8)
        for i in 0..<6 where value[i] | 0x20 != prefix[i] { return }
        let name = UnsafeBufferPointer(rebasing: value[7...])
        let suggestion = SecretName.isValid(name) ? "; for a reference write 'secret:\(String(decoding: name, as: UTF8.self))'" : ""
        result.diagnostics.append(Diagnostic(
            code: "reference-case", severity: .warning, file: file, location: YAMLEventReader.location(of: mark),
            message: "\(Self.quotedText(value)) is not a secret reference: the prefix is lower-case 'secret:'\(suggestion); as written it stays literal text"))
    }

    /// A scalar's text in quotes for a message, so blanks at its ends show;
    /// long text is cut (`…`). Control characters are escaped on output.
    static func quotedText(_ value: UnsafeBufferPointer<UInt8>) -> String {
        let text = String(decoding: value, as: UTF8.self)
        return text.count > 80 ? "'\(text.prefix(72))…'" : "'\(text)'"
    }

    /// Whether a YAML loader gives "" for this env value: plain nulls (and
    /// the empty scalar) load as null, which an env file writes as empty.
    private func isLoadedAsEmpty(_ value: UnsafeBufferPointer<UInt8>, style: yaml_scalar_style_t, hasTag: Bool) -> Bool {
        guard style == YAML_PLAIN_SCALAR_STYLE && !hasTag else { return value.isEmpty }
        return value.isEmpty || equals(value, "~") || equals(value, "null") || equals(value, "Null") || equals(value, "NULL")
    }

    /// Copies bytes into the arena and returns where they are.
    private mutating func appendText(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        let start = textArena.count
        textArena.append(contentsOf: bytes)
        return start..<textArena.count
    }

    /// What an alias of a scalar anchor puts in an env value: its text, or
    /// a non-scalar when it names a collection (or nothing known).
    private mutating func aliasValue(_ text: String?, decision: BlockDecision) -> ScannedValue {
        guard var text else { return .nonScalar }
        guard detail == .full && decision != .drop else { return .text(0..<0) }
        return .text(text.withUTF8 { appendText($0) })
    }

    /// Skips an anchor, a tag and the blanks or comments after them, so a
    /// replacement keeps `&a !!str` in place.
    private mutating func skipProperties(from start: Int, location: inout SourceLocation) -> Int {
        var i = start
        let n = bytes.count
        while i < n && (bytes[i] == UInt8(ascii: "&") || bytes[i] == UInt8(ascii: "!")) {
            while i < n && !isBlank(bytes[i]) {
                if bytes[i] & 0xC0 != 0x80 { location.column += 1 }
                i += 1
            }
            while i < n {
                let b = bytes[i]
                if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") {
                    location.column += 1
                    i += 1
                } else if b == 0x0A || b == 0x0D {
                    if b == 0x0D && i + 1 < n && bytes[i + 1] == 0x0A { i += 1 }
                    location.line += 1
                    location.column = 1
                    i += 1
                } else if b == UInt8(ascii: "#") {
                    while i < n && bytes[i] != 0x0A && bytes[i] != 0x0D { i += 1 }
                } else {
                    break
                }
            }
        }
        return i
    }

    // MARK: Frame strings

    /// With `.full`, gives the newest frame its parent's current key as its
    /// path element (kept near the root only, like the keys).
    @inline(__always)
    private mutating func inheritPath(from parent: Int) {
        guard detail == .full && frames[parent].hasKeyBytes else { return }
        pathBytes.copy(from: keyBytes, at: parent, to: parent + 1)
        frames[parent + 1].hasPathBytes = true
    }

    /// The value an env-list entry holds so far; `frame` may already be popped.
    private func entryValue(of frame: Frame) -> ScannedValue {
        switch frame.entryKind {
        case .absent: return .absent
        case .nonScalar: return .nonScalar
        case .reference: return .reference(frame.entryReference)
        case .text: return .text(frame.entryText)
        }
    }

    private mutating func setEntryValue(_ value: ScannedValue, at depth: Int) {
        switch value {
        case .absent:
            frames[depth].entryKind = .absent
        case .nonScalar:
            frames[depth].entryKind = .nonScalar
        case .reference(let index):
            frames[depth].entryKind = .reference
            frames[depth].entryReference = index
        case .text(let range):
            frames[depth].entryKind = .text
            frames[depth].entryText = range
        }
    }

    // MARK: Bookkeeping

    private mutating func newBlock(at location: SourceLocation) -> Int {
        var path: [String] = []
        if detail == .full && frames.count <= 3 {
            for depth in 1..<max(frames.count, 1) { path.append(frames[depth].hasPathBytes ? pathBytes.text(depth) : "?") }
            if let top = frames.lastIndex, frames[top].hasKeyBytes { path.append(keyBytes.text(top)) }
        }
        result.envBlocks.append(EnvBlock(owner: nil, path: path, location: location, document: result.documentCount,
                                         entries: [], usesAlias: false))
        return result.envBlocks.count - 1
    }

    /// Whether a new block's entries matter to `SpecScanner.focus`, as far
    /// as is known when it starts. Gradient's `defaults.env` and
    /// `jobs.<job>.env` are chosen by their path, whatever `name` sits beside
    /// them; any other block by its owner, which may only come later.
    private func decision(forNewBlock block: Int, parent top: Int) -> BlockDecision {
        guard detail == .full, let focusBytes else { return .keep }
        let path = result.envBlocks[block].path
        if path.count == 2 && path[0] == "defaults" { return .keep }
        if path.count == 3 && path[0] == "jobs" { return path[1].utf8.elementsEqual(focusBytes) ? .keep : .drop }
        if frames[top].hasOwnerBytes { return ownerBytes.equals(top, focusBytes) ? .keep : .drop }
        // Only a plain mapping can still show a `name`; a block nested in an
        // env entry never gets an owner.
        if frames[top].role == .plain { return .undecided }
        return focusBytes.isEmpty ? .keep : .drop
    }

    /// The mapping `frame` (now closed, at `depth`) held the `name` of the
    /// env blocks waiting on it: record it as their owner, then store or
    /// drop their deferred entries.
    @inline(never)
    private mutating func resolveOwners(of frame: Frame, at depth: Int) {
        let owner = frame.hasOwnerBytes ? ownerBytes.text(depth) : nil
        var first = pendingOwners.count
        while first > 0 && pendingOwners[first - 1].depth == depth + 1 {
            first -= 1
            result.envBlocks[pendingOwners[first].block].owner = owner
        }
        if !deferred.isEmpty || !deferredDuplicates.isEmpty {
            let keeps = focusBytes.map { focus in owner == nil ? focus.isEmpty : ownerBytes.equals(depth, focus) } ?? true
            settleDeferred(fromBlock: pendingOwners[first].block, keep: keeps)
        }
        pendingOwners.removeSubrange(first...)
    }

    /// Stores (or drops) the deferred entries and findings of blocks
    /// numbered `fromBlock` or more, in order, then forgets them.
    ///
    /// When a mapping ends, every block created inside it that waited on an
    /// inner mapping has been settled already, so the blocks that waited
    /// on this one are the newest deferred ones: a suffix of each list.
    @inline(never)
    private mutating func settleDeferred(fromBlock lowestBlock: Int, keep: Bool) {
        var start = deferred.count
        while start > 0 && deferred[start - 1].block >= lowestBlock { start -= 1 }
        if keep {
            for entry in deferred[start...] {
                let name = entry.name.map { range in textArena.withUnsafeBufferPointer { String(decoding: $0[range], as: UTF8.self) } }
                result.envBlocks[entry.block].entries.append(EnvEntry(name: name, value: stored(entry.value), location: entry.location))
            }
        }
        deferred.removeSubrange(start...)
        start = deferredDuplicates.count
        while start > 0 && deferredDuplicates[start - 1].block >= lowestBlock { start -= 1 }
        if keep { result.diagnostics += deferredDuplicates[start...].map(\.diagnostic) }
        deferredDuplicates.removeSubrange(start...)
    }

    /// The public form of a scanned value: text becomes a `String` here, once
    /// its entry is known to be kept.
    private func stored(_ value: ScannedValue) -> EnvValue {
        switch value {
        case .absent: return .absent
        case .nonScalar: return .nonScalar
        case .reference(let index): return .reference(index)
        case .text(let range):
            return .text(range.isEmpty ? "" : textArena.withUnsafeBufferPointer { String(decoding: $0[range], as: UTF8.self) })
        }
    }

    /// Records an entry of `block`, named by the bytes at `nameAt` when it
    /// has a name, and checks the name for duplicates. Both are stored,
    /// dropped, or deferred until the block's owner is known, as `decision`
    /// says.
    private mutating func addEntry(block: Int, nameAt depth: Int?, value: ScannedValue, at location: SourceLocation,
                                   decision: BlockDecision) {
        guard block >= 0, detail >= .names else { return }
        if detail == .full {
            switch decision {
            case .keep:
                result.envBlocks[block].entries.append(EnvEntry(name: depth.map { envNameBytes.text($0) }, value: stored(value),
                                                                location: location))
            case .undecided:
                let name = depth.map { depth in
                    let start = textArena.count
                    envNameBytes.append(depth, to: &textArena)
                    return start..<textArena.count
                }
                deferred.append(DeferredEntry(block: block, name: name, value: value, location: location))
            case .drop:
                break
            }
        }
        guard let depth, decision != .drop else { return }
        let first = envNameBytes.withBytes(depth) { envNames.insert($0, block: block, at: location) }
        if let first {
            let name = envNameBytes.text(depth)
            let duplicate = Diagnostic(
                code: "duplicate-env-name", file: file, location: location,
                message: "env name '\(name)' is set twice in this block (first at \(first.line):\(first.column)); the later entry silently wins at deploy time",
                name: name)
            if decision == .undecided {
                deferredDuplicates.append((block, duplicate))
            } else {
                result.diagnostics.append(duplicate)
            }
        }
    }

    /// Records a scalar anchor; its text is kept only where an alias of it
    /// could become an env name or value (check and env).
    @discardableResult
    private mutating func defineScalarAnchor(_ anchor: UnsafePointer<yaml_char_t>, value: UnsafeBufferPointer<UInt8>,
                                             at location: SourceLocation) -> Int {
        var info = AnchorInfo(location: location, isCollection: false)
        info.secretLike = startsWithSecretPrefix(value)
        info.standsForValue = equals(value, "value")
        if detail >= .names && !info.secretLike && value.count <= 4096 { info.scalarText = String(decoding: value, as: UTF8.self) }
        return defineAnchor(anchor, info)
    }

    /// Numbers the anchor's name and makes `info` its current node (a
    /// later anchor of the same name replaces an earlier one).
    private mutating func defineAnchor(_ anchor: UnsafePointer<yaml_char_t>, _ info: AnchorInfo) -> Int {
        let (number, isNew) = anchorNames.insert(cStringBytes(anchor))
        if isNew { anchorInfos.append(info) } else { anchorInfos[number] = info }
        return number
    }

    @inline(__always)
    private func cStringBytes(_ string: UnsafePointer<yaml_char_t>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: string, count: strlen(UnsafeRawPointer(string).assumingMemoryBound(to: CChar.self)))
    }

    private mutating func add(_ code: String, at location: SourceLocation, _ message: String, name: String? = nil) {
        result.diagnostics.append(Diagnostic(code: code, file: file, location: location, message: message, name: name))
    }

    private mutating func addSyntax(_ error: YAMLSyntaxError) {
        add("yaml-syntax", at: error.location, error.message)
    }

    // MARK: Bytes

    @inline(__always) private func isBlank(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
    }

    @inline(__always) private func startsWithSecretPrefix(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        value.count >= 7 && value[0] == 0x73 && value[1] == 0x65 && value[2] == 0x63 && value[3] == 0x72
            && value[4] == 0x65 && value[5] == 0x74 && value[6] == 0x3A
    }

    @inline(__always) private func equals(_ value: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard value.count == literal.utf8CodeUnitCount else { return false }
        let p = literal.utf8Start
        for i in 0..<value.count where value[i] != p[i] { return false }
        return true
    }
}
