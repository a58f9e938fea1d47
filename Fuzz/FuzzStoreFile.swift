// libFuzzer entry point over the store file reader and the import parsers:
// a store or a .env can come from a pull request, so neither may crash,
// hang or overflow the stack on any input. Built by scripts/fuzz.sh store.
//
// Oracle: decoding either fails with a StoreError or gives a document that
// re-encodes and decodes to itself; the import parsers return entries or
// problems, never trap.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    if let document = try? StoreDocument.decode(input, path: "fuzz.json") {
        let again = try? StoreDocument.decode(document.encoded(), path: "fuzz.json")
        precondition(again == document, "a decoded store does not survive encode and decode")
    }
    _ = SecretImport.parse(input, format: .dotenv)
    _ = SecretImport.parse(input, format: .json)
    return 0
}
