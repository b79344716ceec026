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
        let process = Process()
        guard let executable else { throw NotBuilt() }
        if let addressSpaceKiB {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -v \(addressSpaceKiB) && exec \"$0\" \"$@\"", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DOCKET_DATA_DIR")
        // As a user runs it: with the crash handling a developer's SWIFT_BACKTRACE would turn off.
        env.removeValue(forKey: "SWIFT_BACKTRACE")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let killed = Locked(false)
        let pid = process.processIdentifier
        nonisolated(unsafe) let running = process
        let watchdog = DispatchWorkItem {
            guard running.isRunning else { return }
            killed.set(true)
            // Its children too (`verify` runs itself again as one), which hold the pipes open.
            for p in [pid] + descendants(of: pid) { kill(p, SIGKILL) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        // Read both pipes concurrently so neither fills up and blocks the child.
        let errData = Locked(Data())
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        while !reader.isFinished { usleep(1000) }
        var stderr = String(decoding: errData.get(), as: UTF8.self)
        if killed.get() { stderr += "\n[test harness: docket \(arguments.joined(separator: " ")) killed after \(timeout) without finishing]\n" }
        return Output(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: stderr)
    }
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

/// A value behind a lock, for pipe readers.
/// Reads a pipe to its end on a thread of its own, so a child never blocks on a full pipe. Not
/// `FileHandle.readabilityHandler`: on Linux its dispatch source can still be registered when the
/// pipe's descriptor is closed, and libdispatch's event loop then crashes the test process.
final class PipeDrain: @unchecked Sendable {
    private let data = Locked(Data())
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [data, done] in
            data.set(handle.readDataToEndOfFile())
            done.signal()
        }
    }

    /// Everything the pipe carried, once its writers have closed it (the child exited).
    func wait() async -> Data {
        await offPool { [self] in blockingWait() }
    }

    /// `wait()` for code already on a thread of its own.
    func blockingWait() -> Data {
        done.wait()
        return data.get()
    }
}

extension Process {
    /// Returns once the process has exited, without holding a shared thread meanwhile.
    func exited() async {
        let process = UncheckedBox(self)
        await offPool { process.value.waitUntilExit() }
    }
}

/// A value handed to a thread that is the only one using it meanwhile.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ v: T) { lock.withLock { value = v } }
    func mutate<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}
