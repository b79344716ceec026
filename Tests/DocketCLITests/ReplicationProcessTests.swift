import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// Leader and followers as `docket serve` processes, killed with SIGKILL mid-load.
@Suite("Replication with docket serve processes", .serialized)
struct ReplicationProcessTests {
    /// A `docket serve` child process whose log goes to a file.
    final class Server {
        let dir: String
        let port: Int
        let arguments: [String]
        let logPath: String
        private(set) var process: SpawnedChild?

        init(dir: String, port: Int, _ arguments: [String]) {
            self.dir = dir
            self.port = port
            self.arguments = arguments
            logPath = dir + ".log"
        }

        var address: String { "127.0.0.1:\(port)" }

        func start() throws {
            guard let executable = DocketProcess.executable else { throw NotBuilt() }
            var env = ProcessInfo.processInfo.environment
            env.removeValue(forKey: "DOCKET_TOKEN")
            // Each start's log is appended to the same file.
            process = try SpawnedChild(
                path: executable.path, arguments: ["serve", "--data-dir", dir, "--listen", address, "--log-level", "info"] + arguments,
                environment: env, stdout: .discard, stderr: .file(logPath))
        }

        func kill(_ signal: Int32 = SIGKILL) {
            guard let p = process, p.isRunning else { return }
            p.signal(signal)
            p.waitUntilExit()
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    }

    static func freePort() -> Int { DocketProcess.freePort() }

    func docket(_ args: [String], token: String, server: Server) async throws -> DocketProcess.Output {
        try await DocketProcess.run(args, environment: ["DOCKET_SERVER": server.address, "DOCKET_TOKEN": token])
    }

    func status(_ server: Server, token: String) async throws -> Value? {
        let out = try await docket(["status"], token: token, server: server)
        return out.status == 0 ? try? JSON.parse(out.stdout) : nil
    }

    /// Polls `condition` until it holds. A node of `watching` that exits ends the wait at once;
    /// either failure names each node's state and the end of its log, so a failure on a CI
    /// machine says what the nodes were doing.
    func waitUntil(_ what: String, watching servers: [Server] = [], timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            if servers.contains(where: { $0.process.map { !$0.isRunning } ?? false }) {
                throw TestFailure("a node exited while waiting until \(what)\n" + Self.diagnosis(servers))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("timed out waiting until \(what)\n" + Self.diagnosis(servers))
    }

    static func diagnosis(_ servers: [Server]) -> String {
        servers.map { s in
            let state = s.process.map { $0.isRunning ? "running" : "exited with status \($0.terminationStatus)" } ?? "not started"
            let tail = s.log.split(separator: "\n", omittingEmptySubsequences: true).suffix(15).joined(separator: "\n    ")
            return "\(s.address) (\(s.dir)): \(state); its log ends:\n    \(tail)"
        }.joined(separator: "\n")
    }

    @Test("a report command a synchronous follower did not confirm in time says how to retry it: the same command with the same ids, which then records nothing twice")
    func replicationTimeoutRetry() async throws {
        try await withTemporaryDirectory("docket-repl-retry") { root in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", root + "/L"])
            let replica = try await DocketProcess.run(["token", "create", "--role", "replica", "--standby", "--name", "replicas", "--data-dir", root + "/L"])
            let policy = DomainCommandTests.policies.appendingPathComponent("aumos.toml").path
            let adopted = try await DocketProcess.run(["policy", "adopt", "--project", "p", policy, "--data-dir", root + "/L"])
            try #require(admin.status == 0 && replica.status == 0 && adopted.status == 0)
            let adminToken = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let replicaToken = replica.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let leader = Server(dir: root + "/L", port: Self.freePort(), ["--sync-replicas", "1", "--sync-timeout", "1"])
            let follower = Server(dir: root + "/F", port: Self.freePort(), ["--replica-of", leader.address, "--token", replicaToken])
            defer { for s in [leader, follower] { s.kill() } }
            try leader.start()
            try await waitUntil("the leader serves", watching: [leader]) { try await status(leader, token: adminToken) != nil }
            // No follower yet: durable on the leader, not acknowledged. The report id and the
            // event id were both made up by the CLI, so the answer names them.
            let submit = ["report", "submit", "--project", "p", "--title", "t", "--reporter", "ada"]
            let timedOut = try await docket(submit, token: adminToken, server: leader)
            #expect(timedOut.status == 1 && timedOut.stderr.hasPrefix("error: replication-timeout: "), "\(timedOut.stderr)")
            // A token made meanwhile works on the leader; its secret, shown once, is not lost
            // with the error in text mode (it is in the error's details under --json).
            let made = try await docket(["token", "create", "--role", "auditor", "--name", "late"], token: adminToken, server: leader)
            let secret = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(made.status == 1 && made.stderr.hasPrefix("error: replication-timeout: ") && secret.hasPrefix("dkt_"), "\(made.stdout) \(made.stderr)")
            #expect(try await status(leader, token: secret) != nil)
            // A raw append's event id was made up by the CLI too: the answer names it.
            let append = ["append", "--stream", "misc", "--type", "Note", "--data", "{}"]
            let appendTimedOut = try await docket(append, token: adminToken, server: leader)
            let appendHint = appendTimedOut.stderr.components(separatedBy: "; to retry it, run the same command again with ").dropFirst().first ?? ""
            let appendID = appendHint.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
            #expect(appendTimedOut.status == 1 && appendID.count == 2 && appendID[0] == "--id", "\(appendTimedOut.stderr)")
            let hint = try #require(timedOut.stderr.components(separatedBy: "; to retry it, run the same command again with ").last)
            let ids = hint.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
            #expect(ids.count == 4 && ids[0] == "--id" && ids[2] == "--report", "\(timedOut.stderr)")
            // Once a follower holds it, the retry is acknowledged as the event already recorded.
            try follower.start()
            var retried = DocketProcess.Output(status: 1, stdout: "", stderr: "")
            try await waitUntil("the retry is acknowledged", watching: [leader, follower]) {
                retried = try await docket(submit + ids, token: adminToken, server: leader)
                return retried.status == 0
            }
            #expect(retried.stdout.contains("(already recorded; nothing appended)"), "\(retried.stdout)")
            let appendRetried = try await docket(append + appendID, token: adminToken, server: leader)
            #expect(appendRetried.status == 0 && (try? JSON.parse(appendRetried.stdout))?["duplicate"] == true, "\(appendRetried.stdout) \(appendRetried.stderr)")
            let state = try await docket(["state", "--json"], token: adminToken, server: leader)
            #expect(state.stdout.split(separator: "\n").count == 1 && state.stdout.contains(ids[3]), "\(state.stdout)")
            #expect(!state.stderr.contains("warning"), "\(state.stderr)")
            // The follower's data directory read without its node: what it had replicated, said so.
            follower.kill()
            let local = try await DocketProcess.run(["state", "--data-dir", root + "/F"])
            #expect(local.status == 0 && local.stdout.contains(ids[3]), "\(local.stderr)")
            #expect(local.stderr.contains("warning: these views come from a follower that may not be following its leader now (read from a follower's data directory, not from its node)"), "\(local.stderr)")
        }
    }

    @Test("with --sync-replicas 1 a leader SIGKILLed mid-load loses no acknowledged append on the promoted follower; a follower SIGKILLed mid-load catches up when restarted")
    func killLeaderMidLoad() async throws {
        try await withTemporaryDirectory("docket-repl-proc") { root in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", root + "/L"])
            let replica = try await DocketProcess.run(["token", "create", "--role", "replica", "--standby", "--name", "replicas", "--data-dir", root + "/L"])
            try #require(admin.status == 0 && replica.status == 0)
            let adminToken = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let replicaToken = replica.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let leader = Server(dir: root + "/L", port: Self.freePort(), ["--sync-replicas", "1", "--sync-timeout", "10"])
            let f = Server(dir: root + "/F", port: Self.freePort(), ["--replica-of", leader.address, "--token", replicaToken])
            let g = Server(dir: root + "/G", port: Self.freePort(), ["--replica-of", leader.address, "--token", replicaToken])
            defer { for s in [leader, f, g] { s.kill() } }
            try leader.start()
            try await waitUntil("the leader serves", watching: [leader]) { try await status(leader, token: adminToken) != nil }
            try f.start()
            try g.start()
            // Followers answer STATUS once the admin token has replicated to them.
            try await waitUntil("the followers serve", watching: [leader, f, g]) {
                guard try await status(f, token: adminToken) != nil else { return false }
                return try await status(g, token: adminToken) != nil
            }

            let writer = try SpawnedChild(
                path: try #require(DocketProcess.executable).path,
                arguments: ["bench", "remote-writer", "--server", leader.address, "--token", adminToken, "--concurrency", "8", "--prefix", "w"],
                stderr: .discard)
            defer { writer.signal(SIGKILL) }
            try await Task.sleep(for: .seconds(1))
            // A follower killed mid-load, started again, catches up while the load goes on.
            g.kill()
            try await Task.sleep(for: .milliseconds(500))
            try g.start()
            let leaderHead = try #require(try await status(leader, token: adminToken)?["lastSequence"]?.intValue)
            try await waitUntil("the restarted follower catches up", watching: [leader, f, g]) { (try await status(g, token: adminToken)?["lastSequence"]?.intValue ?? 0) >= leaderHead }
            try await Task.sleep(for: .milliseconds(500))
            leader.kill()  // SIGKILL, mid-load
            try await Task.sleep(for: .milliseconds(300))
            writer.signal(SIGKILL)
            let acknowledged = String(decoding: await offPool { writer.finish() }.stdout, as: UTF8.self).split(separator: "\n").compactMap { line -> (String, Int64)? in
                let parts = line.split(separator: " ")
                guard parts.count == 2, let seq = Int64(parts[1]) else { return nil }  // a line cut by the kill
                return (String(parts[0]), seq)
            }
            #expect(acknowledged.count > 50, "the load ran (\(acknowledged.count) acknowledged appends)")

            // Promote the follower that is furthest ahead: it holds every acknowledged append.
            var heads: [Int64] = []
            for follower in [f, g] { heads.append(try await status(follower, token: adminToken)?["lastSequence"]?.intValue ?? 0) }
            let (promoted, other) = heads[0] >= heads[1] ? (f, g) : (g, f)
            let promotion = try await docket(["promote", "--json"], token: adminToken, server: promoted)
            #expect(promotion.status == 0, "\(promotion.stderr)")
            let p = try JSON.parse(promotion.stdout)
            #expect(p["epoch"] == 1 && p["previousLeader"]?.stringValue == leader.address && p["previousLeaderTold"] == false)
            let read = try await docket(["read"], token: adminToken, server: promoted)
            #expect(read.status == 0)
            var held: [String: Int64] = [:]
            for line in read.lines {
                let e = try JSON.parse(line)
                if let id = e["id"]?.stringValue, let seq = e["seq"]?.intValue { held[id] = seq }
            }
            let lost = acknowledged.filter { held[$0.0] != $0.1 }
            #expect(lost.isEmpty, "acknowledged appends missing on the promoted follower: \(lost.prefix(5))")
            // The new leader takes writes; the other follower, pointed at it, converges byte for byte.
            #expect(try await docket(["append", "--stream", "after", "--type", "Note", "--data", "{}"], token: adminToken, server: promoted).status == 0)
            other.kill(SIGTERM)
            let moved = Server(dir: other.dir, port: other.port, ["--replica-of", promoted.address, "--token", replicaToken])
            try moved.start()
            defer { moved.kill() }
            let promotedHead = try #require(try await status(promoted, token: adminToken)?["lastSequence"]?.intValue)
            try await waitUntil("the other follower follows the new leader", watching: [promoted, moved]) {
                (try await status(moved, token: adminToken)?["lastSequence"]?.intValue ?? 0) == promotedHead
            }
            // The old leader, down when it was promoted past, restarted as it was: the new leader
            // keeps trying to tell it, and soon it is fenced, naming the new leader.
            let back = Server(dir: leader.dir, port: leader.port, ["--sync-replicas", "1", "--sync-timeout", "10"])
            try back.start()
            defer { back.kill() }
            try await waitUntil("the restarted old leader is fenced", watching: [promoted, back]) {
                try await status(back, token: adminToken)?["role"]?.stringValue == "fenced"
            }
            let refused = try await docket(["append", "--stream", "late", "--type", "Note", "--data", "{}"], token: adminToken, server: back)
            #expect(refused.status == 1 && refused.stderr.contains("fenced") && refused.stderr.contains(promoted.address), "\(refused.stderr)")
            back.kill(SIGTERM)
            moved.kill(SIGTERM)
            promoted.kill(SIGTERM)
            let a = try EventStore.open(directory: promoted.dir, configuration: { var c = EventStore.Configuration(); c.readOnly = true; return c }())
            let b = try EventStore.open(directory: other.dir, configuration: { var c = EventStore.Configuration(); c.readOnly = true; return c }())
            #expect(a.head.sequence == UInt64(promotedHead) && a.head == b.head)
            for seq in stride(from: UInt64(1), through: a.head.sequence, by: 1) where try a.rawRecord(at: seq) != b.rawRecord(at: seq) {
                Issue.record("record \(seq) differs")
                break
            }
            #expect(try a.highestDictionaryVersion() == (try b.highestDictionaryVersion()))
            #expect(try a.verify().isIntact && b.verify().isIntact)
            a.close()
            b.close()
            // No token reaches a log.
            for s in [leader, f, g] {
                #expect(!s.log.contains(String(adminToken.split(separator: "_").last!)) && !s.log.contains(String(replicaToken.split(separator: "_").last!)))
            }
            #expect(f.log.contains("following") || g.log.contains("following"))
        }
    }

    @Test("a follower pointed at a node of another ledger is refused with a clear error; neither log changes")
    func wrongLedger() async throws {
        try await withTemporaryDirectory("docket-repl-proc") { root in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", root + "/A"])
            let other = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", root + "/B"])
            try #require(admin.status == 0 && other.status == 0)
            let token = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let leader = Server(dir: root + "/A", port: Self.freePort(), [])
            defer { leader.kill() }
            try leader.start()
            try await waitUntil("the leader serves", watching: [leader]) { try await status(leader, token: token) != nil }
            let before = try await DocketProcess.run(["read", "--data-dir", root + "/B"]).stdout
            let refused = try await DocketProcess.run([
                "serve", "--data-dir", root + "/B", "--listen", "127.0.0.1:\(Self.freePort())", "--replica-of", leader.address, "--token", token,
            ])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("wrong-ledger") && refused.stderr.contains("Nothing was changed"), "\(refused.stderr)")
            #expect(try await DocketProcess.run(["read", "--data-dir", root + "/B"]).stdout == before)
            #expect(!FileManager.default.fileExists(atPath: root + "/B/replication.json"))
            #expect(try await status(leader, token: token)?["lastSequence"] == 1)
        }
    }
}

extension ReplicationProcessTests {
    @Test("""
        a stopped follower's data directory refuses local writes and can be promoted offline; served with a standby's --token \
        and no --replica-of, it fences the old leader (and says so when its token cannot, or when a leader's --token is of no use)
        """)
    func offlinePromotion() async throws {
        try await withTemporaryDirectory("docket-repl-proc") { root in
            func token(_ arguments: String...) async throws -> String {
                let made = try await DocketProcess.run(["token", "create"] + arguments + ["--data-dir", root + "/L"])
                try #require(made.status == 0, "\(made.stderr)")
                return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let adminToken = try await token("--role", "admin", "--name", "root")
            let standbyToken = try await token("--role", "replica", "--standby", "--name", "r")
            let readOnlyToken = try await token("--role", "replica", "--name", "copy")
            // A leader given a --token it has no use for says so (a secret shown on its command line for nothing).
            let leader = Server(dir: root + "/L", port: Self.freePort(), ["--token", adminToken])
            let follower = Server(dir: root + "/F", port: Self.freePort(), ["--replica-of", leader.address, "--token", standbyToken])
            defer { for s in [leader, follower] { s.kill() } }
            try leader.start()
            try await waitUntil("the leader serves", watching: [leader]) { try await status(leader, token: adminToken) != nil }
            #expect(leader.log.contains("--token is not used"), "\(leader.log)")
            try follower.start()
            try await waitUntil("the follower caught up", watching: [leader, follower]) { try await status(follower, token: adminToken)?["lastSequence"] == 3 }
            follower.kill(SIGTERM)
            let refused = try await DocketProcess.run(["append", "--data-dir", root + "/F", "--stream", "s", "--type", "Note", "--data", "{}"])
            #expect(refused.status == 1 && refused.stderr.contains("not-leader") && refused.stderr.contains(leader.address), "\(refused.stderr)")
            let promoted = try await DocketProcess.run(["promote", "--data-dir", root + "/F", "--advertise", follower.address])
            #expect(promoted.status == 0 && promoted.stdout.contains("epoch 1 starts at sequence 4 (after 3)"), "\(promoted.stdout)\(promoted.stderr)")
            #expect(try await DocketProcess.run(["append", "--data-dir", root + "/F", "--stream", "s", "--type", "Note", "--data", "{}"]).status == 0)
            let again = try await DocketProcess.run(["promote", "--data-dir", root + "/F"])
            #expect(again.status == 1 && again.stderr.contains("already-leader"))
            #expect(try await DocketProcess.run(["verify", "--data-dir", root + "/F"]).status == 0)
            // Served without a token, the promoted node cannot tell the old leader: it says so.
            let tokenless = Server(dir: root + "/F", port: follower.port, [])
            defer { tokenless.kill() }
            try tokenless.start()
            try await waitUntil("the promoted node says it has no token", watching: [tokenless]) { tokenless.log.contains("served without a token") }
            tokenless.kill(SIGTERM)
            // Served with a token that only reads, the promoted node cannot depose the old leader,
            // which goes on taking writes: the node says so as it starts, rather than trying.
            let readOnly = Server(dir: root + "/F", port: follower.port, ["--token", readOnlyToken])
            defer { readOnly.kill() }
            try readOnly.start()
            try await waitUntil("the promoted node says its token cannot depose", watching: [readOnly]) { readOnly.log.contains("cannot depose the previous leader") }
            #expect(try await docket(["append", "--stream", "s", "--type", "Note", "--data", "{}"], token: adminToken, server: leader).status == 0)
            readOnly.kill(SIGTERM)
            // With the standby's token it followed with (and no --replica-of): it tells the old
            // leader, still running, of its epoch, and the old leader stops taking writes, naming it.
            let promotedNode = Server(dir: root + "/F", port: follower.port, ["--token", standbyToken])
            defer { promotedNode.kill() }
            try promotedNode.start()
            try await waitUntil("the old leader is fenced", watching: [leader, promotedNode]) {
                try await status(leader, token: adminToken)?["role"]?.stringValue == "fenced"
            }
            let fenced = try await docket(["append", "--stream", "s", "--type", "Note", "--data", "{}"], token: adminToken, server: leader)
            #expect(fenced.status == 1 && fenced.stderr.contains("fenced") && fenced.stderr.contains(follower.address), "\(fenced.stderr)")
            #expect(!promotedNode.log.contains("is not used"), "\(promotedNode.log)")
            // Once the old leader has answered, that is recorded: served without a token again,
            // the node no longer warns (the one warning in its log is the earlier run's).
            try await waitUntil("the promoted node records that the old leader knows", watching: [promotedNode]) {
                (try? NodeState.load(directory: root + "/F").told) == 1
            }
            promotedNode.kill(SIGTERM)
            let restarted = Server(dir: root + "/F", port: follower.port, [])
            defer { restarted.kill() }
            // It says it listens once it has judged what to tell the previous leader (the line
            // each start adds to the log the runs on this directory share).
            func listening() -> Int { restarted.log.components(separatedBy: "listening").count - 1 }
            let before = listening()
            try restarted.start()
            try await waitUntil("the promoted node listens again", watching: [restarted]) { listening() > before }
            #expect(restarted.log.components(separatedBy: "served without a token").count == 2, "\(restarted.log)")
            restarted.kill(SIGTERM)
            for s in [leader, follower, promotedNode] {
                for secret in [adminToken, standbyToken, readOnlyToken] { #expect(!s.log.contains(String(secret.split(separator: "_").last!))) }
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
