import ArgumentParser
import SecretFill

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Replace every `secret:<name>` env value in a spec with its value; change nothing else.",
        discussion: """
            The output is the input byte for byte, except each reference's scalar, which becomes \
            the value as a YAML double-quoted string. Comments, key order, quoting, anchors and \
            line endings stay as written. When any reference is unknown or malformed, or the YAML \
            is invalid, nothing is written, every problem is listed on stderr as FILE:LINE:COL, \
            and the exit status is 1. `-o` onto the spec itself is refused, and `-o` into a \
            git work tree warns when `git add` would commit the file.

            Examples:
              secretfill render deploy.yaml --project pr-1 | kubectl apply -f -
              cat spec.yaml | secretfill render > rendered.yaml
              secretfill render spec.yaml -o out.yaml   # atomic write, mode 0600
            """)

    @OptionGroup var input: SpecInputOptions

    @Option(name: .customLong("k8s-secret"), help: ArgumentHelp(
        "Kubernetes: turn each container env reference into a secretKeyRef to the Secret NAME-<suffix>, emitted after the manifest.",
        valueName: "name"))
    var k8sSecret: String?

    @Option(name: .customLong("secret-out"), help: ArgumentHelp(
        "With --k8s-secret: write the Secret(s) here (atomically, mode 0600); the manifest then holds no value.",
        valueName: "file"))
    var secretOut: String?

    func validate() throws { try validateKubernetesOptions() }

    func run() throws {
        ignoreBrokenPipeSignal()
        if let k8sSecret { return try runKubernetes(secretName: k8sSecret) }
        try reportingErrors {
            let (chain, source, openStore) = try input.prepare()
            switch try RenderJob(chain: chain, openStore: openStore).run(source) {
            case .success(let rendered):
                report(rendered.warnings)
                let output = input.output
                warnIfCommittable(output)
                try OutputWriter.emit(to: output) { fd throws(IOError) in try rendered.write(to: fd, path: output ?? "standard output") }
            case .failure(let problems):
                report(problems.diagnostics)
                throw exitStatus(for: problems)
            }
        }
    }
}
