import Foundation

/// `body`, blocking work (waiting on a child process, a pipe or a raw socket), run on a thread of
/// its own rather than on one of the few threads Swift's concurrency shares among every test
/// running at once (two on a two-core machine): blocked there, it would starve the in-process
/// nodes and the polling loops of every other test.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread.detachNewThread { c.resume(with: Result { try body() }) }
    }
}

/// `offPool` for work that cannot fail.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in
        Thread.detachNewThread { c.resume(returning: body()) }
    }
}
