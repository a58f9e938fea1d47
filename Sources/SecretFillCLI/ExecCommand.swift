import ArgumentParser
import SecretFill

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command with one env block's values in its environment; nothing is written to disk.",
        discussion: """
            The block is chosen and resolved exactly as `env` does. CMD gets secretfill's \
            environment with the block's entries on top (the block wins), less SECRETFILL_KEY, \
            SECRETFILL_KEY_FILE and SECRETFILL_TOKEN, which a child never inherits; with \
            --pristine only PATH HOME USER LOGNAME SHELL TERM LANG LC_ALL TZ TMPDIR are kept from \
            it. CMD is looked up on the PATH CMD will see.

            By default secretfill replaces itself with CMD (execve): same PID, so signals, the \
            terminal and the exit status are CMD's own, and it can be a container's PID 1. With \
            --redact-output CMD runs as a child in its own process group, its stdout and stderr \
            each pass through the redact matcher, SIGINT SIGTERM SIGHUP SIGQUIT SIGUSR1 SIGUSR2 \
            SIGWINCH are forwarded, and secretfill exits with CMD's status (128+N if signal N \
            killed it).

            Nothing is started when a reference is unknown or malformed or a value cannot be an \
            environment string (a NUL byte, over 128 KiB, a name with '='): every problem is \
            listed and the exit status is 1. CMD not found: 127; not executable: 126.

            Examples:
              secretfill exec deploy.yaml --select api -- ./server --port 8080
              secretfill exec deploy.yaml --select api --redact-output -- python train.py
            """)

    @Argument(help: ArgumentHelp("The spec; `-` or nothing reads stdin.", valueName: "spec"))
    var spec: String?

    @Option(help: ArgumentHelp("Which env block: a container, job or spec name.", valueName: "name"),
            completion: ShellCompletion.blockNames(of: "exec"))
    var select: String?

    @OptionGroup var scopes: ScopeOptions
    @OptionGroup var storeOptions: StoreOptions

    @Flag(help: "Start from an almost empty environment (PATH HOME USER LOGNAME SHELL TERM LANG LC_ALL TZ TMPDIR) plus the block.")
    var pristine = false

    @Flag(help: "Run CMD as a child and pass its stdout and stderr through the redact matcher.")
    var redactOutput = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after `--`.", valueName: "cmd"))
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command to run after `--`: secretfill exec SPEC -- CMD [ARG...]") }
    }

    func run() throws {
        try reportingErrors {
            let chain = try scopes.chain()
            let source = try SpecSource.read(spec)
            let backend = try storeOptions.open()
            let job = ExecJob(chain: chain, select: select, pristine: pristine) { names throws(StoreError) in
                try backend.resolving(names, in: chain)
            }
            let plan: ExecJob.Plan
            switch try job.plan(source, parent: ExecEnvironment.current()) {
            case .success(let p): plan = p
            case .failure(let problems):
                report(problems.diagnostics)
                throw Exit.problems
            }
            report(plan.notes)

            // Redaction needs the values before anything starts, so a store problem still runs nothing.
            var redactor: StreamRedactor?
            if redactOutput {
                let made = try RedactJob(store: backend.values(in: chain), chain: chain).redactor()
                if !made.skipped.isEmpty {
                    Terminal.warn("secretfill: warning: not redacting \(made.skipped.map { "'\($0)'" }.joined(separator: ", ")): values shorter than \(StreamRedactor.minimumLength) characters would redact ordinary words")
                }
                redactor = made
            }

            let name = command[0]
            let arguments = Array(command.dropFirst())
            let path: String
            switch CommandLocator.locate(name, searchPath: plan.environment.value(of: "PATH")) {
            case .success(let found): path = found
            case .failure(let error): throw fail(error)
            }
            guard let redactor else {
                throw fail(ProcessLauncher.replace(path: path, command: name, arguments: arguments, environment: plan.environment))
            }
            do {
                let status = try ProcessLauncher.supervise(path: path, command: name, arguments: arguments,
                                                           environment: plan.environment, redactor: redactor)
                throw ExitCode(status)
            } catch let error as ExecError {
                throw fail(error)
            }
        }
    }
}

func fail(_ error: ExecError) -> ExitCode { fail(error.description, ExitCode(error.exitStatus)) }
