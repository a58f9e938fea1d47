import CPKCS11
import Crypto
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An AES-256 key in a PKCS#11 token (an HSM, or SoftHSM2), used without
/// its bytes ever leaving the token (issue 27, the store key in an HSM).
///
/// The token does three things with it: AES-GCM sealing and opening of
/// small values (a data key's 32 bytes, with associated data), in the
/// layout swift-crypto's `AES.GCM.SealedBox.combined` has (12-byte nonce,
/// ciphertext, 16-byte tag); and AES of fixed, domain-separated blocks
/// (`block(_:)`), from which the key's fingerprint and other derived
/// values are made. A key the token lets out (`CKA_EXTRACTABLE` true) or
/// shows in clear (`CKA_SENSITIVE` false) is refused when opened.
///
/// One session per key, logged in as the user, used under a lock: a
/// PKCS#11 session is not to be used by two threads at once. A key lives as
/// long as the process: its session is closed by the module's C_Finalize
/// at exit (`PKCS11Module`), never by a deinit that could run on another
/// thread while the process exits.
public final class PKCS11Key: Sendable {
    public let spec: PKCS11Spec
    /// `pkcs11:sha256:` and 32 hex digits: SHA-256 of a domain-separated
    /// block encrypted by the token under the key. Not secret; the same for
    /// the same key in any session.
    public let fingerprint: String

    private let module: PKCS11Module
    private let handles: Mutex<(session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE)>

    /// The environment variable the PIN is read from.
    public static let pinVariable = "SECRETFILL_PKCS11_PIN"

    /// Loads the module, finds the token, logs in with `pin` (nil or empty:
    /// `pinMissing`), finds the key and checks its attributes.
    public static func open(_ spec: PKCS11Spec, pin: String?) throws(PKCS11Error) -> PKCS11Key {
        guard let pin, !pin.isEmpty else { throw .pinMissing(token: spec.token) }
        let module = try PKCS11Module.load(spec.module)
        let slot = try module.slot(labelled: spec.token)
        let session = try module.openSession(slot: slot, token: spec.token)
        do {
            try module.login(session, pin: pin, token: spec.token)
            let key = try module.findSecretKey(session, label: spec.key, token: spec.token)
            try module.check(session, key: key, label: spec.key, token: spec.token)
            let encrypted = try module.encryptBlock(session, key: key, block: fingerprintBlock, token: spec.token)
            var hasher = SHA256()
            hasher.update(data: Array("secretfill pkcs11 key fingerprint v1\n".utf8))
            hasher.update(data: encrypted)
            let fingerprint = "pkcs11:sha256:" + hex(Array(hasher.finalize().prefix(16)))
            return PKCS11Key(spec: spec, module: module, session: session, key: key, fingerprint: fingerprint)
        } catch {
            module.closeSession(session)
            throw error
        }
    }

    private init(spec: PKCS11Spec, module: PKCS11Module, session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, fingerprint: String) {
        self.spec = spec
        self.module = module
        self.handles = Mutex((session, key))
        self.fingerprint = fingerprint
    }

    /// The block whose encryption the fingerprint hashes (16 bytes).
    static let fingerprintBlock = Array("secretfill fp v1".utf8)

    /// AES (one block, ECB) of each 16-byte block of `blocks` under the key,
    /// in the token: a pseudorandom function of fixed inputs, for values
    /// derived from the key. `blocks.count` must be a multiple of 16; the
    /// fingerprint's block is refused, so a derived value is never the
    /// fingerprint's input.
    public func encryptBlocks(_ blocks: [UInt8]) throws(PKCS11Error) -> [UInt8] {
        precondition(blocks.count % 16 == 0 && !blocks.isEmpty, "whole AES blocks only")
        for start in stride(from: 0, to: blocks.count, by: 16) {
            precondition(Array(blocks[start..<start + 16]) != Self.fingerprintBlock, "the fingerprint's block is not a derivation input")
        }
        return try handles.withLock { handles throws(PKCS11Error) in
            try module.encryptBlock(handles.session, key: handles.key, block: blocks, token: spec.token)
        }
    }

    /// AES-256-GCM of `plaintext` in the token, with a random 12-byte nonce:
    /// nonce, ciphertext and 16-byte tag, as `AES.GCM.SealedBox.combined`.
    public func seal(_ plaintext: [UInt8], authenticating aad: [UInt8]) throws(PKCS11Error) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<12).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return try handles.withLock { handles throws(PKCS11Error) in
            nonce + (try module.gcm(encrypt: true, handles.session, key: handles.key, nonce: nonce, aad: aad, input: plaintext, token: spec.token))
        }
    }

    /// The plaintext of what `seal` made, or nil when the token finds that
    /// it does not open (another key, other associated data, changed bytes).
    public func open(_ combined: [UInt8], authenticating aad: [UInt8]) throws(PKCS11Error) -> [UInt8]? {
        guard combined.count >= 12 + 16 else { return nil }
        let nonce = Array(combined.prefix(12)), body = Array(combined.dropFirst(12))
        do {
            return try handles.withLock { handles throws(PKCS11Error) in
                try module.gcm(encrypt: false, handles.session, key: handles.key, nonce: nonce, aad: aad, input: body, token: spec.token)
            }
        } catch .failed(let function, let code, _) where function.hasPrefix("C_Decrypt (") && Self.doesNotOpen.contains(code) {
            return nil
        }
    }

    /// C_Decrypt's answers to a GCM tag that does not match: the standard's
    /// codes, and SoftHSM2's CKR_GENERAL_ERROR / CKR_FUNCTION_FAILED (it says
    /// no more). C_DecryptInit's failures are errors, never "does not open".
    static let doesNotOpen: Set<UInt> = [
        CKR_ENCRYPTED_DATA_INVALID, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_DATA_INVALID, CKR_DATA_LEN_RANGE,
        CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED,
    ]

    /// Asks the token for the key's value (`CKA_VALUE`): the answer of a
    /// key that is kept in the token is a refusal (`CKR_ATTRIBUTE_SENSITIVE`),
    /// returned as nil here. For tests and diagnostics; never used to seal.
    public func askForValue() -> [UInt8]? {
        handles.withLock { handles in module.readValue(handles.session, key: handles.key) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A loaded PKCS#11 module: its function list, initialized once for the
/// process (modules are loaded once and never unloaded).
final class PKCS11Module: @unchecked Sendable {
    // @unchecked: `functions` points into the module's own static table,
    // read-only, and the module is initialized with CKF_OS_LOCKING_OK for
    // use from several threads (sessions are guarded by their owners).
    let path: String
    private let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>

    private init(path: String, functions: UnsafeMutablePointer<CK_FUNCTION_LIST>) {
        self.path = path
        self.functions = functions
    }

    private static let loaded = Mutex<[String: PKCS11Module]>([:])

    static func load(_ path: String) throws(PKCS11Error) -> PKCS11Module {
        try loaded.withLock { modules throws(PKCS11Error) in
            if let module = modules[path] { return module }
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                let detail = dlerror().map { String(cString: $0) } ?? "dlopen failed"
                throw .moduleUnloadable(path: path, detail: detail)
            }
            guard let symbol = dlsym(handle, "C_GetFunctionList") else {
                throw .moduleUnloadable(path: path, detail: "it has no C_GetFunctionList: it is not a PKCS#11 module")
            }
            let getFunctionList = unsafeBitCast(symbol, to: CK_C_GetFunctionList.self)
            var list: UnsafeMutablePointer<CK_FUNCTION_LIST>? = nil
            let listed = getFunctionList(&list)
            guard listed == CKR_OK, let list else {
                throw .moduleUnloadable(path: path, detail: "C_GetFunctionList failed (\(PKCS11Error.name(of: listed)))")
            }
            guard list.pointee.version.major == 2 else {
                throw .moduleUnloadable(path: path, detail: "it implements PKCS#11 \(list.pointee.version.major).\(list.pointee.version.minor); secretfill uses version 2")
            }
            var arguments = CK_C_INITIALIZE_ARGS(CreateMutex: nil, DestroyMutex: nil, LockMutex: nil, UnlockMutex: nil,
                                                  flags: CK_FLAGS(CKF_OS_LOCKING_OK), pReserved: nil)
            let initialized = withUnsafeMutablePointer(to: &arguments) { list.pointee.C_Initialize!($0) }
            guard initialized == CKR_OK || initialized == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
                throw .moduleUnloadable(path: path, detail: "C_Initialize failed (\(PKCS11Error.name(of: initialized)))")
            }
            let module = PKCS11Module(path: path, functions: list)
            modules[path] = module
            // C_Finalize at exit, before the module's own static destructors
            // and OpenSSL's cleanup run (both registered earlier, so run
            // later): SoftHSM2 can crash at exit when it was never finalized.
            if modules.count == 1 { atexit { PKCS11Module.finalizeAll() } }
            return module
        }
    }


    /// Every loaded module finalized (sessions closed, logged out), once, at exit.
    static func finalizeAll() {
        loaded.withLock { modules in
            for module in modules.values { _ = module.functions.pointee.C_Finalize!(nil) }
            modules.removeAll()
        }
    }

    func slot(labelled label: String) throws(PKCS11Error) -> CK_SLOT_ID {
        var count: CK_ULONG = 0
        var result = functions.pointee.C_GetSlotList!(CK_BBOOL(1), nil, &count)
        guard result == CKR_OK else { throw .failed(function: "C_GetSlotList", code: result, token: label) }
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
        result = slots.withUnsafeMutableBufferPointer { functions.pointee.C_GetSlotList!(CK_BBOOL(1), $0.baseAddress, &count) }
        guard result == CKR_OK else { throw .failed(function: "C_GetSlotList", code: result, token: label) }
        var present: [String] = []
        for slot in slots.prefix(Int(count)) {
            var info = CK_TOKEN_INFO()
            guard functions.pointee.C_GetTokenInfo!(slot, &info) == CKR_OK, info.flags & CK_FLAGS(CKF_TOKEN_INITIALIZED) != 0 else { continue }
            let name = withUnsafeBytes(of: info.label) { raw in
                String(decoding: Array(raw).reversed().drop { $0 == 0x20 || $0 == 0 }.reversed(), as: UTF8.self)
            }
            if name == label { return slot }
            present.append(name)
        }
        throw .noToken(label: label, module: path, present: present)
    }

    func openSession(slot: CK_SLOT_ID, token: String) throws(PKCS11Error) -> CK_SESSION_HANDLE {
        var session: CK_SESSION_HANDLE = 0
        let result = functions.pointee.C_OpenSession!(slot, CK_FLAGS(CKF_SERIAL_SESSION), nil, nil, &session)
        guard result == CKR_OK else { throw .failed(function: "C_OpenSession", code: result, token: token) }
        return session
    }

    func closeSession(_ session: CK_SESSION_HANDLE) {
        _ = functions.pointee.C_CloseSession!(session)
    }

    func login(_ session: CK_SESSION_HANDLE, pin: String, token: String) throws(PKCS11Error) {
        var bytes = Array(pin.utf8)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        let result = bytes.withUnsafeMutableBufferPointer {
            functions.pointee.C_Login!(session, CK_USER_TYPE(CKU_USER), $0.baseAddress, CK_ULONG($0.count))
        }
        switch result {
        case CKR_OK, CKR_USER_ALREADY_LOGGED_IN: return
        case CKR_PIN_INCORRECT, CKR_PIN_INVALID, CKR_PIN_LEN_RANGE: throw .pinRefused(token: token)
        case CKR_PIN_LOCKED: throw .pinLocked(token: token)
        default: throw .failed(function: "C_Login", code: result, token: token)
        }
    }

    func findSecretKey(_ session: CK_SESSION_HANDLE, label: String, token: String) throws(PKCS11Error) -> CK_OBJECT_HANDLE {
        var keyClass = CK_OBJECT_CLASS(CKO_SECRET_KEY)
        var labelBytes = Array(label.utf8)
        let result: CK_RV = withUnsafeMutablePointer(to: &keyClass) { classPointer in
            labelBytes.withUnsafeMutableBufferPointer { labelPointer in
                var template = [
                    CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_CLASS), pValue: UnsafeMutableRawPointer(classPointer),
                                 ulValueLen: CK_ULONG(MemoryLayout<CK_OBJECT_CLASS>.size)),
                    CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_LABEL), pValue: UnsafeMutableRawPointer(labelPointer.baseAddress),
                                 ulValueLen: CK_ULONG(labelPointer.count)),
                ]
                return template.withUnsafeMutableBufferPointer {
                    functions.pointee.C_FindObjectsInit!(session, $0.baseAddress, CK_ULONG($0.count))
                }
            }
        }
        guard result == CKR_OK else { throw .failed(function: "C_FindObjectsInit", code: result, token: token) }
        var found = [CK_OBJECT_HANDLE](repeating: 0, count: 2)
        var count: CK_ULONG = 0
        let searched = found.withUnsafeMutableBufferPointer { functions.pointee.C_FindObjects!(session, $0.baseAddress, 2, &count) }
        _ = functions.pointee.C_FindObjectsFinal!(session)
        guard searched == CKR_OK else { throw .failed(function: "C_FindObjects", code: searched, token: token) }
        switch count {
        case 0: throw .noKey(label: label, token: token)
        case 1: return found[0]
        default: throw .severalKeys(label: label, token: token)
        }
    }

    /// An AES key of 32 bytes, never extractable and always sensitive.
    func check(_ session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, label: String, token: String) throws(PKCS11Error) {
        var keyType = CK_KEY_TYPE(0), length = CK_ULONG(0)
        var extractable = CK_BBOOL(1), sensitive = CK_BBOOL(0)
        let result = withUnsafeMutablePointer(to: &keyType) { typePointer in
            withUnsafeMutablePointer(to: &length) { lengthPointer in
                withUnsafeMutablePointer(to: &extractable) { extractablePointer in
                    withUnsafeMutablePointer(to: &sensitive) { sensitivePointer in
                        var template = [
                            CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_KEY_TYPE), pValue: UnsafeMutableRawPointer(typePointer), ulValueLen: CK_ULONG(MemoryLayout<CK_KEY_TYPE>.size)),
                            CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_VALUE_LEN), pValue: UnsafeMutableRawPointer(lengthPointer), ulValueLen: CK_ULONG(MemoryLayout<CK_ULONG>.size)),
                            CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_EXTRACTABLE), pValue: UnsafeMutableRawPointer(extractablePointer), ulValueLen: 1),
                            CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_SENSITIVE), pValue: UnsafeMutableRawPointer(sensitivePointer), ulValueLen: 1),
                        ]
                        return template.withUnsafeMutableBufferPointer {
                            functions.pointee.C_GetAttributeValue!(session, key, $0.baseAddress, CK_ULONG($0.count))
                        }
                    }
                }
            }
        }
        guard result == CKR_OK else { throw .failed(function: "C_GetAttributeValue", code: result, token: token) }
        guard keyType == CK_KEY_TYPE(CKK_AES) else { throw .notAES256(label: label, token: token, detail: "not an AES key (CKA_KEY_TYPE 0x\(String(keyType, radix: 16)))") }
        guard length == 32 else { throw .notAES256(label: label, token: token, detail: "an AES key of \(length) bytes") }
        guard extractable == 0 else { throw .attributeRefused(label: label, token: token, attribute: "CKA_EXTRACTABLE", value: true) }
        guard sensitive != 0 else { throw .attributeRefused(label: label, token: token, attribute: "CKA_SENSITIVE", value: false) }
    }

    /// CKM_AES_ECB of whole blocks (fixed inputs only: see `PKCS11Key.encryptBlocks`).
    func encryptBlock(_ session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, block: [UInt8], token: String) throws(PKCS11Error) -> [UInt8] {
        var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_ECB), pParameter: nil, ulParameterLen: 0)
        let started = functions.pointee.C_EncryptInit!(session, &mechanism, key)
        guard started == CKR_OK else { throw .failed(function: "C_EncryptInit (CKM_AES_ECB)", code: started, token: token) }
        return try run("C_Encrypt (CKM_AES_ECB)", session, input: block, capacity: block.count, encrypt: true, token: token)
    }

    /// CKM_AES_GCM with a 128-bit tag: `input` sealed (tag appended), or opened.
    func gcm(encrypt: Bool, _ session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, nonce: [UInt8], aad: [UInt8], input: [UInt8],
             token: String) throws(PKCS11Error) -> [UInt8] {
        var nonce = nonce, aad = aad
        let started: CK_RV = nonce.withUnsafeMutableBufferPointer { noncePointer in
            aad.withUnsafeMutableBufferPointer { aadPointer in
                var parameters = CK_GCM_PARAMS(pIv: noncePointer.baseAddress, ulIvLen: CK_ULONG(noncePointer.count),
                                               ulIvBits: CK_ULONG(noncePointer.count * 8), pAAD: aadPointer.baseAddress,
                                               ulAADLen: CK_ULONG(aadPointer.count), ulTagBits: 128)
                return withUnsafeMutablePointer(to: &parameters) { parametersPointer in
                    var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_GCM), pParameter: UnsafeMutableRawPointer(parametersPointer),
                                                 ulParameterLen: CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size))
                    return encrypt ? functions.pointee.C_EncryptInit!(session, &mechanism, key) : functions.pointee.C_DecryptInit!(session, &mechanism, key)
                }
            }
        }
        let name = encrypt ? "C_EncryptInit (CKM_AES_GCM)" : "C_DecryptInit (CKM_AES_GCM)"
        guard started == CKR_OK else { throw .failed(function: name, code: started, token: token) }
        return try run(encrypt ? "C_Encrypt (CKM_AES_GCM)" : "C_Decrypt (CKM_AES_GCM)", session, input: input,
                       capacity: input.count + 16, encrypt: encrypt, token: token)
    }

    /// One single-part C_Encrypt or C_Decrypt, with room for `capacity` bytes out.
    private func run(_ name: String, _ session: CK_SESSION_HANDLE, input: [UInt8], capacity: Int, encrypt: Bool,
                     token: String) throws(PKCS11Error) -> [UInt8] {
        var input = input
        var output = [UInt8](repeating: 0, count: max(capacity, 16))
        var length = CK_ULONG(output.count)
        let result = input.withUnsafeMutableBufferPointer { inputPointer in
            output.withUnsafeMutableBufferPointer { outputPointer in
                encrypt
                    ? functions.pointee.C_Encrypt!(session, inputPointer.baseAddress, CK_ULONG(inputPointer.count), outputPointer.baseAddress, &length)
                    : functions.pointee.C_Decrypt!(session, inputPointer.baseAddress, CK_ULONG(inputPointer.count), outputPointer.baseAddress, &length)
            }
        }
        for i in input.indices { input[i] = 0 }
        guard result == CKR_OK else {
            for i in output.indices { output[i] = 0 }
            throw .failed(function: name, code: result, token: token)
        }
        let out = Array(output.prefix(Int(length)))
        for i in output.indices { output[i] = 0 }
        return out
    }

    func readValue(_ session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> [UInt8]? {
        var template = CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_VALUE), pValue: nil, ulValueLen: 0)
        guard functions.pointee.C_GetAttributeValue!(session, key, &template, 1) == CKR_OK, template.ulValueLen != CK_ULONG.max else { return nil }
        var value = [UInt8](repeating: 0, count: Int(template.ulValueLen))
        let result = value.withUnsafeMutableBytes { raw -> CK_RV in
            template.pValue = raw.baseAddress
            return functions.pointee.C_GetAttributeValue!(session, key, &template, 1)
        }
        return result == CKR_OK ? value : nil
    }
}
