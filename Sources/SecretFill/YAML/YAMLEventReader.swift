import CYAML

/// Pulls libyaml events from a byte buffer held in memory and turns libyaml's
/// marks into byte offsets of that buffer.
///
/// libyaml counts `mark.index` in characters, not bytes, so splicing at
/// `index` would cut UTF-8 sequences apart after any non-ASCII text. The
/// reader walks the buffer forward from the last position it
/// converted, which costs one pass over the input in total when callers ask
/// in document order.
///
/// The parser lives on the heap and is always deleted, on every path, when the
/// reader goes away. The caller keeps `bytes` alive for the reader's lifetime.
struct YAMLEventReader: ~Copyable {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let bytes: UnsafeBufferPointer<UInt8>
    private let eventStorage: UnsafeMutablePointer<yaml_event_t>
    private var holdsEvent = false
    private var cursorCharacter = 0
    private var cursorByte: Int
    /// Byte offset where libyaml's character 0 starts (after a UTF-8 BOM).
    let contentStart: Int

    /// Fails when the buffer is not UTF-8 (UTF-16 and UTF-32 are refused rather
    /// than transcoded, so that every offset refers to the bytes as given).
    init(bytes: UnsafeBufferPointer<UInt8>) throws(YAMLSyntaxError) {
        // Every check and allocation happens before any property is set, so
        // a throw never leaves a half-built reader whose deinit would run.
        if let encoding = Self.foreignEncoding(of: bytes) {
            throw YAMLSyntaxError(
                problem: "the input is \(encoding); secretfill reads UTF-8 only (convert it with `iconv -t UTF-8`)",
                context: nil, location: SourceLocation(line: 1, column: 1))
        }
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        guard yaml_parser_initialize(parser) != 0 else {
            parser.deallocate()
            throw YAMLSyntaxError(problem: "libyaml could not allocate a parser", context: nil,
                                  location: SourceLocation(line: 1, column: 1))
        }
        yaml_parser_set_input_string(parser, bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, bytes.count)
        let eventStorage = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        eventStorage.initialize(to: yaml_event_t())
        let hasBOM = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        self.bytes = bytes
        self.parser = parser
        self.eventStorage = eventStorage
        contentStart = hasBOM ? 3 : 0
        cursorByte = hasBOM ? 3 : 0
    }

    deinit {
        if holdsEvent { yaml_event_delete(eventStorage) }
        eventStorage.deallocate()
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    /// The current event, valid after `next()` returned true and until the
    /// next call. Handed out as a pointer so that reading a field does not
    /// copy the whole event.
    var event: UnsafePointer<yaml_event_t> { UnsafePointer(eventStorage) }

    /// Advances to the next event. Returns false after STREAM-END; throws on
    /// a syntax error, after which the reader must not be used again.
    mutating func next() throws(YAMLSyntaxError) -> Bool {
        if holdsEvent {
            if eventStorage.pointee.type == YAML_STREAM_END_EVENT { return false }
            yaml_event_delete(eventStorage)
            holdsEvent = false
        }
        guard yaml_parser_parse(parser, eventStorage) != 0 else {
            throw currentError()
        }
        holdsEvent = true
        return true
    }

    /// Converts a libyaml mark to the byte offset it denotes in `bytes`.
    ///
    /// Invariant: `cursorCharacter` is the number of UTF-8 lead bytes in
    /// `contentStart..<cursorByte`. The target is the byte where lead byte
    /// number `mark.index` starts.
    ///
    /// Lead bytes are counted eight at a time without a branch per byte
    /// (a byte-by-byte walk through non-ASCII text mispredicted about
    /// eleven branches per call); only the last word is walked bytewise.
    mutating func byteOffset(of mark: yaml_mark_t) -> Int {
        let target = Int(mark.index)
        if target < cursorCharacter {
            cursorCharacter = 0
            cursorByte = contentStart
        }
        var character = cursorCharacter
        var byte = cursorByte
        let count = bytes.count
        let base = UnsafeRawPointer(bytes.baseAddress!)
        // Four words per step while the target is surely further than 32
        // characters away, then one word per step.
        while count - byte >= 32 && target - character >= 32 {
            let leads = Self.leadBytes(base.loadUnaligned(fromByteOffset: byte, as: UInt64.self))
                + Self.leadBytes(base.loadUnaligned(fromByteOffset: byte + 8, as: UInt64.self))
                + Self.leadBytes(base.loadUnaligned(fromByteOffset: byte + 16, as: UInt64.self))
                + Self.leadBytes(base.loadUnaligned(fromByteOffset: byte + 24, as: UInt64.self))
            if character + leads > target { break }
            character += leads
            byte += 32
        }
        while count - byte >= 8 {
            let leads = Self.leadBytes(base.loadUnaligned(fromByteOffset: byte, as: UInt64.self))
            if character + leads > target { break }
            character += leads
            byte += 8
        }
        // Lead number `target` is within the next eight bytes (or the
        // input ends first); continuation bytes before it belong to the
        // character before.
        while byte < count {
            if base.load(fromByteOffset: byte, as: UInt8.self) & 0xC0 != 0x80 {
                if character == target { break }
                character += 1
            }
            byte += 1
        }
        cursorCharacter = character
        cursorByte = byte
        return byte
    }

    /// How many of the word's eight bytes start a UTF-8 character (are not
    /// 0b10xxxxxx): a continuation byte has bit 7 set and bit 6 clear.
    @inline(__always)
    private static func leadBytes(_ word: UInt64) -> Int {
        let continuation = (word & ~(word << 1)) & 0x8080_8080_8080_8080
        // Each byte of `continuation >> 7` is 0 or 1; the multiply sums them
        // into the top byte (no POPCNT in the x86-64 baseline).
        return 8 - Int(truncatingIfNeeded: ((continuation >> 7) &* 0x0101_0101_0101_0101) >> 56)
    }

    /// 1-based line and column of a mark, as editors count them.
    static func location(of mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    private func currentError() -> YAMLSyntaxError {
        let p = parser.pointee
        let problem = p.problem.map { String(cString: $0) } ?? "unknown libyaml error"
        let context = p.context.map { String(cString: $0) }
        let location: SourceLocation
        if p.error == YAML_READER_ERROR {
            // Reader errors carry a byte offset and no mark.
            location = Self.location(ofByte: Int(p.problem_offset), in: bytes, contentStart: contentStart)
        } else if p.context != nil && p.problem_mark.line == 0 && p.problem_mark.column == 0 && p.problem_mark.index == 0 {
            location = Self.location(of: p.context_mark)
        } else {
            location = Self.location(of: p.problem_mark)
        }
        var detail = problem
        if p.error == YAML_READER_ERROR && p.problem_value != -1 {
            detail += " (byte 0x\(String(UInt8(truncatingIfNeeded: p.problem_value), radix: 16, uppercase: true)))"
        }
        return YAMLSyntaxError(problem: detail, context: context, location: location)
    }

    /// Line and column of a byte offset, counting characters in valid UTF-8
    /// and bytes in whatever is not.
    static func location(ofByte offset: Int, in bytes: UnsafeBufferPointer<UInt8>, contentStart: Int) -> SourceLocation {
        var line = 1
        var column = 1
        var i = contentStart
        let end = min(offset, bytes.count)
        while i < end {
            let b = bytes[i]
            if b == 0x0A {
                line += 1
                column = 1
            } else if b == 0x0D {
                if i + 1 < end && bytes[i + 1] == 0x0A { i += 1 }
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
            i += 1
        }
        return SourceLocation(line: line, column: column)
    }

    private static func foreignEncoding(of bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let n = bytes.count
        if n >= 4 && bytes[0] == 0x00 && bytes[1] == 0x00 && bytes[2] == 0xFE && bytes[3] == 0xFF { return "UTF-32BE" }
        if n >= 4 && bytes[0] == 0xFF && bytes[1] == 0xFE && bytes[2] == 0x00 && bytes[3] == 0x00 { return "UTF-32LE" }
        if n >= 2 && bytes[0] == 0xFE && bytes[1] == 0xFF { return "UTF-16BE" }
        if n >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE { return "UTF-16LE" }
        // Without a BOM, UTF-16 and UTF-32 text starts with a zero byte next to an ASCII one.
        if n >= 2 && (bytes[0] == 0x00) != (bytes[1] == 0x00) { return bytes[0] == 0 ? "UTF-16BE or UTF-32BE" : "UTF-16LE or UTF-32LE" }
        return nil
    }
}
