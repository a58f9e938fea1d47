import CPKCS11
import Crypto
import Foundation
import Logging
import SecretFill
import SecretFillAPI
import Testing
@testable import SecretFillPKCS11
@testable import SecretFillServer
#if canImport(Glibc)
import Glibc
#endif

/// The PKCS#11 declarations and `--key-pkcs11`'s text (issue 27). The
/// end-to-end tests against SoftHSM2 are `HSMCLITests`.
@Suite("PKCS#11")
struct PKCS11Tests {
    @Test("a spec: three parts in any order; a missing, repeated, empty or unknown part is explained")
    func spec() throws {
        let spec = try PKCS11Spec(parsing: "token=t 1;key=store key;module=/usr/lib/softhsm/libsofthsm2.so")
        #expect(spec.module == "/usr/lib/softhsm/libsofthsm2.so" && spec.token == "t 1" && spec.key == "store key")
        #expect(spec.description == "module=/usr/lib/softhsm/libsofthsm2.so;token=t 1;key=store key")
        let refusals: [(String, String)] = [
            ("module=m;token=t", "key is missing"),
            ("module=m;token=t;key=k;key=j", "key is given twice"),
            ("module=m;token=;key=k", "token is empty"),
            ("module=m;token=t;key=k;pin=1234", "\"pin\" is not one of module, token and key"),
            ("module=m;token=t;key", "\"key\" has no '='"),
            ("", "has no '='"),
        ]
        for (text, words) in refusals {
            #expect(throws: PKCS11Error.self) { try PKCS11Spec(parsing: text, option: "--new-key-pkcs11") }
            do {
                _ = try PKCS11Spec(parsing: text, option: "--new-key-pkcs11")
            } catch {
                #expect(error.isUsage && error.description.contains(words) && error.description.hasPrefix("--new-key-pkcs11 takes"), "\(error.description)")
            }
        }
        #expect(!PKCS11Error.pinRefused(token: "t").isUsage)
    }

    /// The table's entries against the module's own exported functions of
    /// the same names: a shifted or missing entry in `pkcs11_min.h` shows.
    @Test("CK_FUNCTION_LIST's layout matches SoftHSM2's table, entry by entry")
    func functionListLayout() throws {
        let candidates = [ProcessInfo.processInfo.environment["SECRETFILL_SOFTHSM"] ?? "", "/usr/lib/softhsm/libsofthsm2.so"]
        let path = try #require(candidates.first { !$0.isEmpty && FileManager.default.fileExists(atPath: $0) },
                                "SoftHSM2 is needed for this test: run `bash scripts/softhsm.sh` (scripts/test.sh does)")
        let handle = try #require(dlopen(path, RTLD_NOW | RTLD_LOCAL))
        let get = unsafeBitCast(try #require(dlsym(handle, "C_GetFunctionList")), to: CK_C_GetFunctionList.self)
        var list: UnsafeMutablePointer<CK_FUNCTION_LIST>? = nil
        #expect(get(&list) == CKR_OK)
        let table = try #require(list).pointee
        #expect(table.version.major == 2)
        let entries: [(String, UnsafeRawPointer?)] = [
            ("C_Initialize", unsafeBitCast(table.C_Initialize, to: UnsafeRawPointer?.self)),
            ("C_GetFunctionList", unsafeBitCast(table.C_GetFunctionList, to: UnsafeRawPointer?.self)),
            ("C_GetTokenInfo", unsafeBitCast(table.C_GetTokenInfo, to: UnsafeRawPointer?.self)),
            ("C_OpenSession", unsafeBitCast(table.C_OpenSession, to: UnsafeRawPointer?.self)),
            ("C_Login", unsafeBitCast(table.C_Login, to: UnsafeRawPointer?.self)),
            ("C_GetAttributeValue", unsafeBitCast(table.C_GetAttributeValue, to: UnsafeRawPointer?.self)),
            ("C_FindObjectsInit", unsafeBitCast(table.C_FindObjectsInit, to: UnsafeRawPointer?.self)),
            ("C_FindObjectsFinal", unsafeBitCast(table.C_FindObjectsFinal, to: UnsafeRawPointer?.self)),
            ("C_EncryptInit", unsafeBitCast(table.C_EncryptInit, to: UnsafeRawPointer?.self)),
            ("C_Encrypt", unsafeBitCast(table.C_Encrypt, to: UnsafeRawPointer?.self)),
            ("C_DecryptInit", unsafeBitCast(table.C_DecryptInit, to: UnsafeRawPointer?.self)),
            ("C_Decrypt", unsafeBitCast(table.C_Decrypt, to: UnsafeRawPointer?.self)),
            ("C_DecryptVerifyUpdate", unsafeBitCast(table.C_DecryptVerifyUpdate, to: UnsafeRawPointer?.self)),
            ("C_GenerateRandom", unsafeBitCast(table.C_GenerateRandom, to: UnsafeRawPointer?.self)),
            ("C_WaitForSlotEvent", unsafeBitCast(table.C_WaitForSlotEvent, to: UnsafeRawPointer?.self)),
        ]
        for (name, entry) in entries {
            let exported = dlsym(handle, name).map { UnsafeRawPointer($0) }
            #expect(entry != nil && entry == exported, "\(name): the table's entry is not the module's \(name)")
        }
        #expect(MemoryLayout<CK_FUNCTION_LIST>.size == MemoryLayout<UnsafeRawPointer>.size * 69)
    }

    struct Missing: Error, CustomStringConvertible { let description: String }

    /// A token of the test process's own, made once: SOFTHSM2_CONF is set
    /// for the whole process (these tests are its only users of SoftHSM2,
    /// which reads its configuration once, at C_Initialize).
    static let shared = Result { try makeToken() }
    /// The token's folder, removed when the test process exits.
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-pkcs11-\(UUID().uuidString)").path
    static func token() throws -> (module: String, pin: String) { try shared.get() }

    static func makeToken() throws -> (module: String, pin: String) {
        let candidates = [ProcessInfo.processInfo.environment["SECRETFILL_SOFTHSM"] ?? "", "/usr/lib/softhsm/libsofthsm2.so"]
        guard let module = candidates.first(where: { !$0.isEmpty && FileManager.default.fileExists(atPath: $0) }) else {
            throw Missing(description: "SoftHSM2 is needed for this test: run `bash scripts/softhsm.sh` (scripts/test.sh does)")
        }
        let folder = Self.folder
        atexit { try? FileManager.default.removeItem(atPath: PKCS11Tests.folder) }
        try FileManager.default.createDirectory(atPath: folder + "/tokens", withIntermediateDirectories: true)
        try "directories.tokendir = \(folder)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n".write(toFile: folder + "/softhsm2.conf", atomically: true, encoding: .utf8)
        setenv("SOFTHSM2_CONF", folder + "/softhsm2.conf", 1)
        let pin = "pin\(UInt32.random(in: 10_000_000...99_999_999))"
        for arguments in [["/usr/bin/softhsm2-util", "--init-token", "--free", "--label", "unit", "--pin", pin, "--so-pin", "so-\(pin)"],
                          ["/usr/bin/pkcs11-tool", "--module", module, "--token-label", "unit", "--login", "--pin", pin,
                           "--keygen", "--key-type", "AES:32", "--label", "k", "--sensitive"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: arguments[0])
            process.arguments = Array(arguments.dropFirst())
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw Missing(description: "\(arguments[0]) failed") }
        }
        return (module, pin)
    }

    @Test("in the token: a data key wraps and unwraps; another id, changed bytes or a key file's wrap do not open (nil, not an error); the fingerprint and backup MAC key are stable; the key's value is refused")
    func tokenWrap() throws {
        let (module, pin) = try Self.token()
        let key = try PKCS11Key.open(PKCS11Spec(module: module, token: "unit", key: "k"), pin: pin)
        let again = try PKCS11Key.open(PKCS11Spec(module: module, token: "unit", key: "k"), pin: pin)
        #expect(key.fingerprint.hasPrefix("pkcs11:sha256:") && key.fingerprint.count == "pkcs11:sha256:".count + 32)
        #expect(key.fingerprint == again.fingerprint, "the fingerprint differs between sessions")
        let storeKey = ServerStoreKey.token(key)
        #expect(try storeKey.backupMACKey() == (try ServerStoreKey.token(again).backupMACKey()))
        let data = StoreKey.generateDataKey()
        let wrapped = try storeKey.wrap(data.key, id: data.id)
        #expect(try storeKey.unwrap(wrapped, id: data.id)?.fingerprint == data.key.fingerprint)
        #expect(try ServerStoreKey.token(again).unwrap(wrapped, id: data.id)?.fingerprint == data.key.fingerprint)
        #expect(try storeKey.wrap(data.key, id: data.id) != wrapped, "two wraps share a nonce")
        #expect(try storeKey.unwrap(wrapped, id: "dk-0000000000000000") == nil)
        var bytes = Array(Data(base64Encoded: wrapped)!)
        bytes[20] ^= 1
        #expect(try storeKey.unwrap(Data(bytes).base64EncodedString(), id: data.id) == nil)
        let file = StoreKey.generate().key
        #expect(try storeKey.unwrap(file.wrap(data.key, id: data.id), id: data.id) == nil)
        #expect(file.unwrap(wrapped, id: data.id) == nil)
        #expect(throws: LegacyValueUnderToken.self) { try storeKey.legacyKey() }
        #expect(key.askForValue() == nil, "the token gave out the store key's bytes")
        // (A wrong PIN is HSMCLITests' to show: in this process the token is logged in already,
        // and PKCS#11 logins are per application, so C_Login answers CKR_USER_ALREADY_LOGGED_IN.)
        #expect(throws: PKCS11Error.pinMissing(token: "unit")) { try PKCS11Key.open(PKCS11Spec(module: module, token: "unit", key: "k"), pin: "") }
    }

    @Test("a local store file sealed under the key in the token: made, written and read in two sessions; its MAC is made in the token; a backup's MAC key is the one a token key always had")
    func localStoreInTheToken() throws {
        let (module, pin) = try Self.token()
        let key = try PKCS11Key.open(PKCS11Spec(module: module, token: "unit", key: "k"), pin: pin)
        let again = try PKCS11Key.open(PKCS11Spec(module: module, token: "unit", key: "k"), pin: pin)
        let path = Self.folder + "/local-\(UUID().uuidString).json"
        let store = try LocalSecretStore.create(at: path, key: key)
        try store.set([("db_password", try SecretValue(validating: "hunter2"))], in: .project("p1"))
        #expect(try LocalSecretStore(path: path, key: again).value(of: "db_password", in: .project("p1"))?.revealed == "hunter2")
        let document = try StoreDocument.decode(Array(FileManager.default.contents(atPath: path)!), path: path)
        let macKey = try again.storeMACKey()
        #expect(document.keyFingerprint == key.fingerprint && StoreMAC.verify(document, macKey: macKey))
        // A key file's key of the same use is another key.
        #expect(!StoreMAC.verify(document, macKey: try StoreKey.generate().key.storeMACKey()))
        // The backup MAC key, as the server made it before StoreSealingKey: HKDF of the token's two blocks.
        var material = try key.encryptBlocks(Array("secretfill mac 1secretfill mac 2".utf8))
        defer { for i in material.indices { material[i] = 0 } }
        let before = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: Array("secretfill".utf8),
                                            info: Array("secretfill backup mac v1 pkcs11".utf8), outputByteCount: 32)
        #expect(try ServerStoreKey.token(key).backupMACKey() == before)
        #expect(try key.storeMACKey() != before)
        #expect(key.legacyValueKey == nil && key.source == "key \"k\" in token \"unit\"")
    }

    @Test("a database with values from before envelope sealing moves into the token: they go under the data key first, then a server with the token key reads every value; rekey --data and the move back work")
    func legacyMovesIn() async throws {
        let (module, pin) = try Self.token()
        let token = ServerStoreKey.token(try PKCS11Key.open(PKCS11Spec(module: module, token: "unit", key: "k"), pin: pin))
        let (database, pool, path) = try await EnvelopeSealingTests.database(at: 5)
        defer { pool.cancel(); for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let file = try EnvelopeSealingTests.key()
        try await Migrations.checkKey(database, fingerprint: file.fingerprint)
        let legacy = Data(VersionedSealer.seal(try SecretValue(validating: Array("old-value".utf8)), name: "old", scope: .team, version: 1, key: file)).base64EncodedString()
        try await database.transaction { sql in
            try await sql.raw("INSERT INTO secrets (scope_kind, scope_id, name, current_version, deleted, updated_at, updated_by) VALUES ('team', '', 'old', 1, 0, 0, 'test')").run()
            try await sql.raw("INSERT INTO secret_versions (scope_kind, scope_id, name, version, sealed, created_at, created_by) VALUES ('team', '', 'old', 1, \(bind: legacy), 0, 'test')").run()
        }
        _ = try await Migrations.migrate(database)
        let chain = ScopeChain(project: nil, cluster: nil)

        let moved = try await DatabaseRekey.rewrap(.sqlite(path: path), current: .file(file), new: token)
        #expect(moved.summary.contains("1 value(s) sealed under the old store key itself were re-encrypted"), "\(moved.summary)")
        #expect(moved.summary.contains(token.fingerprint))
        let texts = try await EnvelopeSealingTests.sealedTexts(database)
        #expect(texts.allSatisfy { EnvelopeText.keyID(of: $0) != nil }, "a value is still under the key file itself: \(texts)")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let served = ServerStore(database: database, key: token, logger: logger, deadlines: (read: 300, write: 300))
        try await served.prepareDataKeys()
        _ = try await served.set([("new", try SecretValue(validating: Array("new-value".utf8)))], in: .team, by: .databaseOwner, client: "test")
        let read = try await served.resolve(chain: chain, names: ["old", "new"], by: .databaseOwner, client: "test")
        #expect(read.found["old"]?.value.revealed == "old-value" && read.found["new"]?.value.revealed == "new-value")
        // The key file opens nothing now.
        await #expect(throws: Migrations.KeyMismatch.self) { try await Migrations.checkKey(database, fingerprint: file.fingerprint) }

        #expect(try await DatabaseRekey.rotateData(.sqlite(path: path), key: token).summary.contains("2 value(s) re-encrypted"))
        let back = try EnvelopeSealingTests.key()
        _ = try await DatabaseRekey.rewrap(.sqlite(path: path), current: token, new: .file(back))
        let again = EnvelopeSealingTests.store(database, key: back)
        let reread = try await again.resolve(chain: chain, names: ["old", "new"], by: .databaseOwner, client: "test")
        #expect(reread.found["old"]?.value.revealed == "old-value" && reread.found["new"]?.value.revealed == "new-value")
        await database.close()
    }
}
