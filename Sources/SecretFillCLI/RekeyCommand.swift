import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import SecretFill
import SecretFillAPI
import SecretFillPKCS11

/// `secretfill rekey`: change the store key, or the data key, of the local
/// store file or of a team server's database (issue 27).
package struct RekeyCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "rekey",
        abstract: "Change the store key (or a server database's data key) while everything stays readable.",
        discussion: """
            A team server's database seals values under a data key, and keeps the data key \
            sealed ("wrapped") under the store key. With --database URL (else SECRETFILL_DATABASE_URL; \
            the store key is read as serve reads it):

              --new-key-file FILE     wraps the data key again under the key in FILE: instant, \
            no value is re-encrypted. Servers running now keep serving (they hold the data key); a \
            server started from now on needs the new key, and one given the old key refuses to \
            start, naming the fingerprint it expected. With --generate, FILE is created with a new \
            random key (mode 0600; an existing FILE is refused).
              --data                  makes a fresh data key and re-encrypts every value and kept \
            version under it, in batches of 500, while servers keep serving reads and writes; then \
            the old data key is destroyed. Interrupted at any moment (even kill -9), the same \
            command run again finishes. Run it after --new-key-file so the old store key opens nothing.
              --status                prints `done`, `in progress: N of M values` or `no rotation started`.

            The store key in an HSM (see README, "The store key in an HSM"): --key-pkcs11 \
            'module=PATH;token=LABEL;key=LABEL' instead of a key file (or the same spec in \
            SECRETFILL_KEY_PKCS11; the option wins), the PIN in SECRETFILL_PKCS11_PIN; the data key is wrapped and unwrapped inside the token. \
            --new-key-pkcs11 SPEC moves the database's data keys under a key in a token (values \
            sealed before envelope sealing are first moved under the data key with the old \
            key), and --new-key-file FILE with --key-pkcs11 SPEC moves them back to a key file. \
            Both are re-wraps: instant, and servers running now keep serving.

            Through a running server instead (--server URL or SECRETFILL_SERVER, with an admin \
            key), the server does the same with its own store key and the caller's key file is \
            neither read nor changed: --data starts the rotation on the server, which runs it on \
            its own, and the command follows it to the end; --new-key-file sends the new key to \
            the server (use https).

            Otherwise, the local store file, which keeps its own data key wrapped under the store \
            key: --new-key-file [--generate] wraps the data key again under the new key (no value \
            is re-encrypted) and then puts the new key in the configured key file \
            (SECRETFILL_KEY_FILE or the default). The store and the key file are replaced so that \
            after a crash at any point the store opens (with the old key, or with the new one kept \
            as KEYFILE.next until the key file is replaced), and the command run again finishes. \
            SECRETFILL_KEY (a key in the environment, no file to replace) is refused. --data makes \
            a fresh data key, re-encrypts every value under it and drops the old one, in one atomic \
            replace of the file; --status prints done once the file has its data key, or no \
            rotation started for a store written before data keys. Such a store is upgraded by its \
            next change or rekey, with no command of its own. --new-key-pkcs11 SPEC moves the local \
            store's key into a token (one atomic replace; the key file is left as it is, and opens \
            only copies taken before); from then on every command on the store needs \
            SECRETFILL_KEY_PKCS11 set to SPEC and the PIN in SECRETFILL_PKCS11_PIN. \
            --new-key-file FILE, with the key in the token, moves it back into the key file.

            What rotation does not do: copies taken before (the store file in git history, old \
            database dumps, backups) still open with the old key. Keep the old key as long as you \
            keep those copies, and no longer.

            Exit 0 done (or, with --status, the state printed); 2 the store, the database or a key \
            could not be used (nothing was changed, or the command can be run again to finish); \
            64 bad usage; 77 the server refused the key (not an admin key).

            Examples:
              secretfill rekey --new-key-file new.key --generate
              secretfill rekey --database postgres://secretfill@db/secretfill --new-key-file /etc/secretfill/key.2027 --generate
              secretfill rekey --database postgres://secretfill@db/secretfill --data
              secretfill rekey --database postgres://secretfill@db/secretfill --status
              secretfill rekey --database sqlite:server.db --new-key-pkcs11 "$HSM"
              secretfill rekey --new-key-pkcs11 "$HSM"
              secretfill rekey --server https://secrets.acme.dev --data
            """)

    @Option(help: ArgumentHelp("The team server's database (postgres://… or sqlite:PATH); without it, the local store file.", valueName: "url"))
    var database: String?

    @Option(help: ArgumentHelp("The new store key: a key file (base64 of 32 bytes), mode 0600.", valueName: "file"))
    var newKeyFile: String?

    @Flag(help: "Create --new-key-file with a new random key (an existing file is refused).")
    var generate = false

    @Option(name: .customLong("new-key-pkcs11"), help: ArgumentHelp(
        "The new store key: an AES-256 key in a PKCS#11 token, 'module=PATH;token=LABEL;key=LABEL' (the PIN in SECRETFILL_PKCS11_PIN).",
        valueName: "spec"))
    var newKeyPKCS11: String?

    @Option(name: .customLong("key-pkcs11"), help: ArgumentHelp(
        "The current store key in an HSM instead of a key file: 'module=PATH;token=LABEL;key=LABEL' (default: $SECRETFILL_KEY_PKCS11; the PIN in SECRETFILL_PKCS11_PIN).",
        valueName: "spec"))
    var keyPKCS11: String?

    @Flag(help: "Re-encrypt every value under a fresh data key, then destroy the old one.")
    var data = false

    @Flag(help: "Print how far a data key rotation has gone.")
    var status = false

    @Option(help: ArgumentHelp("The local store file (default: SECRETFILL_STORE, else the config folder's store.json).", valueName: "path"))
    var store: String?

    @OptionGroup var serverOptions: ServerOptions

    package init() {}

    package func validate() throws {
        let chosen = [newKeyFile != nil, newKeyPKCS11 != nil, data, status].filter { $0 }.count
        guard chosen == 1 else {
            throw ValidationError("give one of --new-key-pkcs11 SPEC, --new-key-file FILE, --data or --status")
        }
        if (keyPKCS11 != nil || newKeyPKCS11 != nil) && database == nil && serverOptions.asksForServer {
            let option = newKeyPKCS11 != nil ? "--new-key-pkcs11" : "--key-pkcs11"
            throw ValidationError("\(option) works on a server's database (--database URL) or on the local store file; through --server the server uses its own store key")
        }
        if generate && newKeyFile == nil { throw ValidationError("--generate creates --new-key-file FILE: give the file") }
        if database != nil && store != nil { throw ValidationError("--store is the local store file; --database is a server's database: give one") }
        if database != nil && serverOptions.server != nil { throw ValidationError("--database works on a database, --server through a running server: give one") }
    }

    /// The request the team components carry out, for `--database`.
    package struct Request: Sendable {
        package let database: String?
        package let newKeyFile: String?
        package let generate: Bool
        package let data: Bool
        package let status: Bool
        /// `--key-pkcs11` (else `SECRETFILL_KEY_PKCS11`): the current store key in a token, instead of the key file.
        package let keyPKCS11: PKCS11Choice?
        /// `--new-key-pkcs11`: the new store key in a token.
        package let newKeyPKCS11: String?
    }

    package func run() throws {
        if database == nil, let endpoint = try serverOptions.endpoint() {
            return try throughServer(endpoint)
        }
        if database != nil {
            let request = Request(database: database, newKeyFile: newKeyFile, generate: generate, data: data, status: status,
                                  keyPKCS11: try PKCS11Choice.resolve(option: keyPKCS11), newKeyPKCS11: newKeyPKCS11)
            print(try TeamComponents.required().rekey(request))
            return
        }
        try reportingErrors { try onLocalStore() }
    }

    /// The local store file: its current key from `--key-pkcs11`, else as
    /// every command reads it (`SECRETFILL_KEY_PKCS11`, the key file's variables).
    func onLocalStore() throws {
        let configuration = StoreConfiguration.forCommand(storeOption: store, keyPKCS11: keyPKCS11)
        // Where a new key file goes: the key file in use, or (the key now in a
        // token) the one the environment names, or the default.
        let keyFile: String?
        switch configuration.keySource {
        case .file(let file): keyFile = file
        case .token: keyFile = StoreConfiguration.keyFile(environment: processEnvironment)
        case .environment: keyFile = nil
        }
        if status {
            print(try configuration.openStore(needsKey: false).rotationState())
            if let keyFile, FileIO.exists(keyFile + LocalSecretStore.pendingKeySuffix) {
                Terminal.warn("secretfill: note: \(TerminalText.escaped(keyFile + LocalSecretStore.pendingKeySuffix)) is left from a rekey --new-key-file that stopped before the key file was replaced; run it again to finish")
            }
            return
        }
        let path = TerminalText.escaped(configuration.storePath)
        if data {
            let rotated = try configuration.openStore(needsKey: true).rotateDataKey()
            print("Re-encrypted \(rotated.count) value(s) in \(path) under a fresh data key (\(rotated.dataKeyID)); the old data key is destroyed. The store key is unchanged. Copies of the store taken before (git history, backups) still open with the store key.")
            return
        }
        if let newKeyPKCS11 {
            let newKey = try PKCS11Choice.openKey(newKeyPKCS11, origin: "--new-key-pkcs11")
            let outcome = try configuration.openStore(needsKey: true).rekey(toToken: newKey)
            print("\(Self.summary(outcome, path: path)); the store key is now \(newKey.source) (\(newKey.fingerprint)). From now on give this store's commands that key: \(StoreConfiguration.tokenVariable) set to the spec given to --new-key-pkcs11, and the PIN in \(PKCS11Key.pinVariable). The key file is no longer used by this store; copies taken before (git history, backups) still open with it.")
            return
        }
        guard let keyFile else {
            throw fail("SECRETFILL_KEY is set: the store key is in the environment, so there is no key file to put the new key in; unset it, put the key in a file (SECRETFILL_KEY_FILE), and run rekey again", Exit.usage)
        }
        let store = try configuration.openStore(needsKey: true)
        let newKey = try Self.newKey(file: newKeyFile!, generate: generate)
        let outcome = try store.rekey(to: newKey, keyFile: keyFile)
        var after = "Copies of the store taken before (git history, backups) still open with the old key: run rekey --data too, so that the old key opens nothing written from now on."
        if case .token = configuration.keySource {
            after = "The store's key is no longer in the token: unset \(StoreConfiguration.tokenVariable) for this store's commands. " + after
        }
        print("\(Self.summary(outcome, path: path)); the key file \(TerminalText.escaped(keyFile)) now holds the new key \(newKey.fingerprint). \(after)")
    }

    /// What the re-wrap did, for the line `rekey` prints.
    static func summary(_ outcome: LocalSecretStore.RekeyOutcome, path: String) -> String {
        if !outcome.rewrapped { return "The store \(path) was already sealed under the new key" }
        if outcome.upgraded > 0 {
            return "Moved \(outcome.upgraded) value(s) in \(path) under a data key (\(outcome.dataKeyID ?? "")), once, and wrapped it under the new key"
        }
        return "Wrapped the data key (\(outcome.dataKeyID ?? "")) of \(path) under the new key; no value was re-encrypted"
    }

    /// `--server`: the server does the work with its own store key; a data
    /// key rotation runs there, and this polls its state until it is done.
    func throughServer(_ endpoint: ServerEndpoint) throws {
        if status {
            let answer = try withClient(endpoint) { try await $0.rekey(RekeyRequest(operation: "status")) }
            print(answer.state)
            if let error = answer.error { Terminal.warn("secretfill: note: the server's last rotation stopped: \(error)") }
            return
        }
        if let file = newKeyFile {
            let newKey = try Self.newKey(file: file, generate: generate)
            let answer = try withClient(endpoint) { try await $0.rekey(RekeyRequest(operation: "new-key", newKey: newKey.base64Text)) }
            print("\(answer.summary ?? answer.state). Servers running now keep serving; start servers from now on with the key in \(TerminalText.escaped(file)) (SECRETFILL_KEY_FILE).")
            return
        }
        var answer = try withClient(endpoint) { try await $0.rekey(RekeyRequest(operation: "data")) }
        var lastShown = ""
        while answer.running || answer.state.hasPrefix("in progress") {
            if let error = answer.error, !answer.running {
                throw fail("the data key rotation on \(endpoint.url) stopped: \(error). Every value still opens; run the same command again to finish", Exit.failure)
            }
            if answer.state != lastShown && isatty(2) == 1 { Terminal.warn("secretfill: rekey: \(answer.state)") }
            lastShown = answer.state
            usleep(500_000)
            answer = try withClient(endpoint) { try await $0.rekey(RekeyRequest(operation: "status")) }
        }
        guard answer.state == "done" else {
            throw fail("the data key rotation on \(endpoint.url) did not finish (\(answer.state)\(answer.error.map { ": " + $0 } ?? "")); run the same command again", Exit.failure)
        }
        print("Rotated the data key of the server's database at \(endpoint.url): every value and kept version is re-encrypted, and the old data key is destroyed")
    }

    /// The key in `file`, or a new one written there with `generate`.
    package static func newKey(file: String, generate: Bool) throws -> StoreKey {
        if generate {
            if FileIO.exists(file) {
                throw fail("\(TerminalText.escaped(file)) already exists; --generate writes a new key only into a new file (leave out --generate to use the key in it)", Exit.failure)
            }
            return try InitCommand.writeNewKey(to: file)
        }
        guard FileIO.exists(file) else {
            throw fail("no key file at \(TerminalText.escaped(file)); give the file holding the new key, or add --generate to create one there", Exit.failure)
        }
        return try StoreConfiguration(storePath: file, keySource: .file(file)).loadKey()
    }
}

/// The help of `--key-pkcs11`, the same for every command that takes it.
package enum PKCS11Help {
    package static let key = "The store key in an HSM instead of a key file: an AES-256 key in a PKCS#11 token, 'module=PATH;token=LABEL;key=LABEL' (default: $SECRETFILL_KEY_PKCS11), the PIN in SECRETFILL_PKCS11_PIN."
}

extension RekeyCommand: TeamCapableCommand { var asksForTeamServer: Bool { database != nil || serverOptions.asksForServer } }
