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
            // Its children too (`verify` runs itself again as one), which hold the pipes open; the
            // child itself through `signal`, which sends nothing once it is reaped.
            let below = descendants(of: pid)
            child.signal(SIGKILL)
            for p in below { kill(p, SIGKILL) }
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
