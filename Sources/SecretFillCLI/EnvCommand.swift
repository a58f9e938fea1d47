import ArgumentParser
import SecretFill

struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Write a container env file from one env block of a spec.",
        discussion: """
            The block is the spec's only env block, or the one --select names: a Kubernetes \
            container's name, a Gradient workflow job (defaults.env overlaid by the job's env), \
            or a Paperspace spec's name. References are resolved; literal values are kept. \
            Entries without a value (valueFrom) are left out with a note; a name set twice is \
            noted and the later entry wins, as at deploy time.

            Formats, each read back exactly by its consumer:
              dotenv  NAME='…' when nothing needs care, else NAME="…" with \\\\ \\" \\n \\r
                      escapes, for python-dotenv's dotenv_values() (the default)
              docker  NAME=value for `docker run --env-file`; no quoting, so line
                      breaks and lines over 64 KiB are refused
              shell   export NAME='…' for `. FILE` in bash or dash
              json    {"NAME": "…"}

            Examples:
              secretfill env deploy.yaml --select api -o .env
              secretfill env workflow.yaml --select train --format shell > env.sh
            """)

    @OptionGroup var input: SpecInputOptions

    @Option(help: ArgumentHelp("Which env block: a container, job or spec name.", valueName: "name"),
            completion: ShellCompletion.blockNames(of: "env"))
    var select: String?

    @Option(help: "Output format: dotenv, docker, shell or json.")
    var format: EnvFileFormat = .dotenv

    func run() throws {
        ignoreBrokenPipeSignal()
        try reportingErrors {
            let (chain, source, openStore) = try input.prepare()
            switch try EnvJob(chain: chain, format: format, select: select, openStore: openStore).run(source) {
            case .success(let result):
                report(result.notes)
                warnIfCommittable(input.output)
                try OutputWriter.emit(result.bytes, to: input.output)
            case .failure(let problems):
                report(problems.diagnostics)
                throw exitStatus(for: problems)
            }
        }
    }
}
