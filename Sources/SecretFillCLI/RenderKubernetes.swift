import ArgumentParser
import SecretFill

/// `render --k8s-secret NAME [--secret-out FILE]`.
extension RenderCommand {
    func validateKubernetesOptions() throws {
        if secretOut != nil && k8sSecret == nil { throw ValidationError("--secret-out needs --k8s-secret NAME") }
        if secretOut == "-" { throw ValidationError("--secret-out needs a file: the Secret holds the values, which is what it keeps off stdout") }
        if let k8sSecret, let problem = KubernetesSecretJob.nameProblem(k8sSecret) {
            throw ValidationError("--k8s-secret '\(k8sSecret)': \(problem)")
        }
        if let secretOut, let output = input.output, secretOut == output, output != "-" {
            throw ValidationError("--secret-out and -o name the same file")
        }
    }

    func runKubernetes(secretName: String) throws {
        try reportingErrors {
            try OutputWriter.checkWritable(secretOut)
            let (chain, source, openStore) = try input.prepare()
            let configuration = input.storeOptions.configuration
            let job = KubernetesSecretJob(chain: chain, secretName: secretName, openStore: openStore,
                                          loadKey: { () throws(StoreError) -> any StoreSealingKey in try configuration.sealingKey() })
            switch try job.run(source) {
            case .success(let result):
                if let secretOut {
                    try OutputWriter.emit(result.secrets, to: secretOut)
                    try OutputWriter.emit(result.manifest, to: input.output)
                } else {
                    try OutputWriter.emit(result.combined, to: input.output)
                }
            case .failure(let problems):
                report(problems.diagnostics)
                throw Exit.problems
            }
        }
    }
}
