import DocketCore
import DocketTestSupport
import Foundation
import Testing

/// `docket serve` as a real process, and the same commands run against it with --server.
@Suite("docket serve and --server")
struct RemoteCommandTests {
    static let policy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas/policies/aumos.toml").path

    /// A port nothing listens on right now.
    static func freePort() -> Int { DocketProcess.freePort() }

    /// `docket serve ARGS…` at a free loopback port, started: the process (its log, stderr, is
    /// captured: `finish()` gives it) and its port.
    static func serve(_ arguments: [String]) throws -> (process: SpawnedChild, port: Int) {
        guard let executable = DocketProcess.executable else { throw NotBuilt() }
        let port = freePort()
        let serve = try SpawnedChild(path: executable.path, arguments: ["serve", "--listen", "127.0.0.1:\(port)"] + arguments, stdout: .discard)
        return (serve, port)
    }

    /// `docket serve` on `dir` at a free loopback port, started.
    static func serve(_ dir: String) throws -> (process: SpawnedChild, port: Int) { try serve(["--data-dir", dir]) }

    /// What a node started by `serve` logged, once it has ended.
    static func log(of serve: SpawnedChild) async -> String {
        String(decoding: await offPool { serve.finish() }.stderr, as: UTF8.self)
    }

    /// Whether the node answers STATUS (`answers`) within 30 s of starting (while `alive`).
    static func untilServing(while alive: () -> Bool = { true }, _ answers: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<600 where alive() {
            if try await answers() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// `docket ARGS…` run as nobody (uid and gid 65534), started; the caller waits or terminates it.
    static func asNobody(_ arguments: [String], environment: [String: String] = [:], stderr: SpawnedChild.Output = .discard) throws -> SpawnedChild {
        guard let executable = DocketProcess.executable else { throw NotBuilt() }
        return try SpawnedChild(
            path: "/usr/bin/setpriv", arguments: ["--reuid=65534", "--regid=65534", "--clear-groups", executable.path] + arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, stdout: .discard, stderr: stderr)
    }

    /// `docket ARGS…` run as nobody to its end: its exit status and what it wrote to stderr.
    static func runAsNobody(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
        let p = try asNobody(arguments, stderr: .capture)
        let (status, _, said) = await offPool { p.finish() }
        return (status, String(decoding: said, as: UTF8.self))
    }

    /// `chown OWNER PATHS…` (with -R for `recursive`), run to its end.
    static func chown(_ owner: String, _ path: String, recursive: Bool = false) async throws {
        let p = try SpawnedChild(path: "/bin/chown", arguments: (recursive ? ["-R"] : []) + [owner, path])
        _ = await offPool { p.finish() }
    }

    @Test("a ledger file the user may not write is named, with its owner, mode and what to do; reading it still works",
          .enabled(if: canRunAsNobody, "needs root and setpriv, to run docket as nobody"))
    func unwritableLedger() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/data"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
            #expect(try await DocketProcess.run(["append", "--stream", "misc", "--type", "Note", "--data", "{}", "--data-dir", data]).status == 0)
            try await Self.chown("65534:65534", dir, recursive: true)
            try await Self.chown("0:0", data + "/ledger/data.mdb")
            let append = try await Self.runAsNobody(["append", "--stream", "misc", "--type", "Note", "--data", "{}", "--data-dir", data])
            #expect(append.status == 1)
            #expect(append.stderr.contains("cannot write \(data)/ledger/data.mdb: it is owned by root (mode 0600) and docket runs as nobody") && append.stderr.contains("chown -R nobody \(data)"), "\(append.stderr)")
            #expect(try await DocketProcess.run(["read", "--data-dir", data]).lines.count == 1)
            // Reading as nobody names the file too; and a ledger directory nobody may enter is named as that.
            let read = try await Self.runAsNobody(["read", "--data-dir", data])
            #expect(read.status == 1 && read.stderr.contains("cannot read \(data)/ledger/data.mdb: it is owned by root (mode 0600)"), "\(read.stderr)")
            try await Self.chown("0:0", data + "/ledger")
            let enter = try await Self.runAsNobody(["append", "--stream", "misc", "--type", "Note", "--data", "{}", "--data-dir", data])
            #expect(enter.status == 1 && enter.stderr.contains("cannot enter \(data)/ledger: it is owned by root (mode 0700) and docket runs as nobody"), "\(enter.stderr)")
        }
    }

    @Test("a node key the node's user may not read is named as that, with its owner and mode, not as no key",
          .enabled(if: canRunAsNobody, "needs root and setpriv, to run docket as nobody"))
    func unreadableNodeKey() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/data"
            #expect(try await DocketProcess.run(["key", "create", "--data-dir", data]).status == 0)
            // Root made the key in the service user's directory, and gave the rest away.
            try await Self.chown("65534:65534", dir, recursive: true)
            try await Self.chown("0:0", data + "/node.key")
            let (status, said) = try await Self.runAsNobody(["checkpoint", "--data-dir", data])
            #expect(status == 1)
            #expect(said.contains("cannot read \(data)/node.key (Permission denied, owned by root, mode 0600)") && said.contains("do not make a new one"), "\(said)")
            #expect(!said.contains("is not a Docket node key"), "\(said)")
        }
    }

    /// Root, with setpriv, and a build nobody may run: what `unprivileged` needs.
    static let canRunAsNobody: Bool = {
        guard getuid() == 0, DocketProcess.executable != nil, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
            let p = try? asNobody(["--version"])
        else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()

    @Test("a node and a client run by an unprivileged user talk to each other: no socket option they set needs privilege",
          .enabled(if: canRunAsNobody, "needs root and setpriv, to run docket as nobody"))
    func unprivileged() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/data"
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", data])
            #expect(admin.status == 0)
            let token = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try await Self.chown("65534:65534", dir, recursive: true)
            let port = Self.freePort()
            let serve = try Self.asNobody(["serve", "--data-dir", data, "--listen", "127.0.0.1:\(port)"])
            defer { if serve.isRunning { serve.terminate() } }
            let env = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": token]
            let up = try await Self.untilServing(while: { serve.isRunning }) {
                let status = try Self.asNobody(["status"], environment: env)
                await status.exited()
                return status.terminationStatus == 0
            }
            #expect(up, "an unprivileged client could not talk to an unprivileged node")
            // And a root client to the unprivileged node.
            #expect(try await DocketProcess.run(["append", "--stream", "misc", "--type", "Note", "--data", "{}"], environment: env).status == 0)
            serve.terminate()
            await serve.exited()
        }
    }

    @Test("SIGHUP (the node's terminal closed) stops a node as SIGTERM does: drained, with a last log line, exit 0", arguments: [SIGHUP, SIGTERM])
    func hangUp(_ signal: Int32) async throws {
        try await withTemporaryDirectory { dir in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", dir])
            let token = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let (serve, port) = try Self.serve(dir)
            defer { if serve.isRunning { serve.terminate() } }
            let env = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": token]
            #expect(try await Self.untilServing { try await DocketProcess.run(["status"], environment: env).status == 0 })
            serve.signal(signal)
            await serve.exited()
            let logged = await Self.log(of: serve)
            #expect(serve.terminationReason == .exit && serve.terminationStatus == 0, "\(serve.terminationReason) \(serve.terminationStatus)")
            #expect(logged.contains("shutting down") && logged.contains("stopped serving"), "\(logged)")
            // "stopped" is the last line, after everything the node does on its way out.
            let last = logged.split(separator: "\n").last { !$0.isEmpty } ?? ""
            #expect(last.contains("stopped") && !last.contains("stopped serving"), "\(logged)")
        }
    }

    @Test("serve on an address another process listens on is refused before it makes a ledger or an admin token")
    func busyPort() async throws {
        try await withTemporaryDirectory { dir in
            // A port taken and held at once (a free one found first could be taken by another
            // test's node before it is bound here).
            var found: (port: Int, fd: Int32)?
            for _ in 0..<100 where found == nil {
                let port = Self.freePort()
                if let fd = DocketProcess.bound(port) { found = (port, fd) }
            }
            let (port, held) = try #require(found)
            defer { close(held) }
            #expect(listen(held, 1) == 0)
            let serve = try await DocketProcess.run(["serve", "--data-dir", dir + "/data", "--listen", "127.0.0.1:\(port)", "--admin-token-file", dir + "/admin.token"])
            #expect(serve.status == 1)
            #expect(serve.stderr.contains("cannot listen on 127.0.0.1:\(port): Address already in use: another process listens there") && serve.stderr.contains("nothing was made"), "\(serve.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/data"), "a ledger was made")
            #expect(!FileManager.default.fileExists(atPath: dir + "/admin.token"), "an admin token was made")
        }
    }

    @Test("a node started ignoring SIGHUP (under nohup) keeps ignoring it")
    func nohup() async throws {
        try await withTemporaryDirectory { dir in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", dir])
            let token = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let port = Self.freePort()
            // What nohup does: SIGHUP ignored, which exec keeps.
            let serve = try SpawnedChild(
                path: "/bin/sh",
                arguments: ["-c", "trap '' HUP; exec \"$0\" serve --data-dir \"$1\" --listen 127.0.0.1:$2", try #require(DocketProcess.executable).path, dir, "\(port)"],
                stdout: .discard, stderr: .discard)
            defer { if serve.isRunning { serve.terminate() } }
            let env = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": token]
            #expect(try await Self.untilServing { try await DocketProcess.run(["status"], environment: env).status == 0 })
            serve.signal(SIGHUP)
            try await Task.sleep(for: .milliseconds(500))
            #expect(serve.isRunning)
            #expect(try await DocketProcess.run(["status"], environment: env).status == 0)
            serve.terminate()
            await serve.exited()
            #expect(serve.terminationStatus == 0)
        }
    }

    @Test("read --server pages through events too large for one answer: a short page is not the end")
    func remoteReadPages() async throws {
        try await withTemporaryDirectory { dir in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", dir])
            let token = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // 45 events of about 50 KB: more than one EVENTS frame holds (half the 4 MiB maximum).
            let big = "{\"x\":\"" + String(repeating: "a", count: 50_000) + "\"}"
            for _ in 0..<45 { #expect(try await DocketProcess.run(["append", "--stream", "big", "--type", "Note", "--data", big, "--data-dir", dir]).status == 0) }
            let (serve, port) = try Self.serve(dir)
            defer { if serve.isRunning { serve.terminate() } }
            let env = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": token]
            #expect(try await Self.untilServing { try await DocketProcess.run(["status"], environment: env).status == 0 })
            #expect(try await DocketProcess.run(["read"], environment: env).lines.count == 46)  // the token, then the 45
            #expect(try await DocketProcess.run(["read", "--stream", "big"], environment: env).lines.count == 45)
            #expect(try await DocketProcess.run(["read", "--stream", "big", "--from", "3", "--limit", "40"], environment: env).lines.count == 40)
            serve.terminate()
            await serve.exited()
        }
    }

    @Test("lifecycle, views, raw append and read, tokens and status over the network; SIGTERM stops it cleanly")
    func remote() async throws {
        try await withTemporaryDirectory { dir in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", dir])
            #expect(admin.status == 0)
            let token = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!admin.stderr.contains(String(token.split(separator: "_").last ?? "")))  // the secret is printed once, on stdout
            let (serve, port) = try Self.serve(dir)
            defer { if serve.isRunning { serve.terminate() } }
            let env = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": token]
            func docket(_ args: String...) async throws -> DocketProcess.Output { try await DocketProcess.run(args, environment: env) }
            #expect(try await Self.untilServing { try await docket("status").status == 0 })
            #expect(try await docket("policy", "adopt", "--project", "aumos", Self.policy, "--at", "2025-01-01T00:00:00Z").status == 0)
            // Words of its own in every personal or secret field, to look for in the node's log below.
            let submitted = try await docket(
                "report", "submit", "--project", "aumos", "--report", "R1", "--title", "Zq9 tenant scope bypass", "--reporter", "ada",
                "--reporter-name", "Adalind Quexley", "--contact", "adaq@private.example", "--at", "2025-11-21T15:00:00Z")
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let acked = try await docket("report", "ack", "R1", "--assignee", "maria", "--at", "2025-11-22T10:00:00Z", "--actor", "maria")
            #expect(acked.status == 0 && acked.stderr.hasPrefix("warning: --actor is for local mode"), "\(acked.stderr)")
            let illegal = try await docket("report", "publish", "R1")
            #expect(illegal.status == 1 && illegal.stderr.contains("illegal-transition"))
            let state = try JSON.parse(try await docket("state", "--json").stdout)
            #expect(state["state"] == "acknowledged")
            #expect(try await docket("timers", "--report", "R1", "--json", "--as-of", "2025-11-23").lines.count == 6)
            #expect(try await docket("history", "R1").lines.count == 2)
            #expect(try await docket("append", "--stream", "misc", "--type", "Note", "--data", "{}").status == 0)
            #expect(try await docket("read").lines.count == 5)
            let status = try JSON.parse(try await docket("status").stdout)
            #expect(status["lastSequence"] == 5)
            // A local command that would write to the directory the node serves is refused, and
            // says where to send it; one that only reads runs beside the node.
            let local = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "second", "--data-dir", dir])
            #expect(local.status != 0 && local.stderr.contains("in-use") && local.stderr.contains("--server HOST:PORT"))
            #expect(try await DocketProcess.run(["read", "--data-dir", dir]).lines.count == 5)
            // Making the node's signing key writes no record: it is not refused.
            #expect(try await DocketProcess.run(["key", "create", "--data-dir", dir]).status == 0)
            // An explicit --data-dir beats DOCKET_SERVER (here naming nothing that listens); with
            // --server as well, the command is ambiguous; and key create does not make a new
            // ledger in the current directory because DOCKET_SERVER sent it nowhere else.
            let nowhere = ["DOCKET_SERVER": "127.0.0.1:1", "DOCKET_TOKEN": token]
            #expect(try await DocketProcess.run(["history", "R1", "--data-dir", dir], environment: nowhere).lines.count == 2)
            let dirAndServer = try await DocketProcess.run(["history", "R1", "--data-dir", dir, "--server", "127.0.0.1:\(port)"], environment: ["DOCKET_TOKEN": token])
            #expect(dirAndServer.status == 64 && dirAndServer.stderr.contains("not both"), "\(dirAndServer.stderr)")
            let keyBesideServer = try await DocketProcess.run(["key", "create"], environment: nowhere)
            #expect(keyBesideServer.status == 64 && keyBesideServer.stderr.contains("DOCKET_SERVER is set"), "\(keyBesideServer.stderr)")
            // A malformed address, no token, an unreadable CA file: bad usage, said as such.
            for (args, says) in [
                (["status", "--server", "127.0.0.1", "--token", token], "is not HOST:PORT"), (["status", "--server", "127.0.0.1:\(port)"], "needs a token"),
                (["status", "--server", "127.0.0.1:\(port)", "--token", token, "--tls-ca", dir + "/no-such-ca.pem"], "cannot read --tls-ca"),
            ] {
                let r = try await DocketProcess.run(args, environment: [:])
                #expect(r.status == 64 && r.stderr.contains(says) && !r.stderr.contains("connection-lost"), "\(args): \(r.stderr)")
            }
            #expect(try JSON.parse(try await docket("status").stdout)["lastSequence"] == 5)
            #expect(try await docket("append", "--stream", "misc", "--type", "Note", "--data", "{}").status == 0)
            // A reporter token made remotely sees nothing of ada's report (and the node's log of
            // its login does not name her).
            let reporter = try await docket("token", "create", "--role", "reporter", "--name", "quiet-researcher").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let eve = try await DocketProcess.run(["state", "--json"], environment: ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": reporter])
            #expect(eve.status == 0 && eve.stdout.isEmpty)
            // A replica token made remotely says the standby status the node recorded.
            for (extra, standby) in [([] as [String], false), (["--standby"], true)] {
                let made = try await DocketProcess.run(["token", "create", "--role", "replica", "--name", "copy", "--json"] + extra, environment: env)
                let answer = try JSON.parse(made.stdout)
                #expect(made.status == 0 && answer["standby"] == .bool(standby), "\(made.stdout) \(made.stderr)")
            }
            // The token from a file (its first line that is not blank, whatever an editor added
            // around it), kept off the command line; a bad file is named.
            try ("\u{FEFF}  \n" + token + " \r\n").write(toFile: dir + "/admin.token", atomically: true, encoding: .utf8)
            let server = ["--server", "127.0.0.1:\(port)"]
            let fromFile = try await DocketProcess.run(["status"] + server + ["--token-file", dir + "/admin.token"], environment: [:])
            #expect(fromFile.status == 0, "\(fromFile.stderr)")
            #expect(try JSON.parse(fromFile.stdout)["lastSequence"] == 9)  // the reporter token and the two replica tokens made three more
            let missing = try await DocketProcess.run(["status"] + server + ["--token-file", dir + "/none.token"], environment: [:])
            #expect(missing.status != 0 && missing.stderr.contains("cannot read the token file \(dir)/none.token"), "\(missing.stderr)")
            let both = try await DocketProcess.run(["status"] + server + ["--token", token, "--token-file", dir + "/admin.token"], environment: [:])
            #expect(both.status != 0 && both.stderr.contains("give --token or --token-file, not both"), "\(both.stderr)")
            // A token given without --server means a node was meant: not a data directory of the
            // current one (which would be started), nor the one --data-dir names.
            let noServer = try await DocketProcess.run(["report", "ack", "AUM-1", "--assignee", "m", "--token-file", dir + "/admin.token"], environment: [:])
            #expect(noServer.status == 64 && noServer.stderr.contains("--token-file is for a node: give --server HOST:PORT"), "\(noServer.stderr)")
            let withDirectory = try await DocketProcess.run(["state", "--data-dir", dir + "/elsewhere", "--token", token], environment: [:])
            #expect(withDirectory.status == 64 && withDirectory.stderr.contains("--data-dir and a token do not go together"), "\(withDirectory.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/elsewhere") && !FileManager.default.fileExists(atPath: "docket-data"))
            serve.terminate()  // SIGTERM
            await serve.exited()
            #expect(serve.terminationStatus == 0)
            let logged = await Self.log(of: serve)
            #expect(logged.contains("listening") && logged.contains("stopped"))
            #expect(!logged.contains(String(token.split(separator: "_").last!)))  // no token in the log
            for secret in ["maria", "Zq9", "tenant scope", "Adalind", "Quexley", "adaq@", "private.example"] {
                #expect(!logged.contains(secret), "\(secret)")  // nor report contents, nor who reported it
            }
            #expect(logged.contains("authenticated") && logged.contains("reporter (token ") && !logged.contains("quiet-researcher"))  // nor a reporter's handle
            #expect(try await DocketProcess.run(["verify", "--data-dir", dir]).status == 0)
        }
    }

    @Test("serve --admin-token-file: the node's first start makes an admin token usable at once; later starts leave it")
    func adminTokenBootstrap() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/data"
            let file = data + "/admin.token"
            func serve() throws -> (SpawnedChild, Int) {
                try Self.serve(["--data-dir", data, "--admin-token-file", file, "--admin-name", "ops"])
            }
            func stop(_ serve: SpawnedChild) async -> String {
                serve.terminate()
                return await Self.log(of: serve)
            }
            func status(_ port: Int) async throws -> DocketProcess.Output {
                var out = try await DocketProcess.run(["status", "--server", "127.0.0.1:\(port)", "--token-file", file])
                for _ in 0..<600 where out.status != 0 {
                    try await Task.sleep(for: .milliseconds(50))
                    out = try await DocketProcess.run(["status", "--server", "127.0.0.1:\(port)", "--token-file", file])
                }
                return out
            }
            let (first, port) = try serve()
            defer { if first.isRunning { first.terminate() } }
            let up = try await status(port)
            #expect(up.status == 0, "\(up.stderr)")
            #expect(try JSON.parse(up.stdout)["principal"] == "admin")
            let secret = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let id = String(secret.split(separator: "_")[1])
            // A reader that went away (`| head`): the command ends as SIGPIPE would, without a trap.
            var gone: [Int32] = [0, 0]
            try #require(pipe(&gone) == 0)
            close(gone[0])
            let reader = try SpawnedChild(
                path: try #require(DocketProcess.executable).path, arguments: ["read", "--server", "127.0.0.1:\(port)", "--token-file", file],
                stdout: .descriptor(gone[1]))
            close(gone[1])
            let said = String(decoding: await offPool { reader.finish() }.stderr, as: UTF8.self)
            #expect(reader.terminationReason == .uncaughtSignal && reader.terminationStatus == SIGPIPE && !said.contains("Fatal error"), "\(reader.terminationStatus): \(said)")
            let logged = await stop(first)
            #expect(first.terminationStatus == 0)
            #expect(logged.contains("made an admin token") && logged.contains(id) && logged.contains(file))
            #expect(!logged.contains(String(secret.split(separator: "_").last!)))  // the secret is in the file only

            // A second start: the token is there; the file and the log are left as they were.
            let (second, port2) = try serve()
            defer { if second.isRunning { second.terminate() } }
            #expect(try await status(port2).status == 0)
            #expect(await !stop(second).contains("made an admin token"))
            #expect(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == secret)
            let tokens = try await DocketProcess.run(["token", "list", "--data-dir", data])
            #expect(tokens.lines.count == 2 && tokens.stdout.contains(id) && tokens.stdout.contains("admin") && tokens.stdout.contains("ops"), "\(tokens.stdout)")

            // A node nobody can log into says so as it starts.
            let (bare, barePort) = try Self.serve(dir + "/bare")
            defer { if bare.isRunning { bare.terminate() } }
            var answered = ""
            for _ in 0..<600 where !answered.contains("unknown-token") {
                answered = try await DocketProcess.run(["status", "--server", "127.0.0.1:\(barePort)", "--token", "dkt_000000000000_" + String(repeating: "0", count: 64)]).stderr
                if !answered.contains("unknown-token") { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(await stop(bare).contains("no admin token lets anyone in"))
            // --log-level is the node's too: at error, not even that warning.
            let (quiet, quietPort) = try Self.serve(["--data-dir", dir + "/quiet", "--log-level", "error"])
            defer { if quiet.isRunning { quiet.terminate() } }
            answered = ""
            for _ in 0..<600 where !answered.contains("unknown-token") {
                answered = try await DocketProcess.run(["status", "--server", "127.0.0.1:\(quietPort)", "--token", "dkt_000000000000_" + String(repeating: "0", count: 64)]).stderr
                if !answered.contains("unknown-token") { try await Task.sleep(for: .milliseconds(50)) }
            }
            let quietOutput = await stop(quiet)
            #expect(answered.contains("unknown-token") && !quietOutput.contains("no admin token lets anyone in") && !quietOutput.contains(" info "), "\(quietOutput)")

            let follower = try await DocketProcess.run(["serve", "--data-dir", dir + "/f", "--replica-of", "127.0.0.1:1", "--token", secret, "--admin-token-file", file])
            #expect(follower.status != 0 && follower.stderr.contains("--admin-token-file is for a leader"), "\(follower.stderr)")
        }
    }

    @Test("a reporter's token stands for their handle: submit needs no --reporter, credit no --person; other tokens and local mode must give them")
    func reporterHandleFromToken() async throws {
        try await withTemporaryDirectory { dir in
            let admin = try await DocketProcess.run(["token", "create", "--role", "admin", "--name", "root", "--data-dir", dir])
            let token = admin.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await DocketProcess.run(["policy", "adopt", "--project", "aumos", Self.policy, "--at", "2025-01-01T00:00:00Z", "--data-dir", dir]).status == 0)
            let missingLocally = try await DocketProcess.run(["report", "submit", "--project", "aumos", "--title", "t", "--data-dir", dir])
            #expect(missingLocally.status == 64 && missingLocally.stderr.contains("--reporter is missing"), "\(missingLocally.stderr)")
            let (serve, port) = try Self.serve(dir)
            defer { if serve.isRunning { serve.terminate() } }
            let root = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": token]
            #expect(try await Self.untilServing { try await DocketProcess.run(["status"], environment: root).status == 0 })
            let adaToken = try await DocketProcess.run(["token", "create", "--role", "reporter", "--name", "ada"], environment: root).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let ada = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": adaToken]
            let submitted = try await DocketProcess.run(["report", "submit", "--project", "aumos", "--report", "R1", "--title", "t"], environment: ada)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let row = try JSON.parse(try await DocketProcess.run(["state", "--report", "R1", "--json"], environment: root).stdout)
            #expect(row["reporter"]?["handle"] == "ada", "\(row)")
            // An admin's token stands for nobody's handle.
            let byAdmin = try await DocketProcess.run(["report", "submit", "--project", "aumos", "--title", "t"], environment: root)
            #expect(byAdmin.status == 64 && byAdmin.stderr.contains("--reporter is missing"), "\(byAdmin.stderr)")
            #expect(try await DocketProcess.run(["report", "ack", "R1", "--assignee", "maria"], environment: root).status == 0)
            let accepted = try await DocketProcess.run(["report", "credit", "R1", "--accept", "--name", "Ada L"], environment: ada)
            #expect(accepted.status == 0, "\(accepted.stderr)")
            let noPerson = try await DocketProcess.run(["report", "credit", "R1", "--offer"], environment: root)
            #expect(noPerson.status == 64 && noPerson.stderr.contains("--person is missing"), "\(noPerson.stderr)")
            serve.terminate()
            await serve.exited()
        }
    }

    @Test("a node that is not there is named in plain words")
    func nothingListening() async throws {
        let token = "dkt_000000000000_" + String(repeating: "0", count: 64)
        let out = try await DocketProcess.run(["status", "--server", "127.0.0.1:\(Self.freePort())", "--token", token])
        #expect(out.status == 1 && out.stderr.contains("Connection refused (is a node listening there?)") && !out.stderr.contains("SingleConnectionFailure"), "\(out.stderr)")
        // With a code a script can tell apart, in text and JSON alike.
        #expect(out.stderr.hasPrefix("error: connection-lost: cannot connect to 127.0.0.1:"), "\(out.stderr)")
        let json = try await DocketProcess.run(["state", "--server", "127.0.0.1:\(Self.freePort())", "--token", token, "--json"])
        let code = try JSON.parse(json.stderr)["error"]?["code"]
        #expect(json.status == 1 && code == "connection-lost", "\(json.stderr)")
    }
}
