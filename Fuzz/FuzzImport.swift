// libFuzzer entry point over `secrets import`: the dotenv and JSON readers and
// the `${…}` expander. A .env can come from anyone, so neither may crash or
// hang, and expansion must stay bounded. Built by scripts/fuzz.sh import.
//
// Oracles:
// - parsing returns entries or problems, never traps; every entry's value
//   is at most 1 MiB and all of them together at most the total limit;
// - the expander, given the input as a value and earlier entries built from
//   it, never returns more than its limit, and with a limit no smaller than
//   the unbounded result it returns exactly that result.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    for format in SecretImport.Format.allCases {
        for skipEmpty in [false, true] {
            if case .success(let parsed) = SecretImport.parse(input, format: format, skipEmpty: skipEmpty) {
                var total = 0
                for entry in parsed.entries {
                    precondition(entry.value.utf8Count <= SecretValue.maximumBytes, "an imported value is over 1 MiB")
                    total += entry.value.utf8Count
                }
                precondition(total <= DotenvReader.totalLimit, "imported values pass the total limit")
            }
        }
    }
    guard let text = String(validating: input, as: UTF8.self) else { return 0 }
    // Earlier entries made from the input itself, so references find something.
    let scalars = Array(text.unicodeScalars)
    var defined: [String: String] = [:]
    for (i, name) in ["A", "B", "C"].enumerated() {
        var part = String.UnicodeScalarView()
        part.append(contentsOf: scalars.prefix(8 * (i + 1)))
        defined[name] = String(part)
    }
    defined["D"] = String(repeating: "d", count: 300)
    let limit = 1000
    switch DotenvReader.interpolate(text, defined: defined, limit: limit) {
    case .value(let out):
        precondition(out.utf8.count <= limit, "the expander passed its limit")
        if case .value(let unbounded) = DotenvReader.interpolate(text, defined: defined, limit: Int.max) {
            precondition(unbounded == out, "a limit changed a result that fits")
        }
    case .tooLarge:
        if case .value(let unbounded) = DotenvReader.interpolate(text, defined: defined, limit: Int.max) {
            precondition(unbounded.utf8.count > limit, "refused as too large, yet fits")
        }
    case .usesFailed:
        preconditionFailure("no name was marked failed")
    }
    return 0
}
