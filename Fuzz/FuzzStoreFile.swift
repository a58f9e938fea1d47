// libFuzzer entry point over the store file reader and its whole-file MAC:
// a store can come from a pull request, so the reader may not crash, hang or
// overflow the stack on any input, and no edit may pass the MAC check.
// Built by scripts/fuzz.sh store (links swift-crypto from .build/debug).
//
// Oracles:
// - decoding either fails with a StoreError or gives a document that
//   re-encodes and decodes to itself, MAC included;
// - resealing any decoded document gives one that verifies, and still does
//   after encode and decode;
// - a document that verifies under the demo key is, field by field, the demo
//   store (Fixtures/demo/store.json, the seed): any mutation of the seed that
//   changes a covered field (version, key fingerprint, any scope, id, name,
//   sealed value, update time) must fail the check;
// - the canonical encoding is injective: two documents with equal encodings
//   are equal field by field;
// - the canonical bytes the keyed open computes from the index (its fast
//   path) are exactly those of the decoded document.

import Foundation

private let demoKey = try! StoreKey(base64: "EkaHn/ZMFyf1vcLRyALir2+7xebjorgn/IfiD3uTe0s=", source: "demo")
private let reference: StoreDocument = {
    let bytes = try! Array(Data(contentsOf: URL(fileURLWithPath: "Fixtures/demo/store.json")))
    let document = try! StoreDocument.decode(bytes, path: "demo")
    precondition(StoreMAC.verify(document, key: demoKey), "the demo store must verify with the demo key")
    return document
}()
nonisolated(unsafe) private var previous: (canonical: [UInt8], document: StoreDocument)?

/// Field-by-field equality of what the MAC covers (empty scopes carry nothing).
private func sameCoveredFields(_ a: StoreDocument, _ b: StoreDocument) -> Bool {
    a.keyFingerprint == b.keyFingerprint && a.dataKey == b.dataKey && a.team == b.team
        && a.projects.filter { !$0.value.isEmpty } == b.projects.filter { !$0.value.isEmpty }
        && a.clusters.filter { !$0.value.isEmpty } == b.clusters.filter { !$0.value.isEmpty }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? StoreDocument.decode(input, path: "fuzz.json", allowLegacy: true)
    guard let index = try? StoreFileIndex(bytes: input, path: "fuzz.json"), let document = try? index.document() else { return 0 }
    // The keyed open's fast path encodes exactly what the document does.
    precondition((try? index.canonicalBytes()) == StoreCanonical.bytes(of: document), "the index's canonical bytes differ from the document's")
    let again = try? StoreDocument.decode(document.encoded(), path: "fuzz.json")
    precondition(again == document, "a decoded store does not survive encode and decode")

    if StoreMAC.verify(document, key: demoKey) {
        precondition(sameCoveredFields(document, reference), "an edited store passed the MAC check")
    }
    let resealed = document.sealed(with: demoKey)
    precondition(StoreMAC.verify(resealed, key: demoKey), "a freshly sealed store does not verify")
    let reread = try? StoreDocument.decode(resealed.encoded(), path: "fuzz.json")
    precondition(reread.map { StoreMAC.verify($0, key: demoKey) } == true, "a sealed store does not verify once written and read")

    let canonical = StoreCanonical.bytes(of: document)
    if let previous, previous.canonical == canonical {
        precondition(sameCoveredFields(previous.document, document), "two different stores have the same canonical encoding")
    }
    previous = (canonical, document)
    return 0
}
