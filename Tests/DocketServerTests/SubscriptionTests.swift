import Testing

@testable import DocketServer

@Suite("Subscription task and credit")
struct SubscriptionTests {
    @Test("a subscription's task is cancelled by cancel(), whether it was set before or after, and cancelling again is harmless", arguments: [true, false])
    func cancel(beforeStart: Bool) async {
        let subscription = Subscription(credit: 10)
        if beforeStart { subscription.cancel() }
        let task = Task<Void, Never> { try? await Task.sleep(for: .seconds(3600)) }
        subscription.start(task)
        #expect(task.isCancelled == beforeStart)
        subscription.cancel()
        subscription.cancel()
        await task.value
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

    @Test("a grant of nothing leaves a waiting taker waiting, for the next grant or a cancel", .timeLimit(.minutes(1)))
    func emptyGrant() async {
        let subscription = Subscription(credit: 0)
        let waiting = Task { await subscription.take(upTo: 10) }
        try? await Task.sleep(for: .milliseconds(20))
        subscription.grant(0)
        subscription.grant(-5)
        try? await Task.sleep(for: .milliseconds(20))
        subscription.grant(3)
        #expect(await waiting.value == 3)
        let cancelled = Task { await subscription.take(upTo: 10) }
        try? await Task.sleep(for: .milliseconds(20))
        subscription.grant(0)
        cancelled.cancel()
        #expect(await cancelled.value == 0)
        // A later taker is not woken by that cancel.
        let later = Task { await subscription.take(upTo: 10) }
        try? await Task.sleep(for: .milliseconds(20))
        subscription.grant(2)
        #expect(await later.value == 2)
    }
}
