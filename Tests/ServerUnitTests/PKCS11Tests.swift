import CPKCS11
import Foundation
import SecretFill
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

    /// A token of the test's own (SOFTHSM2_CONF set for the whole test
    /// process: these tests are the only users of SoftHSM2 in it).
    static func token() throws -> (module: String, pin: String) {
        let candidates = [ProcessInfo.processInfo.environment["SECRETFILL_SOFTHSM"] ?? "", "/usr/lib/softhsm/libsofthsm2.so"]
        let module = try #require(candidates.first { !$0.isEmpty && FileManager.default.fileExists(atPath: $0) },
                                  "SoftHSM2 is needed for this test: run `bash scripts/softhsm.sh` (scripts/test.sh does)")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-pkcs11-\(UUID().uuidString)").path
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
            try #require(process.terminationStatus == 0, "\(arguments[0]) failed")
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
}
