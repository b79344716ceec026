public import Foundation

/// A child process started with `posix_spawn`, its standard input /dev/null, every other
/// descriptor of this process closed in it and every signal at its default, as Foundation's
/// `Process` starts one; standard output and error are each captured (read as the child writes,
/// so neither pipe fills and blocks it), discarded, appended to a file or a descriptor of ours.
/// (Foundation's `Process.run()` on Linux reads 256 bytes past each `/proc/self/fd` entry while
/// listing the descriptors to close, and now and then past the end of a mapped page: a whole
/// test process crashed so in CI, swift-corelibs-foundation#5472. The tests start hundreds of
/// processes, so none of them goes through it.)
///
/// It answers what the tests asked of `Process`: `isRunning`, `terminate()`, `exited()`,
/// `terminationStatus` and `terminationReason`. The child is reaped only under a lock that
/// signalling takes too, so no signal can reach another process given its pid since.
public final class SpawnedChild: @unchecked Sendable {  // `pid`, `captured` and `readers` are set in init; the rest is behind `lock`
    public enum Output: Sendable {
        /// Piped back: `finish()` and `standardOutput` give it.
        case capture
        case discard
        /// Appended to the file, made if missing.
        case file(String)
        /// A descriptor of this process above 2 (the write end of a pipe, say), duplicated into
        /// the child.
        case descriptor(Int32)
    }

    public enum TerminationReason: Equatable, Sendable { case exit, uncaughtSignal }

    public let pid: pid_t
    public var processIdentifier: pid_t { pid }
    /// What the child wrote to standard output and error so far, where captured.
    private let captured: [Locked<Data>?]
    private let readers: [Thread]
    private let lock = NSLock()
    /// The child's wait status, once reaped.
    private var waitStatus: Int32?

    public init(
        path: String, arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        stdout: Output = .capture, stderr: Output = .capture
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // The reading ends of the pipes made for captured streams.
        var readEnds: [Int32?] = []
        var writeEnds: [Int32] = []
        func closeAll() {
            for fd in writeEnds { close(fd) }
            for case let fd? in readEnds { close(fd) }
        }
        for (target, output) in [(Int32(1), stdout), (Int32(2), stderr)] {
            switch output {
            case .capture:
                var ends: [Int32] = [0, 0]
                guard Self.pipe2(&ends, O_CLOEXEC) == 0 else {
                    let error = SpawnError(errno: errno)
                    closeAll()
                    throw error
                }
                posix_spawn_file_actions_adddup2(&actions, ends[1], target)
                readEnds.append(ends[0])
                writeEnds.append(ends[1])
            case .discard:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
                readEnds.append(nil)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
                readEnds.append(nil)
            case .descriptor(let fd):
                // 0–2 would be the child's own by then (stdout's pipe, for stderr's 1).
                precondition(fd > 2, "a descriptor above 2 to hand the child, not \(fd)")
                posix_spawn_file_actions_adddup2(&actions, fd, target)
                readEnds.append(nil)
            }
        }
        _ = Self.addCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A test process ignores SIGPIPE (SwiftNIO) and may block signals: the child starts clean.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        for fd in writeEnds { close(fd) }
        writeEnds = []
        guard rc == 0 else {
            closeAll()
            throw SpawnError(errno: rc)
        }
        self.pid = pid
        let captured = readEnds.map { $0.map { _ in Locked(Data()) } }
        self.captured = captured
        readers = zip(readEnds, captured).compactMap { fd, into in
            guard let fd, let into else { return nil }
            let reader = Thread {
                Self.drain(fd, into: into)
                close(fd)
            }
            reader.start()
            return reader
        }
    }

    /// The child's wait status if it has ended, reaping it then; nil while it runs.
    private func reapIfEnded() -> Int32? {
        lock.withLock {
            if waitStatus == nil {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { waitStatus = status }
            }
            return waitStatus
        }
    }

    public var isRunning: Bool { reapIfEnded() == nil }

    /// Sends `signal` to the child unless it has been reaped (its pid may be another's by then).
    public func signal(_ signal: Int32) {
        lock.withLock {
            if waitStatus == nil { kill(pid, signal) }
        }
    }

    /// SIGTERM, as `Process.terminate()`.
    public func terminate() { signal(SIGTERM) }

    /// Waits for the child to end (without reaping it: that is `reapIfEnded`'s, under the lock).
    public func waitUntilExit() {
        while reapIfEnded() == nil {
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0, errno != EINTR {
                // Reaped meanwhile (by `reapIfEnded` on another thread): the loop finds its status.
                usleep(1000)
            }
        }
    }

    /// Returns once the child has ended, without holding a shared thread meanwhile.
    public func exited() async {
        await offPool { [self] in waitUntilExit() }
    }

    /// The exit code, or the number of the signal that ended the child (as Foundation's
    /// `terminationStatus`); only once it has ended.
    public var terminationStatus: Int32 {
        guard let status = reapIfEnded() else { preconditionFailure("the child \(pid) is still running") }
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : status & 0x7F
    }

    /// How the child ended; only once it has.
    public var terminationReason: TerminationReason {
        guard let status = reapIfEnded() else { preconditionFailure("the child \(pid) is still running") }
        return status & 0x7F == 0 ? .exit : .uncaughtSignal
    }

    /// What the child has written to standard output so far (empty unless captured).
    public var standardOutput: Data { captured[0]?.get() ?? Data() }

    /// Waits for the child to end and its captured streams to be read to their ends: its exit
    /// status (or the signal that ended it), standard output and error. (A process the child
    /// started that outlives it and holds a pipe open keeps this waiting.)
    public func finish() -> (status: Int32, stdout: Data, stderr: Data) {
        waitUntilExit()
        while readers.contains(where: { !$0.isFinished }) { usleep(1000) }
        return (terminationStatus, captured[0]?.get() ?? Data(), captured[1]?.get() ?? Data())
    }

    // glibc's, which Swift's Glibc module leaves out (they need _GNU_SOURCE): looked up once.
    private static let pipe2 = unsafeBitCast(
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2")!, to: (@convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32).self)
    private static let addCloseFrom = unsafeBitCast(
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")!,
        to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)

    /// Reads `fd` to its end into `data`, as it comes.
    private static func drain(_ fd: Int32, into data: Locked<Data>) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n > 0 {
                data.mutate { $0.append(contentsOf: chunk[0..<n]) }
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public var errno: Int32
    public var description: String { "posix_spawn: \(String(cString: strerror(errno)))" }
}

/// A value behind a lock, shared between threads (pipe readers, callbacks, watchdogs).
public final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    public init(_ value: T) { self.value = value }
    public func get() -> T { lock.withLock { value } }
    public func set(_ v: T) { lock.withLock { value = v } }
    public func mutate<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}
