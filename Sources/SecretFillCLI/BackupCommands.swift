import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SecretFill

/// `secretfill backup`: a team server's database in one file.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write everything a team server's database keeps into one file (values stay sealed).",
        discussion: """
            One consistent snapshot (a single read transaction, so servers keep serving): every \
            scope's names with every kept version (still sealed), API keys (digests only), and \
            the audit log (--no-audit leaves it out); not browser sessions. The file is JSON \
            Lines with a MAC under a key derived from the store key, written with mode 0600 \
            and put in place only when complete. It opens nothing without the store key: keep \
            it in one place and the key in another.

            Straight from the database (--database URL, else serve's default), it needs the \
            store key the database was sealed with (the key file, SECRETFILL_KEY_FILE or \
            SECRETFILL_KEY, as serve reads it; or --key-pkcs11 SPEC, else SECRETFILL_KEY_PKCS11, with the PIN in \
            SECRETFILL_PKCS11_PIN when the key is in an HSM: the MAC's key is then derived \
            inside the token). Through a running server (--server URL or \
            SECRETFILL_SERVER, with an admin key), the server writes the same file from its own \
            database and sends it; it is written here, and no store key is needed or read here.

            Exit 0 written; 2 the database, the key, the server or the file could not be used \
            (nothing is left behind); 64 bad usage; 77 the server refused the key (not an admin key).

            Examples:
              secretfill backup --database postgres://secretfill@db/secretfill --out team.backup
              secretfill backup --out server-$(date +%F).backup      # the default server.db
              secretfill backup --server https://secrets.acme.dev --out team.backup
            """)

    @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
    var database: String?

    @Option(help: ArgumentHelp("The backup file to write (replaced when complete).", valueName: "file"))
    var out: String

    @Flag(help: "Leave the audit log out.")
    var noAudit = false

    @Option(name: .customLong("key-pkcs11"), help: ArgumentHelp(PKCS11Help.key, valueName: "spec"))
    var keyPKCS11: String?

    @OptionGroup var serverOptions: ServerOptions

    func validate() throws {
        if keyPKCS11 != nil && database == nil && serverOptions.asksForServer {
            throw ValidationError("--key-pkcs11 is the store key of --database; through --server the server uses its own store key")
        }
    }

    func run() throws {
        if database == nil, let endpoint = try serverOptions.endpoint() {
            let audit = !noAudit, out = self.out
            // On a terminal, a progress line at each 8 MiB received (a large database takes a while).
            let progress: (@Sendable (Int) -> Void)? = isatty(2) == 1 ? BackupProgress().report : nil
            let bytes = try withClient(endpoint) { try await $0.downloadBackup(audit: audit, to: out, progress: progress) }
            print("Backed up the server at \(endpoint.url) to \(out) (\(bytes) bytes)")
            return
        }
        let summary = try TeamComponents.required().backup(database, out, !noAudit, try PKCS11Choice.resolve(option: keyPKCS11))
        print("Backed up \(summary) to \(out)")
    }
}

/// `secretfill restore`: a backup into an empty database.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into an empty database (SQLite or PostgreSQL), all or nothing.",
        discussion: """
            The file's MAC is checked first, over the whole file, under the store key: a \
            changed, cut short or foreign file is refused before the database is touched. The \
            database must be empty (new, or with secretfill's schema and no rows); anything in \
            it is named and nothing is written. Every row goes in one transaction, then one \
            audit entry (restore) of its own. A backup of a SQLite database restored into \
            PostgreSQL, or back, is how a team moves. A backup made with the store key in an \
            HSM is checked with the same key: --key-pkcs11 SPEC (else SECRETFILL_KEY_PKCS11), the PIN in SECRETFILL_PKCS11_PIN.

            Exit 0 restored; 2 the file does not verify, the database is not empty or cannot \
            be used (nothing written); 64 bad usage.

            Examples:
              secretfill restore --database postgres://secretfill@db/secretfill team.backup
              secretfill restore --database sqlite:/srv/secretfill/server.db team.backup
            """)

    @Option(help: ArgumentHelp(KeysCommand.databaseHelp, valueName: "url"))
    var database: String?

    @Argument(help: ArgumentHelp("The backup file (from `secretfill backup`).", valueName: "file"))
    var file: String

    @Option(name: .customLong("key-pkcs11"), help: ArgumentHelp(PKCS11Help.key, valueName: "spec"))
    var keyPKCS11: String?

    func run() throws {
        let summary = try TeamComponents.required().restore(database, file, try PKCS11Choice.resolve(option: keyPKCS11))
        print("Restored \(summary) from \(file)")
    }
}

/// `backup --server`'s progress line: the MiB received, at each 8 MiB.
final class BackupProgress: Sendable {
    private let reported = Mutex(0)

    func report(_ bytes: Int) {
        let step = 8 << 20
        let due = reported.withLock { last in
            guard bytes / step > last / step else { return false }
            last = bytes
            return true
        }
        if due { Terminal.warn("secretfill: backup: \(bytes >> 20) MiB received…") }
    }
}

extension BackupCommand: TeamCapableCommand { var asksForTeamServer: Bool { true } }
extension RestoreCommand: TeamCapableCommand { var asksForTeamServer: Bool { true } }
