import ArgumentParser
import SecretFill
import SecretFillAPI

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a key and an empty encrypted store.",
        discussion: """
            Creates a random 256-bit key file and an empty store, both mode 0600 (new folders \
            0700). It never overwrites either. With SECRETFILL_KEY set, that key is used and no \
            key file is written.

            Key: $SECRETFILL_KEY (base64 of 32 bytes), else $SECRETFILL_KEY_FILE, else \
            ${XDG_CONFIG_HOME:-~/.config}/secretfill/key.

            Examples:
              secretfill init
              secretfill init --store deploy/secrets.json --use-existing-key
              secretfill init --key-only          # the key a team server seals with

            Exit: 0 created, 2 the key or store exists (nothing is overwritten) or cannot be \
            written, 64 bad usage (--key-only with SECRETFILL_KEY set: there is no file to write).
            """)

    // Only --store: init makes a local file, so the server options are not offered.
    @Option(name: .long, help: ArgumentHelp(
        "The store file. Default: $SECRETFILL_STORE, else ${XDG_CONFIG_HOME:-~/.config}/secretfill/store.json.",
        valueName: "path"))
    var store: String?

    @Flag(help: "Seal the new store with the key file that already exists instead of refusing.")
    var useExistingKey = false

    @Flag(help: "Create only the key file (for `secretfill serve`), no store.")
    var keyOnly = false

    func validate() throws {
        if keyOnly && (useExistingKey || store != nil) {
            throw ValidationError("--key-only makes only a key: it takes neither --store nor --use-existing-key")
        }
    }

    func run() throws {
        if ServerEndpoint.requestedURL(server: nil, environment: processEnvironment) != nil {
            throw fail("init creates a local store file; it does not apply with SECRETFILL_SERVER set (a team server's store is created by `secretfill serve`; its key by `init --key-only` without SECRETFILL_SERVER)", Exit.usage)
        }
        let configuration = StoreConfiguration.forCommand(storeOption: store)
        if keyOnly { return try createKeyOnly(configuration) }
        try reportingErrors {
            if FileIO.exists(configuration.storePath) { throw StoreError.storeExists(path: configuration.storePath) }
            let key: any StoreSealingKey
            var createdKeyFile: String?
            switch configuration.keySource {
            case .environment, .token:
                key = try configuration.sealingKey()
            case .file(let path):
                if FileIO.exists(path) {
                    guard useExistingKey else { throw StoreError.keyExists(path: path) }
                    key = try configuration.loadKey()
                } else {
                    key = try Self.writeNewKey(to: path)
                    createdKeyFile = path
                }
            }
            _ = try LocalSecretStore.create(at: configuration.storePath, key: key)
            if let createdKeyFile { print("Created key \(TerminalText.escaped(createdKeyFile)) (\(key.fingerprint)); keep it out of git") }
            print("Created store \(TerminalText.escaped(configuration.storePath)) sealed with key \(key.fingerprint)")
        }
    }

    /// `init --key-only`: a new random key file, refusing one that exists.
    func createKeyOnly(_ configuration: StoreConfiguration) throws {
        guard case .file(let path) = configuration.keySource else {
            if case .token(_, let origin) = configuration.keySource {
                throw fail("\(origin) is set, so the store key is in a token and there is no key file to write; unset it, or use the key in the token as it is", Exit.usage)
            }
            throw fail("SECRETFILL_KEY is set, so the key is already given and there is no key file to write; unset it, or use it as it is", Exit.usage)
        }
        try reportingErrors {
            if FileIO.exists(path) {
                throw fail("a key file already exists at \(TerminalText.escaped(path)); init never overwrites a key (serve uses it as it is)", Exit.failure)
            }
            let key = try Self.writeNewKey(to: path)
            print("Created key \(TerminalText.escaped(path)) (\(key.fingerprint)); keep it out of git and back it up apart from the database")
        }
    }

    /// A new random key in a new file `path` (mode 0600, missing folders 0700).
    static func writeNewKey(to path: String) throws(StoreError) -> StoreKey {
        let generated = StoreKey.generate()
        do throws(IOError) {
            try FileIO.makeDirectories(FileIO.split(path).directory)
            try FileIO.createExclusively(path, with: Array((generated.encoded + "\n").utf8))
        } catch {
            throw StoreError.io(error)
        }
        return try StoreKey(base64: generated.encoded, source: path)
    }
}
