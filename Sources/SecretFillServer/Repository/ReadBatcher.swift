import NIOConcurrencyHelpers

/// Sends reads that arrive while the database is busy to it together, as
/// one statement, instead of one statement each.
///
/// At most `slots` statements run at once. A read that finds a slot free
/// runs at once, alone, so an idle server adds no wait. A read that finds
/// every slot busy waits, and when a statement ends, its slot goes to the
/// reads that waited, up to `largest` of them in one statement.
/// (bench/server.sh: much of PostgreSQL's work is per statement, not per
/// resolve; sharing took its CPU per resolve from about 300 to 140–190 µs.)
///
/// Each request keeps its own answer, and `run` must answer the requests in
/// the order it was given them. When a statement fails, every request in
/// it fails, and so does every request still waiting, with the same error:
/// they were waiting behind a database that just failed, and waiting for
/// their own statement's deadline as well would double the time to an
/// answer.
final class ReadBatcher<Request: Sendable, Answer: Sendable>: Sendable {
    typealias Run = @Sendable ([Request]) async throws -> [Answer]

    /// Statements at once.
    let slots: Int
    /// Requests in one statement, at most.
    let largest: Int
    private let run: Run
    private let state = NIOLockedValueBox(State())

    private enum Turn: Sendable {
        case answered(Answer)
        case lead
    }

    private struct Waiter: Sendable {
        let request: Request
        let continuation: CheckedContinuation<Turn, any Error>
    }

    private struct State: Sendable {
        var running = 0
        var waiting: [Waiter] = []
    }

    /// A statement answered a different number of requests than it was given.
    struct Miscount: Error, CustomStringConvertible {
        let asked, answered: Int
        var description: String { "a batched read answered \(answered) of \(asked) requests" }
    }

    init(slots: Int, largest: Int, run: @escaping Run) {
        precondition(slots >= 1 && largest >= 1)
        self.slots = slots
        self.largest = largest
        self.run = run
    }

    /// Requests waiting for a slot (for tests).
    var waitingCount: Int { state.withLockedValue { $0.waiting.count } }

    func read(_ request: Request) async throws -> Answer {
        if !takeSlot() {
            let turn = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
                let leads = state.withLockedValue { state in
                    if state.running < slots {
                        state.running += 1
                        return true
                    }
                    state.waiting.append(Waiter(request: request, continuation: continuation))
                    return false
                }
                if leads { continuation.resume(returning: .lead) }
            }
            if case .answered(let answer) = turn { return answer }
        }
        return try await lead(request)
    }

    private func takeSlot() -> Bool {
        state.withLockedValue { state in
            guard state.running < slots else { return false }
            state.running += 1
            return true
        }
    }

    /// Runs one statement for `request` and the reads waiting before it,
    /// then passes the slot on.
    private func lead(_ request: Request) async throws -> Answer {
        let riders = state.withLockedValue { state in
            let count = min(state.waiting.count, largest - 1)
            defer { state.waiting.removeFirst(count) }
            return Array(state.waiting.prefix(count))
        }
        let outcome: Result<[Answer], any Error>
        do {
            let answers = try await run([request] + riders.map(\.request))
            guard answers.count == riders.count + 1 else { throw Miscount(asked: riders.count + 1, answered: answers.count) }
            outcome = .success(answers)
        } catch {
            outcome = .failure(error)
        }
        let (failed, next) = state.withLockedValue { state -> ([Waiter], Waiter?) in
            if case .failure = outcome {
                let all = state.waiting
                state.waiting = []
                state.running -= 1
                return (all, nil)
            }
            if state.waiting.isEmpty {
                state.running -= 1
                return ([], nil)
            }
            return ([], state.waiting.removeFirst())
        }
        next?.continuation.resume(returning: .lead)
        switch outcome {
        case .success(let answers):
            for (index, rider) in riders.enumerated() { rider.continuation.resume(returning: .answered(answers[index + 1])) }
            return answers[0]
        case .failure(let error):
            for waiter in riders + failed { waiter.continuation.resume(throwing: error) }
            throw error
        }
    }
}
