import DocketTestSupport
import Foundation
import Testing

/// The `docket` executable built next to this test bundle (SwiftPM puts every product of a
/// configuration in one directory), run as a child process.
enum DocketProcess {
    static let executable: URL? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("docket")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    /// A loopback port for a node this test starts: free when picked, and below the range the
    /// kernel hands out to client connections (32768–60999 on Linux), so no test's client
    /// takes it before the node binds it. Random, so tests running at once rarely pick the same.
    static func freePort() -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20000...32000)
            if isFree(port) { return port }
        }
        return Int.random(in: 20000...32000)
    }

    private static func isFree(_ port: Int) -> Bool {
        guard let fd = bound(port) else { return false }
        close(fd)
        return true
    }

    /// A socket bound to 127.0.0.1:`port` (nil if it cannot be); the caller closes it.
    static func bound(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard ok else {
            close(fd)
            return nil
        }
        return fd
    }

    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// Runs `docket arguments…` to completion, waiting on a thread of its own: a test that
    /// blocked one of Swift's few shared threads on a child process would starve every other
    /// test running at the same time (an in-process node's handshake timing out, a polling loop
    /// overslept past its deadline).
    /// With `addressSpaceKiB`, under `ulimit -v` of that many KiB.
    static func run(_ arguments: [String], environment: [String: String] = [:], addressSpaceKiB: Int? = nil) async throws -> Output {
        try await offPool { try runBlocking(arguments, environment: environment, addressSpaceKiB: addressSpaceKiB) }
    }

    /// How long a command may run before it is killed: one that hangs fails its test (status
    /// SIGKILL, and stderr says why) rather than holding up the whole suite until CI gives up.
    static let timeout = DispatchTimeInterval.seconds(300)

    private static func runBlocking(_ arguments: [String], environment: [String: String], addressSpaceKiB: Int?) throws -> Output {
        guard let executable else { throw NotBuilt() }
        let (path, argv) = addressSpaceKiB.map { kib in ("/bin/sh", ["-c", "ulimit -v \(kib) && exec \"$0\" \"$@\"", executable.path] + arguments) }
            ?? (executable.path, arguments)
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DOCKET_DATA_DIR")
        // As a user runs it: with the crash handling a developer's SWIFT_BACKTRACE would turn off.
        env.removeValue(forKey: "SWIFT_BACKTRACE")
        for (k, v) in environment { env[k] = v }
        let child = try SpawnedChild(path: path, arguments: argv, environment: env)
        let killed = Locked(false)
        let exited = Locked(false)
        let pid = child.pid
        let watchdog = DispatchWorkItem {
            guard !exited.get() else { return }
            killed.set(true)
            // Its children too (`verify` runs itself again as one), which hold the pipes open.
            for p in [pid] + descendants(of: pid) { kill(p, SIGKILL) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let (status, outData, errData) = child.finish()
        exited.set(true)
        watchdog.cancel()
        var stderr = String(decoding: errData, as: UTF8.self)
        if killed.get() { stderr += "\n[test harness: docket \(arguments.joined(separator: " ")) killed after \(timeout) without finishing]\n" }
        return Output(status: status, stdout: String(decoding: outData, as: UTF8.self), stderr: stderr)
    }
}

/// A child process started with `posix_spawn`, its standard input /dev/null, every other
/// descriptor of this process closed in it and every signal at its default, as Foundation's
/// `Process` starts one; standard output and error are each captured (read as the child writes,
/// so neither pipe fills and blocks it), discarded, appended to a file or a descriptor of ours.
/// (Foundation's `Process.run()` on Linux reads 256 bytes past each `/proc/self/fd` entry while
/// listing the descriptors to close, and now and then past the end of a mapped page: the whole
/// test process crashed so in CI, swift-corelibs-foundation#5472. The CLI tests start hundreds
/// of processes, so none of them goes through it.)
///
/// It answers what the tests asked of `Process`: `isRunning`, `terminate()`, `exited()`,
/// `terminationStatus` and `terminationReason`.
final class SpawnedChild: @unchecked Sendable {  // `pid`, `captured` and `readers` are set in init; the rest is behind locks
    enum Output {
        /// Piped back: `finish()` and `standardOutput`/`standardError` give it.
        case capture
        case discard
        /// Appended to the file, made if missing.
        case file(String)
        /// A descriptor of this process (the write end of a pipe, say), duplicated into the child.
        case descriptor(Int32)
    }

    enum TerminationReason: Equatable { case exit, uncaughtSignal }

    let pid: pid_t
    var processIdentifier: pid_t { pid }
    /// What the child wrote to standard output and error so far, where captured.
    private let captured: [Locked<Data>?]
    private let readers: [Thread]
    /// The child's wait status, once reaped.
    private let waitStatus = Locked<Int32?>(nil)

    init(
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

    /// Reaps the child if it has ended (waiting for it to with `blocking`): its wait status, or
    /// nil while it runs.
    @discardableResult
    private func reap(blocking: Bool) -> Int32? {
        if let status = waitStatus.get() { return status }
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if r == pid { return waitStatus.mutate { $0 = $0 ?? status; return $0 } }
            if r == 0 { return nil }
            if errno == EINTR { continue }
            // ECHILD: another thread reaped it meanwhile and is about to record its status.
            while waitStatus.get() == nil { usleep(100) }
            return waitStatus.get()
        }
    }

    var isRunning: Bool { reap(blocking: false) == nil }

    /// Sends `signal` to the child unless it has been reaped (its pid may be another's by then).
    func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// SIGTERM, as `Process.terminate()`.
    func terminate() { signal(SIGTERM) }

    func waitUntilExit() { reap(blocking: true) }

    /// Returns once the child has ended, without holding a shared thread meanwhile.
    func exited() async {
        await offPool { [self] in waitUntilExit() }
    }

    /// The exit code, or the number of the signal that ended the child (as Foundation's
    /// `terminationStatus`); only once it has ended.
    var terminationStatus: Int32 {
        let status = reap(blocking: false) ?? { preconditionFailure("the child \(pid) is still running") }()
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : status & 0x7F
    }

    var terminationReason: TerminationReason { reap(blocking: false).map { $0 & 0x7F == 0 ? .exit : .uncaughtSignal } ?? .exit }

    /// What the child has written to standard output so far (empty unless captured).
    var standardOutput: Data { captured[0]?.get() ?? Data() }

    /// Waits for the child to end and its captured streams to be read to their ends: its exit
    /// status (or the signal that ended it), standard output and error.
    func finish() -> (status: Int32, stdout: Data, stderr: Data) {
        waitUntilExit()
        // A grandchild may still hold a pipe open; the child's own end is closed.
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

struct SpawnError: Error, CustomStringConvertible {
    var errno: Int32
    var description: String { "posix_spawn: \(String(cString: strerror(errno)))" }
}

/// The processes descended from `pid`, from the parent each names in `/proc/PID/stat`.
func descendants(of pid: Int32) -> [Int32] {
    var children: [Int32: [Int32]] = [:]
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { continue }
        // "PID (COMMAND) STATE PPID …": the command may hold spaces and parentheses.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = Int32(fields[1]) { children[parent, default: []].append(child) }
    }
    var found: [Int32] = []
    var queue = children[pid] ?? []
    while let next = queue.popLast() {
        found.append(next)
        queue += children[next] ?? []
    }
    return found
}

struct NotBuilt: Error, CustomStringConvertible {
    var description: String { "the docket executable is not next to the test bundle (\(CommandLine.arguments[0])); run swift build first" }
}

/// A value behind a lock, for pipe readers and flags shared with a watchdog.
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
    func mutate<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}
