import ArgumentParser
import SecretFill

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
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Flag(help: "Seal the new store with the key file that already exists instead of refusing.")
    var useExistingKey = false

    func run() throws {
        if try storeOptions.endpoint() != nil {
            throw fail("init creates a local store file; it does not apply with --server (a team server's store is created by `secretfill serve`)", Exit.usage)
        }
        let configuration = storeOptions.configuration
        try reportingErrors {
            if FileIO.exists(configuration.storePath) { throw StoreError.storeExists(path: configuration.storePath) }
            let key: StoreKey
            var createdKeyFile: String?
            switch configuration.keySource {
            case .environment:
                key = try configuration.loadKey()
            case .file(let path):
                if FileIO.exists(path) {
                    guard useExistingKey else { throw StoreError.keyExists(path: path) }
                    key = try configuration.loadKey()
                } else {
                    let generated = StoreKey.generate()
                    do throws(IOError) {
                        try FileIO.makeDirectories(FileIO.split(path).directory)
                        try FileIO.createExclusively(path, with: Array((generated.encoded + "\n").utf8))
                    } catch {
                        throw StoreError.io(error)
                    }
                    key = try StoreKey(base64: generated.encoded, source: path)
                    createdKeyFile = path
                }
            }
            _ = try LocalSecretStore.create(at: configuration.storePath, key: key)
            if let createdKeyFile { print("Created key \(TerminalText.escaped(createdKeyFile)) (\(key.fingerprint)); keep it out of git") }
            print("Created store \(TerminalText.escaped(configuration.storePath)) sealed with key \(key.fingerprint)")
        }
    }
}
