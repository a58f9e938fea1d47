// libFuzzer entry point over the YAML reader, the reference finder and the
// renderer. Built by scripts/fuzz.sh with -sanitize=fuzzer,address from the
// library sources that do not need swift-crypto.
//
// Oracle: whatever the input, scanning must end (no trap, no hang); a scan
// focused on one name (env --select) keeps exactly the entries of the blocks
// that name may select, equal to an unfocused scan's; and when a spec scans
// clean, rendering every reference with a hostile value must
// give YAML that scans clean again and loads each value back exactly, with
// every byte outside the references unchanged.

let fuzzValue = try! SecretValue(validating: "a\"b\\c\n: #x\u{85}\u{2028}\tend ")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let scanner = SpecScanner(limits: ScanLimits(maximumDepth: 200, maximumDocuments: 1_000), detail: .full)
    let scan = scanner.scan(input, file: "fuzz")
    checkFocus(input, against: scan)
    guard scan.diagnostics.allSatisfy({ $0.code == "duplicate-env-name" || $0.severity == .warning }), !scan.references.isEmpty else { return 0 }

    // Byte ranges are in order, inside the input, and start at a reference's text.
    var previous = 0
    for reference in scan.references {
        precondition(reference.byteRange.lowerBound >= previous && reference.byteRange.upperBound <= input.count, "range out of order")
        previous = reference.byteRange.upperBound
    }
    // Every referenced name has a value, and each reference points at its name.
    for reference in scan.references {
        precondition(scan.secretNames[reference.nameIndex] == reference.name, "name index points at another name")
    }
    let values = [SecretValue?](repeating: fuzzValue, count: scan.secretNames.count)
    let output = RenderedSpec(input: input, references: scan.references, values: values).bytes
    let again = scanner.scan(output, file: "fuzz-output")
    // A value like `SECRET:x` rendered is literal text that check warns about.
    precondition(again.diagnostics.allSatisfy { $0.code == "duplicate-env-name" || $0.severity == .warning }, "rendered output does not scan clean")
    precondition(again.references.isEmpty, "rendered output still has references")
    // Every entry that was a reference now loads as the value.
    let before = scan.envBlocks.flatMap(\.entries)
    let after = again.envBlocks.flatMap(\.entries)
    precondition(before.count == after.count, "env entries changed in number")
    for (b, a) in zip(before, after) {
        if case .reference = b.value {
            precondition(a.value == .text(fuzzValue.revealed), "a rendered value does not load back")
        } else {
            precondition(a.value == b.value, "a value that was not a reference changed")
        }
    }
    return 0
}

/// With a focus, each block keeps all its entries (equal to the unfocused
/// scan's) when the focus may select it, and none otherwise. Only for scans
/// that read to the end: a stop leaves owners unknown, and env fails then anyway.
private func checkFocus(_ input: [UInt8], against full: SpecScan) {
    let stops: Set<String> = ["yaml-syntax", "nesting-too-deep", "too-many-documents"]
    guard !full.diagnostics.contains(where: { stops.contains($0.code) }) else { return }
    let focus = full.envBlocks.lazy.compactMap(\.owner).first ?? "x"
    let focused = SpecScanner(limits: ScanLimits(maximumDepth: 200, maximumDocuments: 1_000), detail: .full, focus: focus)
        .scan(input, file: "fuzz")
    precondition(focused.envBlocks.count == full.envBlocks.count, "a focus changed the blocks found")
    for (f, b) in zip(focused.envBlocks, full.envBlocks) {
        precondition(f.owner == b.owner && f.path == b.path, "a focus changed a block's owner or path")
        let isJob = b.path.count == 3 && b.path[0] == "jobs"
        // EnvBlockSelector labels a block without an owner "".
        let selectable = isJob ? b.path[1] == focus : (b.path.count == 2 && b.path[0] == "defaults") || (b.owner ?? "") == focus
        precondition(f.entries == (selectable ? b.entries : []), "a focus kept or dropped the wrong entries")
    }
}
