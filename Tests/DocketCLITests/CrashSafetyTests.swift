import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// A child process appends in a loop and prints "<event id> <sequence>" after each append it got
/// acknowledged; it is SIGKILLed at a random moment. Everything it printed must be in the log.
@Suite("Crash safety", .serialized)
struct CrashSafetyTests {
    struct Round {
        var acknowledged: [(id: String, sequence: UInt64)] = []
        var stderr = ""
        var status: Int32 = 0
    }

    /// Starts `docket bench crash-writer` (optionally under a shell prefix such as a ulimit),
    /// lets it run for `duration` (or until it exits), kills it and returns what it acknowledged.
    func runWriter(
        dir: String, prefix: String, batch: Int, concurrency: Int, duration: Duration?, shell: String? = nil
    ) async throws -> Round {
        guard let docket = DocketProcess.executable else { throw NotBuilt() }
        let arguments = [
            "bench", "crash-writer", "--data-dir", dir, "--prefix", prefix, "--batch", "\(batch)", "--concurrency",
            "\(concurrency)",
        ]
        let (path, argv) = shell.map { ("/bin/bash", ["-c", $0 + "; exec \"$0\" \"$@\"", docket.path] + arguments) } ?? (docket.path, arguments)
        let child = try SpawnedChild(path: path, arguments: argv, environment: ProcessInfo.processInfo.environment)
        if let duration {
            let deadline = ContinuousClock.now + duration
            while child.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
            child.signal(SIGKILL)
        }
        let (status, stdoutData, stderrData) = await offPool { child.finish() }
        var round = Round(stderr: String(decoding: stderrData, as: UTF8.self), status: status)
        let text = String(decoding: stdoutData, as: UTF8.self)
        // Only complete lines count: the kill may cut the last write short.
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()
        for line in lines {
            let parts = line.split(separator: " ")
            let seq = try #require(parts.count == 2 ? UInt64(parts[1]) : nil, "malformed ack line '\(line)'")
            round.acknowledged.append((String(parts[0]), seq))
        }
        return round
    }

    /// Reopens the store and checks every acknowledged event is where it was acknowledged, the
    /// chain verifies and the head covers them all.
    func check(_ dir: String, _ acknowledged: [(id: String, sequence: UInt64)], _ context: String) throws {
        let store = try EventStore.open(directory: dir)
        defer { store.close() }
        let report = try store.verify()
        #expect(report.isIntact, "\(context): \(report.failure.map { "\($0)" } ?? "")")
        let head = store.head.sequence
        var streams: [StreamName: Set<UInt64>] = [:]
        for (id, seq) in acknowledged {
            #expect(seq <= head, "\(context): acknowledged sequence \(seq) is beyond the head \(head)")
            let event = try store.event(at: seq)
            #expect(event?.id.rawValue == id, "\(context): event \(id) acknowledged at \(seq) is missing")
            if let event { streams[event.stream, default: []].insert(seq) }
        }
        // Reads by stream hold every acknowledged event, whether its index entry was written
        // before the kill or re-indexed from the log on open (StreamMemtable).
        for (stream, sequences) in streams {
            let events = try store.read(stream: stream)
            #expect(events.map(\.streamVersion) == Array(1...UInt64(max(events.count, 1))).prefix(events.count).map { $0 }, "\(context): \(stream)")
            #expect(sequences.isSubset(of: Set(events.map(\.sequence))), "\(context): \(stream) lacks acknowledged events")
            #expect(try store.version(of: stream) == UInt64(events.count))
        }
        // Sequences are dense from 1 to the head: no partial record, no gap.
        #expect(try store.read(from: 1, limit: Int(head) + 10).map(\.sequence) == Array(1...max(head, 1)).prefix(Int(head)).map { $0 })
    }

    @Test("SIGKILL at random moments loses no acknowledged append and leaves no partial record")
    func killRepeatedly() async throws {
        let dir = makeTemporaryDirectory("docket-crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SystemRandomNumberGenerator()
        var all: [(id: String, sequence: UInt64)] = []
        let rounds = 30
        var round = 0
        // A loaded machine (the rest of the suite running beside it, a slow disk) acknowledges
        // fewer appends before each kill: more rounds, up to 40, until the test has enough to be
        // meaningful.
        while round < rounds || (all.count <= 1000 && round < rounds + 40) {
            defer { round += 1 }
            // Alternate single-event appends from many writers with batches — small ones, and
            // large ones that the writer puts while they are still being compressed — and kill
            // anywhere from start-up to well into steady state (dictionary training included).
            let batch = round % 5 == 4 ? 300 : round % 3 == 2 ? 16 : 1
            // The extra rounds of a loaded machine run longer: a writer that takes most of 400 ms
            // to start acknowledges little before its kill.
            let millis = Int.random(in: round < rounds ? 30...400 : 500...2500, using: &rng)
            let r = try await runWriter(
                dir: dir, prefix: "r\(round)-", batch: batch, concurrency: 8, duration: .milliseconds(millis))
            #expect(r.status == SIGKILL || r.stderr.isEmpty, "round \(round): \(r.stderr)")
            all += r.acknowledged
            try check(dir, all, "round \(round) (killed after \(millis) ms, batch \(batch))")
        }
        #expect(all.count > 1000, "the writer acknowledged enough appends to make the test meaningful")
        #expect(Set(all.map(\.sequence)).count == all.count)
    }

    @Test("a full disk fails the append with a clear error; the log stays intact and usable")
    func diskFull() async throws {
        let dir = makeTemporaryDirectory("docket-full")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A 2 MiB file-size limit stands in for a full disk: writes past it fail (EFBIG, or a
        // short write LMDB reports as EIO).
        let r = try await runWriter(dir: dir, prefix: "f-", batch: 8, concurrency: 4, duration: .seconds(60), shell: "ulimit -f 2048")
        #expect(r.status == 1)
        #expect(r.stderr.contains("disk-full"), "\(r.stderr)")
        #expect(r.stderr.contains("nothing of the failed append was written"))
        // It names the limit it met, which freeing disk space would not lift.
        #expect(r.stderr.contains("ulimit -f") && !r.stderr.contains("the disk is full"), "\(r.stderr)")
        #expect(!r.acknowledged.isEmpty)
        try check(dir, r.acknowledged, "after the disk filled up")
        // With space again, appends continue where the log left off.
        let store = try EventStore.open(directory: dir)
        let head = store.head.sequence
        let tail = try ProposedEvent(type: EventType("NoteAdded"), actor: "t", data: ["after": true])
        let result = try await store.append(to: StreamName("after-full"), events: [tail])
        #expect(result.firstSequence == head + 1)
        #expect(try store.verify().isIntact)
        store.close()
    }

    /// The pids `mdb_stat -r` lists in the ledger's reader table (the slots in its lock file).
    static func readerPIDs(_ dir: String) async throws -> [Int32] {
        let stat = try SpawnedChild(path: try #require(ForensicHarness.which("mdb_stat")).path, arguments: ["-r", dir + "/ledger"], stderr: .discard)
        let text = String(decoding: await offPool { stat.finish() }.stdout, as: UTF8.self)
        // "    pid     thread     txnid" then one line per slot; pids are the lines' first numbers.
        let table = text.components(separatedBy: "Reader Table Status").last ?? ""
        return table.split(separator: "\n").compactMap { line in line.split(separator: " ").first.flatMap { Int32($0) } }
    }

    @Test(
        "a reader killed holding its slot in the lock file: the next open frees the slot",
        .enabled(if: ForensicHarness.which("mdb_stat") != nil, "needs mdb_stat (lmdb-utils)"))
    func deadReader() async throws {
        guard let docket = DocketProcess.executable else { throw NotBuilt() }
        try await withTemporaryDirectory { dir in
            #expect(try await DocketProcess.run(["append", "--data-dir", dir, "--stream", "s", "--type", "Note", "--data", "{}"]).status == 0)
            // A process that keeps the ledger open throughout, as a serving node does. (When the
            // last process using a ledger is gone, LMDB resets the whole reader table as the next
            // one opens it: the dead reader's slot only lingers beside a live process.)
            var readOnly = EventStore.Configuration()
            readOnly.readOnly = true
            let node = try EventStore.open(directory: dir, configuration: readOnly)
            defer { node.close() }
            let reader = try SpawnedChild(path: docket.path, arguments: ["bench", "hold-reader", "--data-dir", dir], stderr: .discard)
            defer { reader.signal(SIGKILL) }
            // Until the reader holds its transaction and says so (or exits).
            var said = ""
            for _ in 0..<6000 where !said.contains("holding") && reader.isRunning {
                try await Task.sleep(for: .milliseconds(10))
                said = String(decoding: reader.standardOutput, as: UTF8.self)
            }
            try #require(said.contains("holding"), "the reader did not start: '\(said)'")
            let pid = reader.processIdentifier
            #expect(try await Self.readerPIDs(dir).contains(pid))
            reader.signal(SIGKILL)
            await reader.exited()
            // The slot outlives its process: left, it would pin old pages for good.
            #expect(try await Self.readerPIDs(dir).contains(pid))
            // Opening the ledger in another process (here to read it) frees it.
            #expect(try await DocketProcess.run(["read", "--data-dir", dir]).lines.count == 1)
            #expect(try await !Self.readerPIDs(dir).contains(pid))
        }
    }
}
