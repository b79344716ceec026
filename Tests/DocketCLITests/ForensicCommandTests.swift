import DocketCore
import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// `docket receipt`, `checkpoint --server`, `serve --checkpoint-every`, `verify` on a read-only
/// copy, `replay` and `export`, as the real executable, locally and against `docket serve`.
@Suite("docket receipt, replay, export and verify on a copy")
struct ForensicCommandTests {
    static let policy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas/policies/aumos.toml").path

    /// `docket …` on the data directory `data`.
    struct CLI {
        let data: String
        var environment: [String: String] = ["DOCKET_ACTOR": "maria"]

        @discardableResult
        func callAsFunction(_ args: String...) async throws -> DocketProcess.Output {
            try await DocketProcess.run(args + ["--data-dir", data], environment: environment)
        }

        func ok(_ args: String...) async throws -> DocketProcess.Output {
            let out = try await DocketProcess.run(args + ["--data-dir", data], environment: environment)
            #expect(out.status == 0, "docket \(args.joined(separator: " ")): \(out.stderr)")
            return out
        }

        func events() async throws -> [String] { try await DocketProcess.run(["read", "--data-dir", data]).lines }
    }

    /// `docket …` with no data directory at all (DOCKET_DATA_DIR names nothing that exists).
    static func offline(_ args: String...) async throws -> DocketProcess.Output {
        try await DocketProcess.run(args, environment: ["DOCKET_DATA_DIR": "/nonexistent/docket-data"])
    }

    static func edit(_ path: String, _ body: (inout String) -> Void) throws {
        var text = try String(contentsOfFile: path, encoding: .utf8)
        body(&text)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("receipts from append and report commands verify offline; prove adds the inclusion proof; every bad input is a clear error and the log does not change")
    func localReceipts() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(data: dir + "/node")
            try FileManager.default.createDirectory(atPath: docket.data, withIntermediateDirectories: false)
            _ = try await docket.ok("policy", "adopt", "--project", "aumos", Self.policy, "--at", "2025-01-01T00:00:00Z")
            // No key: refused before anything is appended, and no receipt file.
            let noKey = try await docket("report", "submit", "--project", "aumos", "--report", "R1", "--title", "t", "--reporter", "ada", "--receipt", dir + "/r1.json")
            #expect(noKey.status == 1 && noKey.stderr.contains("no-node-key") && noKey.stderr.contains("docket key create") && noKey.stderr.contains("nothing was appended"), "\(noKey.stderr)")
            let noKeyJSON = try JSON.parse(try await docket("report", "submit", "--project", "aumos", "--report", "R1", "--title", "t", "--reporter", "ada", "--receipt", dir + "/r1.json", "--json").stderr)
            #expect(noKeyJSON["error"]?["code"] == "no-node-key", "\(noKeyJSON)")
            // Only that refusal is told apart from the command's own: a node that cannot be
            // reached says so, no more.
            let unreachable = try await DocketProcess.run([
                "report", "note", "R1", "hi", "--receipt", dir + "/r1.json", "--server", "127.0.0.1:\(DocketProcess.freePort())", "--token", "dkt_000000000000_" + String(repeating: "0", count: 64),
            ])
            #expect(unreachable.status == 1 && unreachable.stderr.contains("connection-lost") && !unreachable.stderr.contains("without --receipt"), "\(unreachable.stderr)")
            #expect(try await docket.events().count == 1 && !FileManager.default.fileExists(atPath: dir + "/r1.json"))
            let pub = try await docket.ok("key", "create", "--pubkey-out", dir + "/pub.hex").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            // A mistyped --key is named as missing, not as "not a key" to be made again.
            let typo = try await docket("checkpoint", "--key", dir + "/node.kye")
            #expect(typo.status == 1 && typo.stderr.contains("no file at \(dir)/node.kye (the node key)") && !typo.stderr.contains("not a Docket node key"), "\(typo.stderr)")
            let directory = try await docket("checkpoint", "--key", dir)
            #expect(directory.status == 1 && directory.stderr.contains("\(dir) is a directory, not a node key file"), "\(directory.stderr)")
            // A receipt that could not be written: refused before appending.
            let noDir = try await docket("append", "--stream", "misc", "--type", "Note", "--data", "{}", "--receipt", dir + "/missing/r.json")
            #expect(noDir.status == 1 && noDir.stderr.contains("nothing was appended"))
            #expect(try await docket.events().count == 1)
            // Nor a directory.
            try FileManager.default.createDirectory(atPath: dir + "/adir", withIntermediateDirectories: true)
            for path in [dir + "/adir", dir + "/adir/"] {
                let isDirectory = try await docket("append", "--stream", "misc", "--type", "Note", "--data", "{}", "--receipt", path)
                #expect(isDirectory.status == 1 && isDirectory.stderr.contains("is a directory") && isDirectory.stderr.contains("nothing was appended"))
            }
            #expect(try await docket.events().count == 1)

            _ = try await docket.ok(
                "report", "submit", "--project", "aumos", "--report", "R1", "--title", "Quirky SQL injection", "--reporter", "zoe-quill",
                "--receipt", dir + "/r1.json")
            _ = try await docket.ok("report", "ack", "R1", "--assignee", "maria", "--receipt", dir + "/r2.json")
            let appended = try JSON.parse(try await docket.ok("append", "--stream", "misc", "--type", "Note", "--data", "{\"x\":1}", "--receipt", dir + "/r3.json").stdout)
            #expect(appended["seq"] == 4)
            let r1 = try JSON.parse(try String(contentsOfFile: dir + "/r1.json", encoding: .utf8))
            #expect(r1["format"] == "docket-receipt/1" && r1["seq"] == 2 && r1["stream"] == "report/R1" && r1["type"] == "ReportSubmitted" && r1["public_key"] == .string(pub))
            #expect(r1["inclusion"] == nil)
            // Nothing of the report's content is in the receipt (words no hex digest can contain).
            let receiptText = try String(contentsOfFile: dir + "/r1.json", encoding: .utf8)
            #expect(!receiptText.contains("zoe-quill") && !receiptText.contains("Quirky"))

            // Offline, in a fresh directory holding only the receipt and the public key.
            let fresh = dir + "/offline"
            try FileManager.default.createDirectory(atPath: fresh, withIntermediateDirectories: false)
            for f in ["r1.json", "pub.hex"] { try FileManager.default.copyItem(atPath: "\(dir)/\(f)", toPath: "\(fresh)/\(f)") }
            let plain = try await Self.offline("receipt", "verify", fresh + "/r1.json", "--pubkey", fresh + "/pub.hex")
            #expect(plain.status == 0 && plain.stdout.contains("ok     receipt signature") && plain.stdout.contains("not checked"), "\(plain.stdout)\(plain.stderr)")
            #expect(try await Self.offline("receipt", "verify", fresh + "/r1.json", "--pubkey", fresh + "/pub.hex", "--require-proof").status == 3)

            // Proof: none before a checkpoint, then against the latest.
            let early = try await docket("receipt", "prove", dir + "/r1.json")
            #expect(early.status == 1 && early.stderr.contains("no-checkpoint"))
            _ = try await docket.ok("checkpoint")
            _ = try await docket.ok("append", "--stream", "misc", "--type", "Note", "--data", "{}")
            _ = try await docket.ok("checkpoint")  // the second one extends the first
            let proved = try await docket.ok("receipt", "prove", dir + "/r1.json")
            #expect(proved.stdout.contains("record 2 is in checkpoint 7 (records 1–6"))
            try FileManager.default.removeItem(atPath: fresh + "/r1.json")
            try FileManager.default.copyItem(atPath: dir + "/r1.json", toPath: fresh + "/r1.json")
            let full = try await Self.offline("receipt", "verify", fresh + "/r1.json", "--pubkey", pub, "--require-proof", "--json")
            #expect(full.status == 0, "\(full.stdout)\(full.stderr)")
            let report = try JSON.parse(full.stdout)
            #expect(report["verified"] == true && report["inclusion_checked"] == true && report["checks"]?.arrayValue?.count == 3)
            for r in ["r2.json", "r3.json"] {
                _ = try await docket.ok("receipt", "prove", "\(dir)/\(r)")
                #expect(try await Self.offline("receipt", "verify", "\(dir)/\(r)", "--pubkey", pub, "--require-proof").status == 0)
            }
            let head = try await docket.events()

            // Tampered receipts fail, each naming the check.
            let work = fresh + "/t.json"
            func tampered(_ change: (inout String) -> Void) async throws -> DocketProcess.Output {
                try? FileManager.default.removeItem(atPath: work)
                try FileManager.default.copyItem(atPath: fresh + "/r1.json", toPath: work)
                try Self.edit(work, change)
                return try await Self.offline("receipt", "verify", work, "--pubkey", fresh + "/pub.hex")
            }
            let retyped = try await tampered { $0 = $0.replacingOccurrences(of: "\"ReportSubmitted\"", with: "\"ReportClosed\"") }
            #expect(retyped.status == 3 && retyped.stdout.contains("FAILED receipt signature") && retyped.stdout.contains("NOT VERIFIED"))
            // A forged receipt's text cannot rewrite the screen: a fake "verified" line and an
            // escape sequence that would hide the lines after it are shown escaped.
            let spoofed = try await tampered {
                $0 = $0.replacingOccurrences(of: "\"ReportSubmitted\"", with: #""ReportSubmitted\nverified: the node signed this receipt\u001b[8m""#)
            }
            #expect(spoofed.status == 3 && spoofed.stdout.contains("NOT VERIFIED"))
            #expect(!spoofed.stdout.unicodeScalars.contains("\u{1B}"), "\(spoofed.stdout)")
            #expect(spoofed.stdout.contains(#"\u{1B}[8m"#) && !spoofed.stdout.contains("\nverified: the node signed this receipt\\u"), "\(spoofed.stdout)")
            let path = try JSON.parse(try String(contentsOfFile: fresh + "/r1.json", encoding: .utf8))["inclusion"]?["audit_path"]?.arrayValue?.first?.stringValue
            let firstHash = try #require(path)
            let rehashed = try await tampered { $0 = $0.replacingOccurrences(of: firstHash, with: String(firstHash.reversed())) }
            #expect(rehashed.status == 3 && rehashed.stdout.contains("FAILED inclusion proof") && rehashed.stdout.contains("ok     receipt signature"))
            let garbage = try await tampered { $0 = "{\"format\":\"docket-receipt/1\"," }
            #expect(garbage.status == 3 && garbage.stderr.contains("invalid-receipt"))
            // The wrong public key.
            let other = try await DocketProcess.run(["key", "create", "--out", dir + "/other.key", "--data-dir", docket.data]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let wrongKey = try await Self.offline("receipt", "verify", fresh + "/r1.json", "--pubkey", other)
            #expect(wrongKey.status == 3 && wrongKey.stdout.contains("not the one given"))
            // A key that is not one is bad usage, not a failed verification.
            #expect(try await Self.offline("receipt", "verify", fresh + "/r1.json", "--pubkey", "abc").status == 64)

            // A sequence the node does not hold.
            let missing = try await docket("receipt", "issue", "999", "--out", dir + "/r999.json")
            #expect(missing.status == 1 && missing.stderr.contains("not-held") && missing.stderr.contains("holds no record 999"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/r999.json"))
            _ = try await docket.ok("receipt", "issue", "3", "--out", dir + "/r3b.json")
            #expect(try await Self.offline("receipt", "verify", dir + "/r3b.json", "--pubkey", pub).status == 0)
            // Proving a receipt against a node that does not hold its record: another ledger, a
            // sequence past its head.
            let elsewhere = CLI(data: dir + "/other-node")
            _ = try await elsewhere.ok("key", "create")
            _ = try await elsewhere.ok("append", "--stream", "x", "--type", "Note", "--data", "{}", "--receipt", dir + "/foreign.json")
            let foreign = try await docket("receipt", "prove", dir + "/foreign.json")
            #expect(foreign.status == 3 && foreign.stderr.contains("receipt-mismatch") && foreign.stderr.contains("is for ledger"))
            try FileManager.default.removeItem(atPath: work)
            try FileManager.default.copyItem(atPath: dir + "/r3b.json", toPath: work)
            try Self.edit(work) { $0 = $0.replacingOccurrences(of: "\"seq\": 3,", with: "\"seq\": 4000,") }
            // A field edited after signing fails the receipt's own signature before anything is asked.
            let edited = try await docket("receipt", "prove", work)
            #expect(edited.status == 3 && edited.stderr.contains("signature does not verify with the key it names"), "\(edited.stderr)")
            try Self.edit(dir + "/r3b.json") { $0 = $0.replacingOccurrences(of: "\"type\": \"", with: "\"type\": \"Forged") }
            let forged = try await docket("receipt", "prove", dir + "/r3b.json", "--out", dir + "/forged-proof.json")
            #expect(forged.status == 3 && forged.stderr.contains("receipt-mismatch"), "\(forged.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/forged-proof.json"))
            // A genuine receipt of a record past this copy's end: a copy of the ledger that went on.
            try FileManager.default.copyItem(atPath: docket.data, toPath: dir + "/went-on")
            let wentOn = CLI(data: dir + "/went-on")
            for i in 0..<3 { _ = try await wentOn.ok("append", "--stream", "later", "--type", "Note", "--data", "{\"i\":\(i)}") }
            let later = try await wentOn.events().count
            _ = try await wentOn.ok("receipt", "issue", String(later), "--out", work)
            let beyond = try await docket("receipt", "prove", work)
            #expect(beyond.status == 3 && beyond.stderr.contains("not-held"), "\(beyond.stderr)")
            #expect(try await docket.events() == head)
            #expect(try await docket.ok("verify", "--pubkey", dir + "/pub.hex").status == 0)
        }
    }

    @Test("prove keeps a receipt's checkpoint honest: the log must extend the one it signed, not be a copy rolled back before it or a fork signed with the same key")
    func proveNeedsConsistency() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(data: dir + "/node")
            try FileManager.default.createDirectory(atPath: docket.data, withIntermediateDirectories: false)
            _ = try await docket.ok("key", "create", "--pubkey-out", dir + "/pub.hex")
            for i in 0..<10 { _ = try await docket.ok("append", "--stream", "s", "--type", "Note", "--data", "{\"i\":\(i)}") }
            _ = try await docket.ok("append", "--stream", "s", "--type", "Note", "--data", "{}", "--receipt", dir + "/r.json")
            _ = try await docket.ok("checkpoint")
            _ = try await docket.ok("receipt", "prove", dir + "/r.json")
            // Two copies of the ledger as it stood: one is left behind, one goes its own way (more
            // records, and a checkpoint signed with the same key). The original goes on too.
            let behind = CLI(data: dir + "/behind")
            let fork = CLI(data: dir + "/fork")
            for copy in [behind, fork] { try FileManager.default.copyItem(atPath: docket.data, toPath: copy.data) }
            // A third copy holds the original's records but not its newest checkpoint (as a node
            // holding another key's checkpoints would, after a failover).
            let unsigned = CLI(data: dir + "/unsigned")
            for (node, word) in [(docket, "kept"), (fork, "forged")] {
                for i in 0..<5 { _ = try await node.ok("append", "--stream", "s", "--type", "Note", "--data", "{\"\(word)\":\(i)}") }
                if word == "kept" { try FileManager.default.copyItem(atPath: docket.data, toPath: unsigned.data) }
                _ = try await node.ok("checkpoint")
            }
            // The original extends the checkpoint the receipt holds: proven again, against its latest.
            try FileManager.default.copyItem(atPath: dir + "/r.json", toPath: dir + "/r1.json")
            let again = try await docket.ok("receipt", "prove", dir + "/r.json")
            #expect(again.stdout.contains("records 1–17"), "\(again.stdout)")
            let proven = try String(contentsOfFile: dir + "/r.json", encoding: .utf8)
            // The fork holds the record, and signed a checkpoint as large, with another root.
            let forked = try await fork("receipt", "prove", dir + "/r.json")
            #expect(forked.status == 3 && forked.stderr.contains("receipt-mismatch: the receipt was proven against a checkpoint of records 1–17")
                && forked.stderr.contains("does not extend that checkpoint"), "\(forked.stderr)")
            // Asked to sign a new checkpoint first, it finds that out before signing anything.
            let forkHead = try JSON.parse(try await fork.ok("stats", "--json").stdout)["events"]
            let forkedAgain = try await fork("receipt", "prove", dir + "/r.json", "--new-checkpoint")
            #expect(forkedAgain.status == 3 && forkedAgain.stderr.contains("nothing was signed"), "\(forkedAgain.stderr)")
            #expect(try JSON.parse(try await fork.ok("stats", "--json").stdout)["events"] == forkHead)
            // The copy left behind holds the record, but its latest checkpoint is older.
            let rolledBack = try await behind("receipt", "prove", dir + "/r.json")
            #expect(rolledBack.status == 3 && rolledBack.stderr.contains("this node's log holds only 1–12: it is older than that checkpoint"), "\(rolledBack.stderr)")
            #expect(try String(contentsOfFile: dir + "/r.json", encoding: .utf8) == proven)
            // The copy that holds the records but not the checkpoint: not accused of a rollback,
            // told to sign one; once it has, the receipt is proven against it.
            let older = try await unsigned("receipt", "prove", dir + "/r.json", "--out", dir + "/r-unsigned.json")
            #expect(older.status == 1 && older.stderr.contains("no-checkpoint") && older.stderr.contains("have it sign a new checkpoint"), "\(older.stderr)")
            _ = try await unsigned.ok("receipt", "prove", dir + "/r.json", "--out", dir + "/r-unsigned.json", "--new-checkpoint")
            // A receipt proven against the older checkpoint is proven by the fork too: the fork
            // does extend that one (it split after it), as the original does.
            _ = try await fork.ok("receipt", "prove", dir + "/r1.json", "--out", dir + "/r1-fork.json")
            let offline = try await Self.offline("receipt", "verify", dir + "/r.json", "--pubkey", dir + "/pub.hex", "--require-proof")
            #expect(offline.status == 0, "\(offline.stdout)")
            // A receipt whose own checkpoint was altered (one digit of its root) is blamed, not the
            // node, and is left as it was.
            let text = try String(contentsOfFile: dir + "/r.json", encoding: .utf8)
            let root = try #require(try JSON.parse(text)["inclusion"]?["checkpoint"]?["root"]?.stringValue)
            let altered = root.prefix(10) + (root.dropFirst(10).first == "0" ? "1" : "0") + root.dropFirst(11)
            try text.replacingOccurrences(of: root, with: altered).write(toFile: dir + "/r-bad.json", atomically: true, encoding: .utf8)
            let bad = try await docket("receipt", "prove", dir + "/r-bad.json", "--new-checkpoint")
            #expect(bad.status == 3 && bad.stderr.contains("the proof this receipt already holds does not verify (checkpoint signature"), "\(bad.stderr)")
            #expect(try String(contentsOfFile: dir + "/r-bad.json", encoding: .utf8) == text.replacingOccurrences(of: root, with: altered))
        }
    }

    @Test("a served node signs checkpoints every N records or seconds and on SIGTERM; receipts and proofs over --server; verify on a read-only copy")
    func served() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/node"
            let local = CLI(data: data)
            let token = try await local.ok("token", "create", "--role", "admin", "--name", "root").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let pub = try await local.ok("key", "create", "--pubkey-out", dir + "/pub.hex").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let port = DocketProcess.freePort()
            // The node's log goes to a file, read as the test goes on.
            let logPath = dir + "/serve.log"
            let serve = try SpawnedChild(
                path: try #require(DocketProcess.executable).path,
                arguments: ["serve", "--data-dir", data, "--listen", "127.0.0.1:\(port)", "--checkpoint-every", "3", "--checkpoint-interval", "1"],
                stdout: .discard, stderr: .file(logPath))
            defer { if serve.isRunning { serve.terminate() } }
            let admin = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": token]
            func docket(_ args: [String], as env: [String: String] = admin) async throws -> DocketProcess.Output { try await DocketProcess.run(args, environment: env) }
            var up = false
            for _ in 0..<600 where !up {
                up = try await docket(["status"]).status == 0
                if !up { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(up)
            let reporterToken = try await docket(["token", "create", "--role", "reporter", "--name", "ada"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let ada = ["DOCKET_SERVER": "127.0.0.1:\(port)", "DOCKET_TOKEN": reporterToken]
            // Any token may ask the node for its public key; locally it is read from node.key.
            #expect(try await docket(["key", "show"], as: ada).stdout == pub + "\n")
            #expect(try await local.ok("key", "show").stdout == pub + "\n")
            let noKey = try await DocketProcess.run(["key", "show", "--data-dir", dir])
            #expect(noKey.status == 1 && noKey.stderr.contains("no-node-key: no node key at \(dir)/node.key; make one with `docket key create`"), "\(noKey.stderr)")
            #expect(try await docket(["policy", "adopt", "--project", "aumos", Self.policy, "--at", "2025-01-01T00:00:00Z"]).status == 0)
            let submit = try await docket(["report", "submit", "--project", "aumos", "--report", "R1", "--title", "t", "--reporter", "ada", "--receipt", dir + "/r1.json", "--json"], as: ada)
            #expect(submit.status == 0, "\(submit.stderr)")
            // Sequence 4 or 5: the node may have signed a checkpoint after the policy (3 records).
            let seq = try #require(try JSON.parse(submit.stdout)["seq"]?.intValue)
            // The node signs a checkpoint by itself: three records after the last one, or within a
            // second of a record.
            var proved = false
            for _ in 0..<200 where !proved {
                proved = try await docket(["receipt", "prove", dir + "/r1.json"], as: ada).status == 0
                if !proved { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(proved)
            #expect(try await Self.offline("receipt", "verify", dir + "/r1.json", "--pubkey", pub, "--require-proof").status == 0)
            // Reporters cannot have checkpoints signed, nor receipts for records that are not theirs.
            let refused = try await docket(["checkpoint"], as: ada)
            #expect(refused.status == 1 && refused.stderr.contains("forbidden"))
            let notTheirs = try await docket(["receipt", "issue", "1", "--out", dir + "/x.json"], as: ada)
            #expect(notTheirs.status == 1 && notTheirs.stderr.contains("not-held"))
            let c = try JSON.parse(try await docket(["checkpoint"]).stdout)
            #expect(c["publicKey"] == .string(pub) && c["previous"] != nil)
            #expect(try await docket(["append", "--stream", "misc", "--type", "Note", "--data", "{}", "--receipt", dir + "/r2.json"]).status == 0)
            #expect(try await docket(["receipt", "prove", dir + "/r2.json", "--new-checkpoint"]).status == 0)
            #expect(try await Self.offline("receipt", "verify", dir + "/r2.json", "--pubkey", pub, "--require-proof").status == 0)
            // Proven again over the network: the node shows its log extends the checkpoint the
            // receipt already holds (a consistency proof), and the receipt then names the newer one.
            #expect(try await docket(["append", "--stream", "misc", "--type", "Note", "--data", "{}"]).status == 0)
            let reproved = try await docket(["receipt", "prove", dir + "/r2.json", "--new-checkpoint"])
            #expect(reproved.status == 0, "\(reproved.stderr)")
            #expect(try await Self.offline("receipt", "verify", dir + "/r2.json", "--pubkey", pub, "--require-proof").status == 0)

            // Export and replay over the network are those of the data directory.
            let exported = try await docket(["export", "--jsonl"])
            let readLocally = try await DocketProcess.run(["read", "--data-dir", data]).stdout
            // The node may sign a timed checkpoint (a record of its own) between the two reads.
            #expect(exported.status == 0 && readLocally.hasPrefix(exported.stdout))
            let later = readLocally.dropFirst(exported.stdout.count).split(separator: "\n")
            #expect(later.allSatisfy { $0.contains("system/checkpoints") })
            let reporterExport = try await docket(["export"], as: ada)
            #expect(reporterExport.status == 1 && reporterExport.stderr.contains("needs an admin, auditor or replica token") && reporterExport.stdout.isEmpty)
            let replayed = try await docket(["replay", "--at-seq", "\(seq)", "--json"])
            #expect(replayed.status == 0)
            #expect(try JSON.parse(replayed.stdout)["reports"]?.arrayValue?.count == 1)
            _ = try await docket(["append", "--stream", "misc", "--type", "Note", "--data", "{}"])

            serve.terminate()  // SIGTERM: a last checkpoint covers the last append (unless the interval's did)
            await serve.exited()
            #expect(serve.terminationStatus == 0)
            let logged = try String(contentsOfFile: logPath, encoding: .utf8)
            #expect(logged.contains("signed a checkpoint"))
            #expect(!logged.contains(String(token.split(separator: "_").last!)) && !logged.contains(String(reporterToken.split(separator: "_").last!)))
            let checkpoints = try await DocketProcess.run(["read", "--stream", "system/checkpoints", "--data-dir", data]).lines
            #expect(checkpoints.count >= 4)
            let head = try await DocketProcess.run(["read", "--data-dir", data]).lines.count
            #expect(try JSON.parse(try #require(checkpoints.last))["data"]?["size"]?.intValue == Int64(head - 1))

            // verify on a read-only copy: chain, every checkpoint and its signature; nothing written.
            let copy = try ReadOnlyCopy(of: data, in: dir)
            defer { copy.remove() }
            let before = try copy.snapshot()
            let verified = try await copy.docket(["verify", "--json", "--pubkey", pub])
            #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
            let v = try JSON.parse(verified.stdout)
            #expect(v["intact"] == true && v["checkpoints_checked"]?.intValue == Int64(checkpoints.count) && v["checkpoint_key_given"] == true)
            let wrong = try await DocketProcess.run(["key", "create", "--out", dir + "/other.key", "--data-dir", dir + "/scratch"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let bad = try await copy.docket(["verify", "--pubkey", wrong])
            let first = try JSON.parse(try #require(checkpoints.first))["seq"]?.intValue ?? 0
            #expect(bad.status == 3 && bad.stdout.contains("CHECKPOINT FAILED: the checkpoint at sequence \(first)") && bad.stdout.contains("another public key"))
            #expect(try copy.snapshot() == before)
        }
    }

    @Test("replay shows every view as of a time or a sequence, equal to each view's --as-of; export writes the decoded log, whole or not at all")
    func replayAndExport() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(data: dir + "/node")
            try FileManager.default.createDirectory(atPath: docket.data, withIntermediateDirectories: false)
            _ = try await docket.ok("policy", "adopt", "--project", "aumos", Self.policy, "--at", "2025-01-01T00:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "AUM-1", "--title", "RLS bypass", "--reporter", "ada",
                              "--contact", "ada@example.org", "--at", "2025-11-21T15:00:00Z")
            _ = try await docket.ok("report", "ack", "AUM-1", "--assignee", "maria", "--at", "2025-11-22T10:00:00Z")
            _ = try await docket.ok("report", "triage", "AUM-1", "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--at", "2025-11-25T10:00:00Z")
            _ = try await docket.ok("report", "release", "AUM-1", "--version", "2.1.1", "--at", "2025-11-29T10:00:00Z")
            _ = try await docket.ok("report", "credit", "AUM-1", "--person", "ada", "--offer", "--type", "finder", "--at", "2025-11-30T11:00:00Z")
            _ = try await docket.ok("report", "credit", "AUM-1", "--person", "ada", "--accept", "--at", "2025-11-30T12:00:00Z")
            _ = try await docket.ok("report", "publish", "AUM-1", "--ghsa", "GHSA-2c4m-59x8-xvhw", "--at", "2025-12-02T10:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "AUM-2", "--title", "second", "--reporter", "bob", "--at", "2025-12-03T10:00:00Z")

            for (flag, value, view) in [("--as-of", "2025-11-26T00:00:00Z", "2025-11-26T00:00:00Z"), ("--at-seq", "4", "4"), ("--as-of", "2025-12-05", "2025-12-05")] {
                let replay = try JSON.parse(try await docket.ok("replay", flag, value, "--json").stdout)
                let state = try await docket.ok("state", "--json", "--as-of", view).lines.map { try JSON.parse($0) }
                let timers = try await docket.ok("timers", "--all", "--json", "--as-of", view).lines.map { try JSON.parse($0) }
                #expect(replay["reports"] == .array(state), "\(flag) \(value)")
                #expect(replay["timers"] == .array(timers), "\(flag) \(value)")
                let project = try #require(replay["projects"]?.arrayValue?.first)
                let hall = try await docket.ok("hall-of-fame", "--project", "aumos", "--as-of", view).stdout
                #expect(project["hallOfFame"]?["markdown"] == .string(hall))
                #expect(project["metrics"] == (try JSON.parse(try await docket.ok("metrics", "--project", "aumos", "--json", "--as-of", view).stdout)))
            }
            let early = try JSON.parse(try await docket.ok("replay", "--as-of", "2025-11-26", "--json").stdout)
            #expect(early["reports"]?.arrayValue?.first?["state"] == "accepted" && early["reports"]?.arrayValue?.count == 1)
            let readable = try await docket.ok("replay", "--as-of", "2025-12-05").stdout
            for section in ["# Docket as of", "## Advisory state", "## Disclosure timers", "## Project aumos", "@\u{2060}ada", "AUM-2"] {
                #expect(readable.contains(section), "\(section)")
            }
            // In that order.
            let order = ["# Docket as of", "## Advisory state", "AUM-1", "## Disclosure timers", "acknowledge", "## Project aumos", "MILESTONE"]
            let positions = order.compactMap { readable.range(of: $0)?.lowerBound }
            #expect(positions.count == order.count && positions == positions.sorted())
            #expect(try await docket("replay").status == 64)
            #expect(try await docket("replay", "--as-of", "2025-12-05", "--at-seq", "3").status == 64)

            // Export: the docket read lines, to stdout or whole to a file.
            let read = try await docket.ok("read").stdout
            #expect(try await docket.ok("export", "--jsonl").stdout == read)
            let exported = try await docket.ok("export", "--out", dir + "/log.jsonl")
            #expect(exported.stderr.contains("exported 9 events (sequences 1–9)"))
            let text = try String(contentsOfFile: dir + "/log.jsonl", encoding: .utf8)
            #expect(text == read)
            // It holds every report's contents: readable by its owner only.
            #expect(try FileManager.default.attributesOfItem(atPath: dir + "/log.jsonl")[.posixPermissions] as? Int == 0o600)
            // Every event round-trips: each line decodes to the stored event's fields and payload.
            var configuration = EventStore.Configuration()
            configuration.readOnly = true
            let store = try EventStore.open(directory: docket.data, configuration: configuration)
            defer { store.close() }
            let lines = text.split(separator: "\n").map(String.init)
            #expect(UInt64(lines.count) == store.head.sequence)
            for (i, line) in lines.enumerated() {
                let v = try JSON.parse(line)
                let e = try #require(try store.event(at: UInt64(i + 1)))
                #expect(v["seq"] == .int(Int64(e.sequence)) && v["stream"] == .string(e.stream.rawValue) && v["version"] == .int(Int64(e.streamVersion)))
                #expect(v["id"] == .string(e.id.rawValue) && v["type"] == .string(e.type.rawValue) && v["actor"] == .string(e.actor))
                #expect(v["occurred_at"] == .string(e.occurredAt.rfc3339) && v["recorded_at"] == .string(e.recordedAt.rfc3339))
                #expect(v["data"] == e.data)
            }
            #expect(try await docket.ok("export", "--from", "8").stdout.split(separator: "\n").count == 2)
            // An export that cannot be written leaves nothing behind.
            let failed = try await docket("export", "--out", dir + "/missing/log.jsonl")
            #expect(failed.status == 1 && failed.stderr.contains("cannot write"))
            #expect((try FileManager.default.contentsOfDirectory(atPath: dir)).allSatisfy { !$0.contains("partial") })
        }
    }
}

extension ForensicCommandTests {
    static let tool = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tools/receipt-verify.py").path

    static func hasTools() -> Bool {
        ["/usr/bin/openssl", "/usr/local/bin/openssl"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs Tools/receipt-verify.py.
    static func independent(_ args: String...) async throws -> Int32 {
        let p = try SpawnedChild(path: "/usr/bin/env", arguments: ["python3", tool] + args, stdout: .discard, stderr: .discard)
        return await offPool { p.finish() }.status
    }

    @Test("Tools/receipt-verify.py (Python and openssl only) agrees with docket receipt verify", .enabled(if: hasTools(), "needs python3 and openssl"))
    func independentVerifier() async throws {
        try await withTemporaryDirectory { dir in
            let docket = CLI(data: dir + "/node")
            _ = try await docket.ok("key", "create", "--pubkey-out", dir + "/pub.hex")
            for i in 0..<37 { _ = try await docket.ok("append", "--stream", "s", "--type", "Note", "--data", "{\"i\":\(i)}") }
            _ = try await docket.ok("append", "--stream", "s", "--type", "Note", "--data", "{}", "--receipt", dir + "/r.json")
            _ = try await docket.ok("receipt", "issue", "20", "--out", dir + "/r20.json")
            #expect(try await Self.independent(dir + "/r.json", dir + "/pub.hex") == 0)
            #expect(try await Self.independent(dir + "/r.json", dir + "/pub.hex", "--require-proof") == 3)
            _ = try await docket.ok("checkpoint")
            for r in ["r.json", "r20.json"] { _ = try await docket.ok("receipt", "prove", "\(dir)/\(r)") }
            let other = try await DocketProcess.run(["key", "create", "--out", dir + "/other.key", "--data-dir", docket.data]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let original = try String(contentsOfFile: dir + "/r20.json", encoding: .utf8)
            let cases: [(String, (String) -> String)] = [
                ("as issued", { $0 }),
                ("another event id", { $0.replacingOccurrences(of: "\"id\": \"", with: "\"id\": \"0") }),
                ("another stream version", { $0.replacingOccurrences(of: "\"version\": 20,", with: "\"version\": 21,") }),
                ("an altered audit path", { s in
                    let path = s.range(of: "\"audit_path\":[\"")!.upperBound
                    return s.replacingCharacters(in: path..<s.index(after: path), with: s[path] == "0" ? "1" : "0")
                }),
                ("another checkpoint size", { $0.replacingOccurrences(of: "\"size\":38", with: "\"size\":40") }),
                // Not signed, but not a receipt docket writes: both refuse it alike.
                ("a checkpoint record below its size", { s in
                    let seq = s.range(of: #""seq":[0-9]+"#, options: .regularExpression, range: s.range(of: "\"checkpoint\"")!.upperBound..<s.endIndex)!
                    return s.replacingCharacters(in: seq, with: "\"seq\":5")
                }),
                ("a hash in uppercase", { s in
                    let hash = s.range(of: #""leaf_hash": ?"[0-9a-f]{64}""#, options: .regularExpression)!
                    return s.replacingCharacters(in: hash, with: s[hash].uppercased().replacingOccurrences(of: "LEAF_HASH", with: "leaf_hash"))
                }),
            ]
            for (name, change) in cases {
                let text = change(original)
                #expect((text == original) == (name == "as issued"), "\(name) changed nothing")
                try text.write(toFile: dir + "/t.json", atomically: true, encoding: .utf8)
                for key in [dir + "/pub.hex", other] {
                    let docketSays = try await Self.offline("receipt", "verify", dir + "/t.json", "--pubkey", key, "--require-proof").status
                    let toolSays = try await Self.independent(dir + "/t.json", key, "--require-proof")
                    #expect(docketSays == toolSays, "\(name), key \(key == other ? "other" : "node"): docket \(docketSays), tool \(toolSays)")
                    #expect(docketSays == (name == "as issued" && key != other ? 0 : 3), "\(name)")
                }
            }
        }
    }
}

/// A copy of a data directory that cannot be written: every directory 0555, every file 0444,
/// and, when the tests run as root (who writes anyway), `docket` run as `nobody` through setpriv.
struct ReadOnlyCopy {
    let root: String
    let path: String

    init(of data: String, in dir: String) throws {
        root = dir + "/ro"
        path = root + "/copy"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: data, toPath: path)
        try? FileManager.default.removeItem(atPath: path + "/node.key")  // a copy for an auditor carries no key
        try? FileManager.default.removeItem(atPath: path + "/ledger/lock.mdb")
        Self.chmod(path, directories: 0o555, files: 0o444)
        // nobody must be able to reach it.
        for p in [dir, root] { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: p) }
    }

    static func chmod(_ path: String, directories: Int, files: Int) {
        let fm = FileManager.default
        for entry in (fm.enumerator(atPath: path)?.allObjects as? [String]) ?? [] {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: path + "/" + entry, isDirectory: &isDir)
            if !isDir.boolValue { try? fm.setAttributes([.posixPermissions: files], ofItemAtPath: path + "/" + entry) }
        }
        for entry in ((fm.enumerator(atPath: path)?.allObjects as? [String]) ?? []).reversed() {
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: path + "/" + entry, isDirectory: &isDir)
            if isDir.boolValue { try? fm.setAttributes([.posixPermissions: directories], ofItemAtPath: path + "/" + entry) }
        }
        try? fm.setAttributes([.posixPermissions: directories], ofItemAtPath: path)
    }

    /// Runs `docket args… --data-dir COPY` unable to write it.
    func docket(_ args: [String]) async throws -> DocketProcess.Output {
        guard getuid() == 0 else { return try await DocketProcess.run(args + ["--data-dir", path]) }
        guard let executable = DocketProcess.executable else { throw NotBuilt() }
        let path = self.path
        return try await offPool {
            let (status, out, err) = try SpawnedChild(
                path: "/usr/bin/setpriv", arguments: ["--reuid=65534", "--regid=65534", "--clear-groups", executable.path] + args + ["--data-dir", path],
                environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"]
            ).finish()
            return DocketProcess.Output(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
        }
    }

    /// Every file under the copy with its size and modification time.
    func snapshot() throws -> [String: String] {
        var out: [String: String] = [:]
        let fm = FileManager.default
        for entry in (fm.enumerator(atPath: path)?.allObjects as? [String]) ?? [] {
            let a = try fm.attributesOfItem(atPath: path + "/" + entry)
            out[entry] = "\(a[.size] ?? 0) \((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        return out
    }

    func remove() {
        Self.chmod(path, directories: 0o755, files: 0o644)
        try? FileManager.default.removeItem(atPath: root)
    }

}

extension ForensicCommandTests {
    @Test("damage LMDB trusts (page headers, node offsets) never crashes verify: it answers, and names the damage")
    func damageThatCrashesLMDB() async throws {
        try await withTemporaryDirectory { dir in
            let data = dir + "/d"
            let docket = CLI(data: data)
            _ = try await docket.ok("key", "create")
            _ = try await docket.ok("policy", "adopt", "--project", "aumos", Self.policy, "--at", "2026-01-01T00:00:00Z")
            _ = try await docket.ok("report", "submit", "--project", "aumos", "--report", "AUM-1", "--title", "t", "--reporter", "ada", "--reporter-name", "A", "--contact", "a@x.org")
            _ = try await docket.ok("report", "ack", "AUM-1", "--assignee", "maria")
            _ = try await docket.ok("checkpoint")
            _ = try await docket.ok("append", "--stream", "x", "--type", "N", "--data", "{}")
            _ = try await docket.ok("checkpoint")
            // Every bit 4 of the first 64 bytes of each page after the meta pages: page headers
            // and node offsets, which LMDB follows without checking (mdb_dump crashes on some
            // such copies). Whatever the damage, verify answers intact (a bit nothing reads) or
            // NOT INTACT, exit 3: never a crash, never a crash report showing memory that holds
            // records, never "not a data directory" for a ledger whose structure is damaged.
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: data + "/ledger/data.mdb")))
            var answers: [Int32: Int] = [:]
            for page in 2..<(original.count / 4096) {
                for offset in stride(from: page * 4096 + 16, to: page * 4096 + 64, by: 2) {
                    let copy = dir + "/copy"
                    try? FileManager.default.removeItem(atPath: copy)
                    try FileManager.default.createDirectory(atPath: copy + "/ledger", withIntermediateDirectories: true)
                    var bytes = original
                    bytes[offset] ^= 0x10
                    try Data(bytes).write(to: URL(fileURLWithPath: copy + "/ledger/data.mdb"))
                    let out = try await DocketProcess.run(["verify", "--data-dir", copy])
                    answers[out.status, default: 0] += 1
                    #expect([0, 3].contains(out.status), "offset \(offset): status \(out.status): \(out.stdout) \(out.stderr)")
                    #expect(!(out.stdout + out.stderr).contains("maria") && !out.stderr.contains("Fatal error"), "offset \(offset)")
                }
            }
            #expect(answers[3, default: 0] > 0, "\(answers)")

            // Commands other than verify read the damaged file in their own process: one that dies
            // of it says what most likely happened and where to look, and prints no crash report
            // (registers and stack memory can hold record contents). Every page header in turn.
            var killed = 0
            for page in 2..<(original.count / 4096) {
                let copy = dir + "/copy"
                try? FileManager.default.removeItem(atPath: copy)
                try FileManager.default.createDirectory(atPath: copy + "/ledger", withIntermediateDirectories: true)
                var bytes = original
                for i in page * 4096..<page * 4096 + 16 { bytes[i] ^= 0xFF }
                try Data(bytes).write(to: URL(fileURLWithPath: copy + "/ledger/data.mdb"))
                for command in ["read", "state"] {
                    let out = try await DocketProcess.run([command, "--data-dir", copy])
                    #expect([0, 1, SIGBUS, SIGSEGV].contains(out.status), "page \(page), \(command): status \(out.status): \(out.stderr.prefix(300))")
                    #expect(!out.stderr.contains("Program crashed") && !out.stderr.contains("Registers") && !out.stderr.contains("Fatal error"), "page \(page)")
                    if out.status == SIGBUS || out.status == SIGSEGV {
                        killed += 1
                        #expect(out.stderr.contains("damaged data file") && out.stderr.contains("docket verify"), "\(out.stderr)")
                    }
                }
            }
            // (Whether a page's damage kills the reader depends on the file's layout: this only
            // says how many did.)
            print("memory faults among the damaged copies: \(killed)")
        }
    }
}
