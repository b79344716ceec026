@testable import DocketStore
import DocketCore
import DocketTestSupport
import Foundation
import Testing

/// The CLI against real data directories: every bad input is a clear message, a non-zero exit
/// and an unchanged log.
@Suite("docket command line")
struct CommandLineTests {
    func docket(_ args: String..., dir: String) async throws -> DocketProcess.Output {
        try await DocketProcess.run(args + ["--data-dir", dir])
    }

    func eventCount(_ dir: String) async throws -> Int {
        try await docket("read", dir: dir).lines.count
    }

    /// Changes the ledger of `dir` behind Docket's back, in one LMDB write transaction: damage
    /// or tampering for a test to find.
    func tamper(_ dir: String, _ body: (borrowing Transaction, Databases) throws -> Void) throws {
        let env = try LMDBEnvironment(path: dir + "/ledger", mapSize: 1 << 20, maxDatabases: 8, readOnly: false)
        let dbs = try Databases.open(env, readOnly: false, path: dir)
        let txn = try env.beginWrite()
        try body(txn, dbs)
        try txn.commit()
    }

    @Test("a process that may not map the 64 GiB a log opens with still records, reads and verifies, in a map that grows")
    func limitedAddressSpace() async throws {
        try await withTemporaryDirectory { dir in
            // 16 GiB of address space (`ulimit -v`): enough for the process, not for the map.
            let limit = 16 << 20
            for n in 1...3 {
                let a = try await DocketProcess.run(
                    ["append", "--stream", "intake-\(n)", "--type", "MailReceived", "--data", #"{"subject":"XSS"}"#, "--data-dir", dir], addressSpaceKiB: limit)
                #expect(a.status == 0 && a.stderr.isEmpty, "\(a.stderr)")
            }
            let limited = try JSON.parse(try await DocketProcess.run(["stats", "--json", "--data-dir", dir], addressSpaceKiB: limit).stdout)
            #expect(limited["events"] == 3)
            #expect(limited["map_bytes"] == Value.int(Int64(LMDBEnvironment.smallMapSize)))
            let v = try await DocketProcess.run(["verify", "--json", "--data-dir", dir], addressSpaceKiB: limit)
            #expect(v.status == 0 && (try? JSON.parse(v.stdout)["intact"]) == true, "\(v.stderr)")
            // Unlimited, the same log opens with the full map.
            let full = try JSON.parse(try await docket("stats", "--json", dir: dir).stdout)
            #expect(full["events"] == 3 && full["map_bytes"] == Value.int(64 << 30))
        }
    }

    @Test("append, read, verify and stats work end to end and print parseable JSON")
    func happyPath() async throws {
        try await withTemporaryDirectory { dir in
            let a = try await docket("append", "--stream", "report-1", "--type", "ReportSubmitted", "--data", #"{"title":"XSS","cvss":9.8}"#, "--id", "intake:1", dir: dir)
            #expect(a.status == 0, "\(a.stderr)")
            // Named like a lifecycle event, in a raw stream: taken as given, with a warning.
            #expect(a.stderr.contains("warning: ReportSubmitted is an event type of the advisory lifecycle") && a.stderr.contains("no view reads it"))
            let result = try JSON.parse(a.stdout)
            #expect(result["seq"] == 1 && result["version"] == 1 && result["duplicate"] == false)
            let b = try await docket(
                "append", "--stream", "report-1", "--type", "ReportAcknowledged", "--data", "{}", "--expect-version", "1",
                "--at", "2026-01-02T03:04:05Z", "--actor", "alice", dir: dir)
            #expect(b.status == 0, "\(b.stderr)")
            // The same id again is an idempotent retry.
            let again = try await docket("append", "--stream", "report-1", "--type", "ReportSubmitted", "--data", #"{"title":"XSS","cvss":9.8}"#, "--id", "intake:1", dir: dir)
            #expect(again.status == 0)
            #expect(try JSON.parse(again.stdout)["duplicate"] == true)

            let lines = try await docket("read", dir: dir).lines
            #expect(lines.count == 2)
            let second = try JSON.parse(lines[1])
            #expect(second["type"] == "ReportAcknowledged" && second["actor"] == "alice")
            #expect(second["occurred_at"] == "2026-01-02T03:04:05Z")
            #expect(try JSON.parse(lines[0])["data"] == ["title": "XSS", "cvss": 9.8])
            #expect(try await docket("read", "--stream", "report-1", "--from", "2", dir: dir).lines.count == 1)
            #expect(try await docket("read", "--from", "2", "--limit", "5", dir: dir).lines.count == 1)

            let v = try await docket("verify", "--json", dir: dir)
            #expect(v.status == 0)
            #expect(try JSON.parse(v.stdout)["intact"] == true)
            let s = try await docket("stats", "--json", dir: dir)
            #expect(s.status == 0)
            let stats = try JSON.parse(s.stdout)
            #expect(stats["events"] == 2 && stats["streams"] == 1)
            #expect(stats["dictionaries"] == [])
        }
    }

    @Test(
        "bad input is a clear error, a non-zero exit and nothing written",
        arguments: [
            (["--data", "{\"a\":", "--stream", "s", "--type", "T"], 1, "invalid-json"),
            (["--data", "{\"a\":1,\"a\":2}", "--stream", "s", "--type", "T"], 1, "duplicate"),
            (["--data", "{}", "--stream", "", "--type", "T"], 1, "stream"),
            (["--data", "{}", "--stream", "s", "--type", "not a type!"], 1, "type"),
            (["--data", "{}", "--stream", "s", "--type", "T", "--id", "has space"], 64, "--id: event id"),
            (["--data", "{}", "--stream", "s", "--type", "T", "--at", "yesterday"], 64, "--at: invalid time"),
            (["--data", "{}", "--stream", "s", "--type", "T", "--expect-version", "-1"], 64, "expect-version"),
            (["--data", "{}", "--stream", "s", "--type", "T", "--frobnicate"], 64, "frobnicate"),
            (["--data", "{}", "--type", "T"], 64, "--stream"),
            (["--data", "{}", "--stream", "s", "--type", "T", "--expect-version", "3"], 1, "wrong-expected-version"),
            // Deeper than an EVENTS frame could carry back to a remote reader: 62 nested arrays.
            (["--data", String(repeating: "[", count: 62) + String(repeating: "]", count: 62), "--stream", "s", "--type", "T"], 64, "nests more than 60 levels"),
        ] as [([String], Int32, String)])
    func badAppend(arguments: [String], status: Int32, message: String) async throws {
        try await withTemporaryDirectory { dir in
            #expect(try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir).status == 0)
            let r = try await DocketProcess.run(["append"] + arguments + ["--data-dir", dir])
            #expect(r.status == status, "\(r.stderr)")
            #expect(r.stderr.lowercased().contains(message.lowercased()), "\(r.stderr)")
            #expect(r.stdout.isEmpty)
            #expect(try await eventCount(dir) == 1)
        }
    }

    @Test("an event over the size limit is refused with the limit in the message")
    func tooLarge() async throws {
        try await withTemporaryDirectory { dir in
            let big = "{\"blob\":\"" + String(repeating: "a", count: 70_000) + "\"}"
            let r = try await docket("append", "--stream", "s", "--type", "T", "--data", big, dir: dir)
            #expect(r.status == 1)
            #expect(r.stderr.contains("event-too-large") && r.stderr.contains("\(EnvelopeCodec.maximumEncodedSize)"), "\(r.stderr)")
            #expect(try await eventCount(dir) == 0)
        }
    }

    @Test("token create --role replica says whether its node may take over as leader (--standby), and token list shows it")
    func standbyReplicaTokens() async throws {
        try await withTemporaryDirectory { dir in
            let reads = try await DocketProcess.run(["token", "create", "--role", "replica", "--name", "partner-copy", "--data-dir", dir])
            #expect(reads.status == 0 && reads.stderr.contains("only reads: it cannot depose a leader, so its node is no standby (--standby makes one)"), "\(reads.stderr)")
            let standby = try await DocketProcess.run(["token", "create", "--role", "replica", "--standby", "--name", "standby-1", "--json", "--data-dir", dir])
            let made = try JSON.parse(standby.stdout)
            #expect(standby.status == 0 && made["standby"] == true, "\(standby.stdout)")
            let refused = try await DocketProcess.run(["token", "create", "--role", "auditor", "--standby", "--name", "a", "--data-dir", dir])
            #expect(refused.status != 0 && refused.stderr.contains("--standby is for replica tokens"), "\(refused.stderr)")
            let list = try await DocketProcess.run(["token", "list", "--data-dir", dir])
            let rows = list.lines.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(rows.first?.last == "STANDBY")
            #expect(rows.first { $0.contains("partner-copy") }?.last == "no" && rows.first { $0.contains("standby-1") }?.last == "yes", "\(list.stdout)")
        }
    }

    @Test("a directory that is not a Docket data directory is refused and left alone")
    func foreignDirectory() async throws {
        try await withTemporaryDirectory { dir in
            try "precious".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
            let r = try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir)
            #expect(r.status == 1)
            #expect(r.stderr.contains("not a Docket data directory") && r.stderr.contains("notes.txt"), "\(r.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["notes.txt"])

            // A ledger/ that holds something other than LMDB.
            try FileManager.default.createDirectory(atPath: dir + "/other/ledger", withIntermediateDirectories: true)
            try Data(repeating: 0x5A, count: 65536).write(to: URL(fileURLWithPath: dir + "/other/ledger/data.mdb"))
            // verify calls a ledger file it cannot read damaged (exit 3), as it may be; other
            // commands refuse it as not a data directory.
            let garbage = try await docket("verify", dir: dir + "/other")
            #expect(garbage.status == 3)
            #expect(garbage.stdout.contains("NOT INTACT") && garbage.stdout.contains("not an LMDB environment"), "\(garbage.stdout)")
            let read = try await docket("read", dir: dir + "/other")
            #expect(read.status == 1 && read.stderr.contains("not-a-data-directory"), "\(read.stderr)")
            // An empty ledger file (a copy cut short): said so, and damage to verify.
            try FileManager.default.createDirectory(atPath: dir + "/empty/ledger", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: dir + "/empty/ledger/data.mdb", contents: Data())
            let empty = try await docket("read", dir: dir + "/empty")
            #expect(empty.status == 1 && empty.stderr.contains("holds an empty ledger/data.mdb"), "\(empty.stderr)")
            let emptyVerify = try await docket("verify", dir: dir + "/empty")
            #expect(emptyVerify.status == 3 && emptyVerify.stdout.contains("NOT INTACT") && emptyVerify.stdout.contains("empty"), "\(emptyVerify.stdout)")
            let missing = try await docket("read", dir: dir + "/nowhere")
            #expect(missing.status == 1 && missing.stderr.contains("no data directory"), "\(missing.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/nowhere"), "reading never creates a data directory")
        }
    }

    @Test("a command that records events refuses a data directory that does not exist (a mistyped --data-dir) and creates nothing; serving or a first token starts one")
    func mistypedDataDirectory() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: false)
            #expect(try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir + "/data").status == 0)
            let policy = DomainCommandTests.policies.appendingPathComponent("aumos.toml").path
            for command in [
                ["append", "--stream", "s", "--type", "T", "--data", "{}"],
                ["report", "submit", "--project", "aumos", "--title", "t", "--reporter", "ada", "--actor", "maria"],
                ["policy", "adopt", "--project", "aumos", policy],
                ["checkpoint"],
            ] {
                let r = try await DocketProcess.run(command + ["--data-dir", dir + "/dta"])
                #expect(r.status == 1, "\(command): \(r.stderr)")
                #expect(r.stderr.contains("no data directory at \(dir)/dta (is --data-dir, or DOCKET_DATA_DIR, right?)") && r.stderr.contains("docket serve"), "\(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: dir + "/dta"), "\(command) created the mistyped directory")
            }
            #expect(try await eventCount(dir + "/data") == 1)
            let empty = try await DocketProcess.run(["append", "--stream", "s", "--type", "T", "--data", "{}", "--data-dir", ""])
            #expect(empty.status == 64 && empty.stderr.contains("--data-dir (or DOCKET_DATA_DIR) must name a directory"), "\(empty.stderr)")
            // An empty directory made on purpose takes a new ledger; so does a node's first token.
            try FileManager.default.createDirectory(atPath: dir + "/made", withIntermediateDirectories: false)
            // Bad usage in it starts nothing: the directory could still become a follower.
            let usage = try await docket("report", "note", "R1", "text", "--at", "garbage", dir: dir + "/made")
            #expect(usage.status == 64 && !FileManager.default.fileExists(atPath: dir + "/made/ledger"), "\(usage.stderr)")
            #expect(try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir + "/made").status == 0)
            let token = try await docket("token", "create", "--role", "admin", "--name", "alice", dir: dir + "/fresh")
            #expect(token.status == 0, "\(token.stderr)")
            #expect(FileManager.default.fileExists(atPath: dir + "/fresh/ledger/data.mdb"))
        }
    }

    @Test("token create names the reporter tokens that hold, or held, the same handle: their holders' reports are the new token's too")
    func reporterHandleHolders() async throws {
        try await withTemporaryDirectory { dir in
            func create(_ json: Bool = false) async throws -> DocketProcess.Output {
                let r = try await DocketProcess.run(["token", "create", "--role", "reporter", "--name", "ada", "--data-dir", dir] + (json ? ["--json"] : []))
                #expect(r.status == 0, "\(r.stderr)")
                return r
            }
            func id(_ r: DocketProcess.Output) throws -> String { String(r.stdout.split(separator: "_")[1]) }
            let first = try await create()
            #expect(!first.stderr.contains("warning"), "\(first.stderr)")
            // A second token of one handle: both see the same reports.
            let second = try await create(true)
            let secondAnswer = try JSON.parse(second.stdout)
            #expect(secondAnswer["sameHandle"] == .array([.string(try id(first))]) && secondAnswer["formerHandle"] == nil, "\(second.stdout)")
            #expect(second.stderr.contains("warning: reporter token \(try id(first)) also holds the handle ada"), "\(second.stderr)")
            // Both revoked, the handle given again: whoever holds it now reads what was filed under it.
            let secondID = try #require(secondAnswer["id"]?.stringValue)
            for token in [try id(first), secondID] { #expect(try await docket("token", "revoke", token, dir: dir).status == 0) }
            let third = try await create()
            #expect(third.stderr.contains("warning: reporter tokens \(try id(first)), \(secondID), revoked or expired, held the handle ada: this token sees and acts on the reports filed under it"), "\(third.stderr)")
            let fourth = try await create(true)
            let fourthAnswer = try JSON.parse(fourth.stdout)
            #expect(try fourthAnswer["sameHandle"] == .array([.string(try id(third))]) && fourthAnswer["formerHandle"] == .array([.string(try id(first)), .string(secondID)]), "\(fourth.stdout)")
            // In use and former holders both: the warning is the one about the token in use.
            #expect(fourth.stderr.contains("also holds the handle ada") && !fourth.stderr.contains("revoked or expired"), "\(fourth.stderr)")
        }
    }

    @Test("a data directory of another format version is refused, naming both versions")
    func otherFormat() async throws {
        try await withTemporaryDirectory { dir in
            #expect(try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir).status == 0)
            // Rewrite the format marker as a future release would.
            try tamper(dir) { txn, dbs in try Meta.put(Meta.format, Array("docket-store 3".utf8), in: txn, dbs) }
            for command in [["read"], ["append", "--stream", "s", "--type", "T", "--data", "{}"], ["verify"]] {
                let r = try await DocketProcess.run(command + ["--data-dir", dir])
                #expect(r.status == 1, "\(command)")
                #expect(r.stderr.contains("docket-store 3") && r.stderr.contains("docket-store 2"), "\(r.stderr)")
            }
        }
    }

    @Test("a copy missing a record, in the middle or at the end, is not read, exported or replayed as if whole", arguments: [7, 20])
    func missingRecord(gone: Int) async throws {
        try await withTemporaryDirectory { dir in
            for i in 0..<20 {
                #expect(try await docket("append", "--stream", "s\(i % 3)", "--type", "T", "--data", #"{"i":\#(i)}"#, dir: dir).status == 0)
            }
            try tamper(dir) { txn, dbs in try txn.delete(dbs.log, Key.sequence(UInt64(gone))) }
            let message = gone == 20 ? "the log holds no record 20, but its head is 20" : "the log holds no record 7 (the next one is 8)"
            let read = try await docket("read", dir: dir)
            #expect(read.status == 1 && read.stderr.contains(message) && read.stderr.contains("docket verify"), "\(read.stderr)")
            #expect(read.lines.count == gone - 1, "the records before the gap are printed")
            let export = try await docket("export", "--out", dir + "/log.jsonl", dir: dir)
            #expect(export.status == 1 && export.stderr.contains(message), "\(export.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/log.jsonl"), "no partial export")
            let state = try await DocketProcess.run(["state", "--json", "--data-dir", dir])
            #expect(state.status == 1 && state.stderr.contains(message), "\(state.stderr)")
            // A replay checks the chain of what it folds first, as verify does (exit 3: damage).
            let replay = try await DocketProcess.run(["replay", "--at-seq", "20", "--json", "--data-dir", dir])
            #expect(replay.status == 3 && replay.stderr.contains("this data directory's log does not hold at sequence \(gone) (missing: "), "\(replay.stderr)")
            #expect(try await docket("verify", dir: dir).status == 3)
            // Nothing is written on after the hole either.
            let append = try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir)
            let refusal = gone == 20 ? "is not the log's last record" : "the log holds 19 records but its last is sequence 20: records are missing before it"
            #expect(append.status == 1 && append.stderr.contains(refusal), "\(append.stderr)")
        }
    }

    @Test("examining a copy (verify, read, export, stats, views, replay) leaves its directory as it was: no lock file is added")
    func examiningLeavesCopyAlone() async throws {
        try await withTemporaryDirectory { dir in
            let copy = dir + "/copy"
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false)
            for i in 0..<5 {
                #expect(try await docket("append", "--stream", "s", "--type", "T", "--data", #"{"i":\#(i)}"#, dir: copy).status == 0)
            }
            try FileManager.default.removeItem(atPath: copy + "/ledger/lock.mdb")
            func snapshot() throws -> [String: Data] {
                var files: [String: Data] = [:]
                for entry in (FileManager.default.enumerator(atPath: copy)?.allObjects as? [String]) ?? [] {
                    var isDir: ObjCBool = false
                    _ = FileManager.default.fileExists(atPath: copy + "/" + entry, isDirectory: &isDir)
                    files[entry] = isDir.boolValue ? Data() : try Data(contentsOf: URL(fileURLWithPath: copy + "/" + entry))
                }
                return files
            }
            let before = try snapshot()
            for command in [["verify"], ["read"], ["export", "--out", dir + "/log.jsonl"], ["stats"], ["state"], ["replay", "--at-seq", "3"], ["status"]] {
                let r = try await DocketProcess.run(command + ["--data-dir", copy])
                #expect(r.status == 0, "\(command): \(r.stderr)")
            }
            let after = try snapshot()
            #expect(after.keys.sorted() == before.keys.sorted(), "\(after.keys.sorted())")
            #expect(after == before, "a file of the copy changed")
        }
    }

    @Test("a head in metadata edited back (hiding the last records) stops every write; reading and verify still work")
    func editedHead() async throws {
        try await withTemporaryDirectory { dir in
            for i in 0..<5 {
                #expect(try await docket("append", "--stream", "s", "--type", "T", "--data", #"{"i":\#(i)}"#, dir: dir).status == 0)
            }
            try tamper(dir) { txn, dbs in
                var head = try #require(try Meta.get(Meta.head, in: txn, dbs))
                head.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 3])
                try Meta.put(Meta.head, head, in: txn, dbs)
            }
            // Readers that hand on the whole log say so rather than stop at the edited head.
            for command in [["read"], ["export", "--out", dir + "/log.jsonl"]] {
                let r = try await DocketProcess.run(command + ["--data-dir", dir])
                #expect(r.status == 1 && r.stderr.contains("the head in metadata (sequence 3) is not the log's last record (sequence 5)"), "\(command): \(r.stderr)")
            }
            let append = try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir)
            #expect(append.status == 1, "\(append.stderr)")
            #expect(append.stderr.contains("the head in metadata (sequence 3) is not the log's last record (sequence 5)") && append.stderr.contains("nothing is written"), "\(append.stderr)")
            #expect(try await docket("verify", dir: dir).status == 3)
            #expect(try await docket("read", "--limit", "10", dir: dir).lines.count == 3, "a read-only open reads through the recorded head")
        }
    }

    @Test("a copy of the data file cut short is refused before anything reads past its end (no SIGBUS)")
    func truncatedDataFile() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: false)
            for i in 0..<40 {
                // Text that does not compress, so the records take many pages.
                let pad = String((0..<2000).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
                #expect(try await docket("append", "--stream", "s\(i % 3)", "--type", "T", "--data", #"{"pad":"\#(pad)"}"#, dir: dir + "/a").status == 0)
            }
            let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/a/ledger/data.mdb"))
            try FileManager.default.createDirectory(atPath: dir + "/half/ledger", withIntermediateDirectories: true)
            try whole.prefix(whole.count / 2 / 4096 * 4096).write(to: URL(fileURLWithPath: dir + "/half/ledger/data.mdb"))
            for command in [["read"], ["state"], ["append", "--stream", "s", "--type", "T", "--data", "{}"]] {
                let r = try await DocketProcess.run(command + ["--data-dir", dir + "/half"])
                #expect(r.status == 1 && r.stderr.contains("the data file is cut short"), "\(command): \(r.status) \(r.stderr)")
            }
            let verify = try await docket("verify", dir: dir + "/half")
            #expect(verify.status == 3 && verify.stdout.contains("the data file is cut short"), "\(verify.stdout)")
        }
    }

    @Test("verify exits 3 naming the first bad sequence; the corrupt record is reported when read")
    func corruptRecord() async throws {
        try await withTemporaryDirectory { dir in
            for i in 0..<20 {
                #expect(try await docket("append", "--stream", "s\(i % 3)", "--type", "T", "--data", #"{"i":\#(i),"note":"some words to compress"}"#, dir: dir).status == 0)
            }
            let record: [UInt8]
            do {
                let store = try EventStore.open(directory: dir, configuration: { var c = EventStore.Configuration(); c.readOnly = true; return c }())
                record = try #require(try store.rawRecord(at: 13))
            }
            let file = dir + "/ledger/data.mdb"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            var hits = 0
            var i = 0
            while i + record.count <= bytes.count {
                if bytes[i..<i + record.count].elementsEqual(record) {
                    bytes[i + 11 + 3] ^= 0xFF  // inside the zstd frame header: the frame no longer decodes
                    hits += 1
                }
                i += 1
            }
            try #require(hits > 0)
            try Data(bytes).write(to: URL(fileURLWithPath: file))

            let v = try await docket("verify", dir: dir)
            #expect(v.status == 3)
            #expect(v.stdout.contains("sequence 13"), "\(v.stdout)")
            let j = try JSON.parse(try await docket("verify", "--json", dir: dir).stdout)
            #expect(j["intact"] == false && j["first_bad_sequence"] == 13)
            // A replay checks the chain of what it folds first: through 13 it refuses, naming it.
            let replay = try await docket("replay", "--at-seq", "20", dir: dir)
            #expect(replay.status == 3 && replay.stderr.contains("this data directory's log does not hold at sequence 13 (chain hash mismatch"), "\(replay.stderr)")
            #expect(try await docket("replay", "--at-seq", "12", dir: dir).status == 0)
            let r = try await docket("read", dir: dir)
            #expect(r.status == 1)
            #expect(r.stderr.contains("13"), "\(r.stderr)")
            #expect(r.lines.count == 12, "the records before the bad one are printed")
        }
    }

    @Test("dict export writes a dictionary that zstd can use; before any dictionary it explains why not")
    func dictExport() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: false)
            #expect(try await docket("append", "--stream", "s", "--type", "T", "--data", "{}", dir: dir + "/data").status == 0)
            let none = try await docket("dict", "export", "--out", dir + "/d", dir: dir + "/data")
            #expect(none.status == 1 && none.stderr.contains("no dictionary yet"), "\(none.stderr)")
            let bench = try await DocketProcess.run(["bench", "append", "--warmup", "0", "--events", "3000", "--batch", "100", "--data-dir", dir + "/data"])
            #expect(bench.status == 0, "\(bench.stderr)")
            let ok = try await docket("dict", "export", "--out", dir + "/dict", dir: dir + "/data")
            #expect(ok.status == 0, "\(ok.stderr)")
            let dict = try Data(contentsOf: URL(fileURLWithPath: dir + "/dict"))
            // A zstd dictionary starts with its magic number, 0xEC30A437 little-endian.
            #expect(Array(dict.prefix(4)) == [0x37, 0xA4, 0x30, 0xEC])
        }
    }
}
