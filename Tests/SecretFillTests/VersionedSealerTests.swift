import Crypto
import Foundation
@testable import SecretFill
import Testing

@Suite("The team server's sealer: associated data and round trips")
struct VersionedSealerTests {
    static let key = try! StoreKey(base64: Fixture.demoKey, source: "test")
    static let scopes: [Scope] = [.team, .project("pr-1"), .cluster("c-9"), .project("p.ü")]

    /// The associated data as databases written so far hold it.
    static func written(name: String, scope: Scope, version: Int) -> [UInt8] {
        Array("secretfill-server/v1|\(scope.kind.rawValue)|\(scope.id ?? "")|\(name)|\(version)".utf8)
    }

    @Test("the associated data is byte for byte the form values were sealed with")
    func sameBytes() {
        for scope in Self.scopes {
            for version in [0, 1, 9, 10, 123_456_789, Int.max, -7, Int.min] {
                for name in ["db_password", "A", "x_1"] {
                    #expect(VersionedSealer.associatedData(name: name, scope: scope, version: version)
                        == Self.written(name: name, scope: scope, version: version), "\(scope) \(name) \(version)")
                }
            }
        }
    }

    @Test("a value sealed with the written form opens; moved to another name, scope or version it does not")
    func opens() throws {
        let value = try SecretValue(validating: "s3cr3t ünïcode")
        let box = try AES.GCM.seal(Array(value.revealed.utf8), using: Self.key.symmetricKey,
                                   authenticating: Self.written(name: "db_password", scope: .project("pr-1"), version: 3))
        let sealed = Array(box.combined!)
        #expect(try VersionedSealer.open(sealed, name: "db_password", scope: .project("pr-1"), version: 3, key: Self.key).revealed == value.revealed)
        #expect(try VersionedSealer.open(Data(sealed), name: "db_password", scope: .project("pr-1"), version: 3, key: Self.key).revealed == value.revealed)
        for (name, scope, version) in [("db_passwore", Scope.project("pr-1"), 3), ("db_password", .project("pr-2"), 3),
                                       ("db_password", .cluster("pr-1"), 3), ("db_password", .team, 3), ("db_password", .project("pr-1"), 4)] {
            #expect(throws: StoreError.self) { try VersionedSealer.open(sealed, name: name, scope: scope, version: version, key: Self.key) }
        }
        let resealed = VersionedSealer.seal(value, name: "n", scope: .team, version: 1, key: Self.key)
        #expect(try VersionedSealer.open(resealed, name: "n", scope: .team, version: 1, key: Self.key).revealed == value.revealed)
    }
}
