import Foundation
import NIOConcurrencyHelpers
@testable import SecretFillServer
import Testing

/// `ReadBatcher`: reads that wait for a slot go to the database together,
/// and each still gets its own answer.
@Suite("Batched reads")
struct ReadBatcherTests {
    /// A door the batch holding request 0 waits at until the test opens it.
    actor Door {
        private var open = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func pass() async {
            if open { return }
            await withCheckedContinuation { waiting.append($0) }
        }

        func unlock() {
            open = true
            for waiter in waiting { waiter.resume() }
            waiting = []
        }
    }

    struct Refused: Error, Equatable {
        let batch: [Int]
    }

    /// Records every batch `run` is given, and how many ran at once.
    final class Database: Sendable {
        let batches = NIOLockedValueBox<[[Int]]>([])
        let running = NIOLockedValueBox((now: 0, most: 0))
        let door = Door()
        let failFirst: Bool

        init(failFirst: Bool = false) { self.failFirst = failFirst }

        func run(_ batch: [Int]) async throws -> [Int] {
            batches.withLockedValue { $0.append(batch) }
            running.withLockedValue { $0.now += 1; $0.most = max($0.most, $0.now) }
            defer { running.withLockedValue { $0.now -= 1 } }
            if batch.contains(0) {
                await door.pass()
                if failFirst { throw Refused(batch: batch) }
            }
            return batch.map { $0 * 10 }
        }
    }

    /// Waits (up to 10 s) until `condition` holds.
    static func eventually(_ what: String, _ condition: () -> Bool) async throws {
        let start = ContinuousClock.now
        while !condition() {
            try #require(ContinuousClock.now - start < .seconds(10), "waited 10 s for \(what)")
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test("one read at a time: each runs at once, alone")
    func aloneWhenIdle() async throws {
        let database = Database()
        await database.door.unlock()
        let batcher = ReadBatcher<Int, Int>(slots: 2, largest: 8) { try await database.run($0) }
        for request in 1...5 { #expect(try await batcher.read(request) == request * 10) }
        #expect(database.batches.withLockedValue { $0 } == [[1], [2], [3], [4], [5]])
    }

    @Test("reads that find every slot busy wait, then go together, at most `largest` in one statement; each gets its own answer")
    func waitingReadsGoTogether() async throws {
        let database = Database()
        let batcher = ReadBatcher<Int, Int>(slots: 1, largest: 4) { try await database.run($0) }
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            group.addTask { (0, try await batcher.read(0)) }
            try await Self.eventually("the first read to start") { database.batches.withLockedValue { $0.count } == 1 }
            for request in 1...9 { group.addTask { (request, try await batcher.read(request)) } }
            try await Self.eventually("nine reads to wait") { batcher.waitingCount == 9 }
            // None of the nine has reached the database while the slot is busy.
            #expect(database.batches.withLockedValue { $0 } == [[0]])
            await database.door.unlock()
            var answers: [Int: Int] = [:]
            for try await (request, answer) in group { answers[request] = answer }
            #expect(answers == Dictionary(uniqueKeysWithValues: (0...9).map { ($0, $0 * 10) }))
        }
        let batches = database.batches.withLockedValue { $0 }
        #expect(batches.map(\.count) == [1, 4, 4, 1], "\(batches)")
        #expect(Set(batches.joined()) == Set(0...9) && batches.joined().count == 10)
        #expect(database.running.withLockedValue { $0.most } == 1)
        #expect(batcher.waitingCount == 0)
    }

    @Test("a statement that fails fails its reads and every read waiting behind it, with its error; the next read runs")
    func failureReachesEveryWaiter() async throws {
        let database = Database(failFirst: true)
        let batcher = ReadBatcher<Int, Int>(slots: 1, largest: 2) { try await database.run($0) }
        let outcomes = try await withThrowingTaskGroup(of: (Int, Result<Int, Refused>).self) { group in
            func read(_ request: Int) async -> (Int, Result<Int, Refused>) {
                do { return (request, .success(try await batcher.read(request))) } catch let error as Refused {
                    return (request, .failure(error))
                } catch {
                    Issue.record("unexpected error \(error)")
                    return (request, .failure(Refused(batch: [])))
                }
            }
            group.addTask { await read(0) }
            try await Self.eventually("the first read to start") { database.batches.withLockedValue { $0.count } == 1 }
            for request in 1...5 { group.addTask { await read(request) } }
            try await Self.eventually("five reads to wait") { batcher.waitingCount == 5 }
            await database.door.unlock()
            var outcomes: [Int: Result<Int, Refused>] = [:]
            for try await (request, outcome) in group { outcomes[request] = outcome }
            return outcomes
        }
        for request in 0...5 { #expect(outcomes[request] == .failure(Refused(batch: [0])), "request \(request)") }
        #expect(database.batches.withLockedValue { $0 } == [[0]])
        #expect(try await batcher.read(7) == 70)
    }

    @Test("a statement that answers the wrong number of reads is an error for each of them, not a wrong answer")
    func miscountIsAnError() async throws {
        let batcher = ReadBatcher<Int, Int>(slots: 1, largest: 4) { batch in Array(batch.dropLast()) }
        await #expect(throws: ReadBatcher<Int, Int>.Miscount.self) { try await batcher.read(3) }
    }

    @Test("400 reads at once, each answered with its own answer; never more than `slots` statements, nor more than `largest` reads in one")
    func manyAtOnce() async throws {
        let running = NIOLockedValueBox((now: 0, most: 0, largest: 0))
        let batcher = ReadBatcher<Int, Int>(slots: 3, largest: 5) { batch in
            running.withLockedValue { $0.now += 1; $0.most = max($0.most, $0.now); $0.largest = max($0.largest, batch.count) }
            defer { running.withLockedValue { $0.now -= 1 } }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...2_000)))
            return batch.map { $0 + 1_000 }
        }
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for request in 0..<400 { group.addTask { (request, try await batcher.read(request)) } }
            var seen = 0
            for try await (request, answer) in group {
                #expect(answer == request + 1_000)
                seen += 1
            }
            #expect(seen == 400)
        }
        let counts = running.withLockedValue { $0 }
        #expect(counts.most <= 3 && counts.largest <= 5 && counts.now == 0, "\(counts)")
        #expect(counts.largest > 1, "400 reads at once never shared a statement")
        #expect(batcher.waitingCount == 0)
    }
}
