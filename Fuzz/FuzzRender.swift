// libFuzzer entry point over the YAML reader, the reference finder and the
// renderer. Built by scripts/fuzz.sh with -sanitize=fuzzer,address from the
// library sources that do not need swift-crypto.
//
// Oracle: whatever the input, scanning must end (no trap, no hang); and when
// a spec scans clean, rendering every reference with a hostile value must
// give YAML that scans clean again and loads each value back exactly, with
// every byte outside the references unchanged.

let fuzzValue = try! SecretValue(validating: "a\"b\\c\n: #x\u{85}\u{2028}\tend ")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let scanner = SpecScanner(limits: ScanLimits(maximumDepth: 200, maximumDocuments: 1_000), detail: .full)
    let scan = scanner.scan(input, file: "fuzz")
    guard scan.diagnostics.allSatisfy({ $0.code == "duplicate-env-name" }), !scan.references.isEmpty else { return 0 }

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
    precondition(again.diagnostics.allSatisfy { $0.code == "duplicate-env-name" }, "rendered output does not scan clean")
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
