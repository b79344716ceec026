import Testing

@testable import DocketServer

@Suite("Subscription task and credit")
struct SubscriptionTests {
    /// A task that runs until it is cancelled and reports that it was.
    func streaming() -> (Task<Void, Never>, AsyncStream<Void>) {
        let (stopped, continuation) = AsyncStream<Void>.makeStream()
        let task = Task {
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
            continuation.yield()
            continuation.finish()
        }
        return (task, stopped)
    }

    @Test("a subscription cancelled before its task starts cancels the task as soon as it is set")
    func cancelBeforeStart() async {
        let subscription = Subscription(credit: 10)
        subscription.cancel()
        let (task, stopped) = streaming()
        subscription.start(task)
        var iterator = stopped.makeAsyncIterator()
        #expect(await iterator.next() != nil)
        #expect(task.isCancelled)
    }

    @Test("a running subscription's task is cancelled by cancel(), once and harmlessly again")
    func cancelAfterStart() async {
        let subscription = Subscription(credit: 10)
        let (task, stopped) = streaming()
        subscription.start(task)
        #expect(!task.isCancelled)
        subscription.cancel()
        subscription.cancel()
        var iterator = stopped.makeAsyncIterator()
        #expect(await iterator.next() != nil)
        #expect(task.isCancelled)
    }

    @Test("credit is taken up to a limit, waited for when spent, capped when granted, and a cancelled wait takes nothing")
    func credit() async {
        let subscription = Subscription(credit: 5)
        #expect(await subscription.take(upTo: 3) == 3)
        #expect(await subscription.take(upTo: 10) == 2)
        subscription.giveBack(1)
        #expect(await subscription.take(upTo: 10) == 1)
        // Spent: a taker waits until a grant arrives.
        async let waited = subscription.take(upTo: 100)
        try? await Task.sleep(for: .milliseconds(20))
        subscription.grant(7)
        #expect(await waited == 7)
        subscription.grant(Int.max / 2)
        #expect(await subscription.take(upTo: .max) == Int(Subscription.maximumCredit))
        let waiting = Task { await subscription.take(upTo: 1) }
        try? await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        #expect(await waiting.value == 0)
    }
}
