import ArgumentParser
import SecretFill

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct Secretfill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secretfill",
        abstract: "Fill `secret:<name>` references in deployment specs from an encrypted, scoped store.",
        discussion: """
            Specs say `value: secret:db_password` instead of the password. secretfill resolves \
            each name from the store (project beats cluster beats team), changing nothing else.

            Exit codes:
              0    success
              1    problems in the input: unknown or malformed references, invalid
                   YAML, check findings, a value a format cannot carry, or
                   `secrets which` found nothing
              2    the store, the key or a file could not be used
              64   usage error (bad flag, bad name, bad value, missing --id)
              77   the team server refused the key (unknown, revoked or expired,
                   or a grant missing)
              126  exec: the command was found but cannot be run
              127  exec: the command was not found
              128+N  exec --redact-output: the command was killed by signal N
                   (otherwise exec exits with the command's own status)
              141  standard output was closed early (for example by `| head`)

            A secret value never appears in a message; only names and locations do.
            """,
        version: SecretFillVersion.string,
        subcommands: [RenderCommand.self, EnvCommand.self, ExecCommand.self, CheckCommand.self, RedactCommand.self, InitCommand.self, SecretsCommand.self,
                      ServeCommand.self, KeysCommand.self, AuditCommand.self]
    )

    /// ArgumentParser's `main`, with two changes to how a refused command
    /// line is reported: `ArgumentHints` for gradient's spellings and unknown
    /// commands, and control characters escaped in whatever is printed.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            if let hint = ArgumentHints.message(for: arguments) {
                Terminal.warn("secretfill: error: \(hint)")
            } else if case let text = fullMessage(for: error), !text.isEmpty {
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    Terminal.warn(String(line))
                }
            }
            terminate(code.rawValue)
        }
        do {
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

private func terminate(_ code: Int32) -> Never {
    #if canImport(Glibc)
    Glibc.exit(code)
    #else
    Darwin.exit(code)
    #endif
}

/// Exit statuses, as documented in `secretfill --help`.
enum Exit {
    static let problems = ExitCode(1)
    static let failure = ExitCode(2)
    static let usage = ExitCode(64)
    static let brokenPipe = ExitCode(141)
}

/// Prints `secretfill: error: …` on stderr and returns the matching exit.
func fail(_ message: String, _ code: ExitCode = Exit.failure) -> ExitCode {
    Terminal.warn("secretfill: error: \(message)")
    return code
}

func fail(_ error: StoreError) -> ExitCode { fail(error.description, Exit.failure) }
func fail(_ error: IOError) -> ExitCode {
    error.code == EPIPE ? Exit.brokenPipe : fail(error.description, Exit.failure)
}
func fail(_ error: SecretInputError) -> ExitCode { fail(error.description, Exit.usage) }

/// Runs a command body, turning the library's typed errors into the
/// documented message and exit status. `ExitCode`s pass through.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as SecretInputError {
        throw fail(error)
    } catch let error as StoreError {
        throw fail(error)
    } catch let error as IOError {
        throw fail(error)
    }
}

func report(_ diagnostics: [Diagnostic]) {
    for diagnostic in diagnostics { Terminal.warn(diagnostic.formatted) }
}

/// Closing stdout early must end the process quietly, not with a crash report.
func ignoreBrokenPipeSignal() {
    signal(SIGPIPE, SIG_IGN)
}

var processEnvironment: [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}
