/// Chooses the one env block `secretfill env` writes, the way the spec's
/// platform would run it.
///
/// Candidates are named by what a person calls them: a Kubernetes
/// container's `name`, a Paperspace spec's `name`, a Gradient workflow job
/// (whose env is `defaults.env` overlaid by `jobs.<job>.env`).
public struct EnvBlockSelector {
    /// A runnable unit with an env: its label and the blocks overlaid, in order.
    public struct Candidate: Sendable {
        public var label: String
        public var document: Int
        public var location: SourceLocation
        public var blocks: [Int]
    }

    public enum Failure: Error, Sendable {
        case noEnvBlock
        case ambiguous([Candidate])
        case noMatch(String, [Candidate])
    }

    public init() {}

    private struct JobKey: Hashable {
        var document: Int
        var name: String
    }

    public func candidates(in scan: SpecScan) -> [Candidate] {
        candidates(in: scan, labelled: nil)
    }

    /// With a `label`, only the candidates it names: a large manifest has
    /// thousands of env blocks, and listing them all is needed only when
    /// the selection fails.
    private func candidates(in scan: SpecScan, labelled label: String?) -> [Candidate] {
        var result: [Candidate] = []
        var defaultsByDocument: [Int: Int] = [:]
        var jobBlocks: [Int: [String: Int]] = [:]
        for (index, block) in scan.envBlocks.enumerated() where block.path.count == 2 || block.path.count == 3 {
            if block.path.count == 2 && block.path[0] == "defaults" {
                defaultsByDocument[block.document] = index
            } else if block.path.count == 3 && block.path[0] == "jobs" {
                jobBlocks[block.document, default: [:]][block.path[1]] = index
            }
        }
        /// Jobs already listed, by document and name.
        var listedJobs = Set<JobKey>()
        for job in scan.workflowJobs {
            let defaults = defaultsByDocument[job.document]
            let own = jobBlocks[job.document]?[job.name]
            let blocks = [defaults, own].compactMap { $0 }
            guard !blocks.isEmpty else { continue }
            listedJobs.insert(JobKey(document: job.document, name: job.name))
            if let label, job.name != label { continue }
            let first = scan.envBlocks[blocks.last!]
            result.append(Candidate(label: job.name, document: job.document, location: first.location, blocks: blocks))
        }
        for (index, block) in scan.envBlocks.enumerated() {
            let isWorkflowPart = (defaultsByDocument[block.document] == index && !scan.workflowJobs.isEmpty)
                || (block.path.count == 3 && block.path[0] == "jobs"
                    && listedJobs.contains(JobKey(document: block.document, name: block.path[1])))
            if isWorkflowPart { continue }
            let blockLabel = block.owner ?? (block.path.count == 2 && block.path[0] == "defaults" ? "defaults" : "")
            if let label, blockLabel != label { continue }
            result.append(Candidate(label: blockLabel, document: block.document, location: block.location, blocks: [index]))
        }
        return result
    }

    public func select(_ name: String?, in scan: SpecScan) -> Result<Candidate, Failure> {
        guard let name else {
            let all = candidates(in: scan)
            guard !all.isEmpty else { return .failure(.noEnvBlock) }
            return all.count == 1 ? .success(all[0]) : .failure(.ambiguous(all))
        }
        let matches = candidates(in: scan, labelled: name)
        switch matches.count {
        case 1: return .success(matches[0])
        case 0:
            let all = candidates(in: scan)
            return .failure(all.isEmpty ? .noEnvBlock : .noMatch(name, all))
        default: return .failure(.ambiguous(matches))
        }
    }
}
