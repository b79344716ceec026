import ArgumentParser
import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketWire
import Foundation
import Logging

// Forensics (DESIGN §7, Schemas/forensics.md): receipts, replay and export. Checkpoints and
// verify live with the other log commands.

/// An Ed25519 public key given as 64 hex digits, or as a file holding them.
func loadPublicKey(_ text: String, option: String = "--pubkey") throws -> [UInt8] {
    let given = FileManager.default.contents(atPath: text).map { String(decoding: $0, as: UTF8.self) } ?? text
    if given == text, text.contains("/"), !FileManager.default.fileExists(atPath: text) {
        throw CLIError("\(option): no file \(text) (give the public key's 64 hex digits, or a file holding them)", exitCode: ExitCode.validationFailure.rawValue)
    }
    guard let key = Hex.decode(given.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()), key.count == 32 else {
        throw CLIError(
            "\(option) must be an Ed25519 public key: 64 hex digits, or a file holding them (`docket key create` prints it)",
            exitCode: ExitCode.validationFailure.rawValue)
    }
    return key
}

/// `keys` without repeats, in order (a key given twice is one key trusted).
func uniqueKeys(_ keys: [[UInt8]]) -> [[UInt8]] {
    var seen = Set<[UInt8]>()
    return keys.filter { seen.insert($0).inserted }
}

/// Refuses a scan from `from` through `head` that ended at `last` (0 if it saw nothing) before
/// the head: a copy whose records end early (truncated, or edited) is not passed on as complete.
func requireWholeLog(_ store: EventStore, through last: UInt64, from: UInt64, head: UInt64) throws {
    try store.checkRecordedHead()
    let start = max(from, 1)
    guard start <= head, max(last, start - 1) < head else { return }
    let end = max(last, start - 1)
    throw StoreError(
        .corruptRecord,
        "the log's records end at \(end) but its head is \(head): this copy of the ledger is damaged or was edited; run docket verify",
        sequence: end + 1)
}

/// Whether this process could write the file `path` whole: a new file renamed into place, which
/// needs its directory writable.
func canWrite(_ path: String) -> Bool {
    var st = stat()
    if stat(path, &st) == 0 {
        if st.st_mode & S_IFMT == S_IFDIR { return false }
        if st.st_mode & S_IFMT == S_IFREG, access(path, W_OK) != 0 { return false }
    }
    let parent = (path as NSString).deletingLastPathComponent
    return access(parent.isEmpty ? "." : parent, W_OK | X_OK) == 0
}

/// Writes `text` to `path` whole or not at all (a temporary file renamed over it).
func writeAtomically(_ text: String, to path: String) throws {
    let tmp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]) else {
        throw CLIError("cannot write \(path) (is its directory there and writable?)")
    }
    guard rename(tmp, path) == 0 else {
        unlink(tmp)
        throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

extension Node {
    /// Checks, before anything is appended, that the node can sign a receipt and that `path`
    /// can be written: a command asked for a receipt fails whole rather than appending without one.
    func prepareReceipt(path: String) async throws {
        var isDirectory: ObjCBool = false
        if path.hasSuffix("/") || (FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw CLIError("--receipt: \(path) is a directory; name a file in it (like \(path.hasSuffix("/") ? path : path + "/")receipt.txt); nothing was appended")
        }
        let directory = (path as NSString).deletingLastPathComponent
        guard FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
            throw CLIError("--receipt: cannot write in \(directory.isEmpty ? "." : directory); nothing was appended")
        }
        do {
            switch self {
            case .local(let ledger, _): _ = try ledger.notary.nodeKey()
            case .remote(let client): _ = try await client.admin("node-key", [])
            }
        } catch let error as ForensicError where error.code == .noNodeKey {
            // Said, as for the file's problems above: a reporter must know a retry is safe.
            throw CLIError("\(error); nothing was appended (without --receipt it would be)")
        } catch DocketClientError.server(let body) where body.code == ForensicError.Code.noNodeKey.description {
            throw CLIError("\(body.code): \(body.message); nothing was appended (without --receipt it would be)")
        }
    }

    func receipt(sequence: UInt64) async throws -> Receipt {
        switch self {
        case .local(let ledger, let actor): return try ledger.receipt(sequence: sequence, as: .local(actor: actor))
        case .remote(let client): return try Receipt(wire: try await client.admin("receipt", [("seq", .int(Int64(sequence)))]))
        }
    }

    /// Fetches the receipt of an event just appended and writes it; a failure here says the
    /// event *was* recorded and how to get its receipt again.
    func writeReceipt(sequence: UInt64, to path: String) async throws {
        do {
            let r = try await receipt(sequence: sequence)
            try writeAtomically(r.fileText, to: path)
            writeStandardError("receipt for sequence \(sequence) written to \(path)\n")
        } catch {
            throw CLIError(
                "the event was recorded at sequence \(sequence), but its receipt could not be written (\(describe(error))); get it with `docket receipt issue \(sequence) --out \(path)`")
        }
    }
}

struct ReceiptGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Signed receipts for recorded events, checked offline with the node's public key.",
        discussion: """
            A receipt (Schemas/forensics.md) says, under the node's Ed25519 key, which record holds an \
            event: its sequence, leaf and chain hashes, and when it was recorded. `--receipt FILE` on \
            `docket append` and every `docket report` verb writes one; `issue` gets one later; `prove` \
            adds the record's inclusion proof against a later signed checkpoint; `verify` checks it all \
            with no node and no data directory.
            """,
        subcommands: [Issue.self, Prove.self, VerifyReceipt.self])

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Get the node's signed receipt for the record at a sequence.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @Argument(help: "The sequence of the record.") var seq: UInt64
        @Option(help: "Where to write it.") var out: String

        func run() async throws {
            try await reporting {
                let receipt = try await store.node(remote, actor: "cli", readOnly: true).using { try await $0.receipt(sequence: seq) }
                try writeAtomically(receipt.fileText, to: out)
                print("receipt for sequence \(seq) (\(receipt.stream) v\(receipt.streamVersion), \(receipt.type)) written to \(out)")
            }
        }
    }

    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add to a receipt the inclusion proof of its record against the node's latest signed checkpoint.",
            discussion: "Exit 3 when the receipt's signature does not verify with the key it names (a field was altered), or when the node's log does not hold the record the receipt names (another ledger, another record, a sequence it does not hold). Whether that key is the node's is for `docket receipt verify --pubkey` to say.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions
        @Argument(help: "The receipt file; rewritten with the proof unless --out is given.") var file: String
        @Option(help: "Write the proven receipt here instead.") var out: String?
        @Flag(help: "Have the node sign a new checkpoint first (admins; locally, the node key).") var newCheckpoint = false

        func run() async throws {
            try await reporting {
                var receipt = try readReceipt(file, failure: 1)
                // The receipt's own signature first, by the key it names: a field edited after
                // signing (its stream, type or time) would otherwise be proven along with the
                // record its leaf hash names.
                if let bad = receipt.verify(publicKey: receipt.publicKey).first(where: { $0.name == "receipt signature" && !$0.passed }) {
                    throw CLIError(
                        "receipt-mismatch: the receipt's signature does not verify with the key it names (\(bad.detail)): a field was altered after signing, or the file is damaged; nothing was proven and the receipt was not changed",
                        exitCode: 3)
                }
                // A receipt proven before holds a signed checkpoint: the node's log must extend the
                // one it signed (else it was rolled back or rewritten since), not merely hold the record.
                let earlier = receipt.inclusion?.checkpoint
                // That proof is what the node's log is held to, so it must hold itself: a damaged
                // or altered one is the file's fault, not the node's.
                if let earlier, let bad = receipt.verify(publicKey: earlier.publicKey).first(where: { $0.name != "receipt signature" && !$0.passed }) {
                    throw CLIError(
                        "the proof this receipt already holds does not verify (\(bad.name): \(bad.detail)): the file was damaged or altered; restore it from a copy (or, to prove it afresh, ask the node for a new receipt); the receipt was not changed",
                        exitCode: 3)
                }
                let (checkpoint, path, consistency): (Checkpoints.Checkpoint, [[UInt8]], [[UInt8]]?)
                do {
                    (checkpoint, path, consistency) = try await store.node(remote, actor: "cli", readOnly: !newCheckpoint).using { node in
                        switch node {
                        case .local(let ledger, let actor):
                            let (c, path) = try await ledger.inclusion(
                                sequence: receipt.sequence, leafHash: receipt.leafHash, ledger: receipt.ledger,
                                extending: earlier.map { ($0.size, $0.root) }, newCheckpoint: newCheckpoint, as: .local(actor: actor))
                            return (c, path, try earlier.map { try ledger.consistency(from: $0.size, to: c) })
                        case .remote(let client):
                            var request: [(key: String, value: Value)] = [
                                ("seq", .int(Int64(receipt.sequence))), ("leafHash", .string(Hex.encode(receipt.leafHash))),
                                ("ledger", .string(receipt.ledger)), ("newCheckpoint", .bool(newCheckpoint)),
                            ]
                            if let earlier {
                                request.append(("consistencyFrom", .int(Int64(earlier.size))))
                                request.append(("consistencyRoot", .string(Hex.encode(earlier.root))))
                            }
                            let v = try await client.admin("proof", request)
                            func hashes(_ key: String) -> [[UInt8]]? { v[key]?.arrayValue?.map { $0.stringValue.flatMap(Hex.decode) ?? [] } }
                            return (try Checkpoints.Checkpoint(wire: v["checkpoint"] ?? .null), hashes("auditPath") ?? [], hashes("consistency"))
                        }
                    }
                } catch let e as ForensicError where e.code == .receiptMismatch || e.code == .notHeld {
                    throw CLIError("\(e.code): \(e.message)", exitCode: 3)
                } catch let e as DocketClientError where e.code == "receipt-mismatch" || e.code == "not-held" {
                    throw CLIError("\(e)", exitCode: 3)
                }
                if let earlier {
                    guard let consistency else {
                        throw CLIError(
                            "the node sent no consistency proof from the checkpoint the receipt holds (records 1–\(earlier.size)): it predates them; the receipt was not changed",
                            exitCode: 1)
                    }
                    do throws(MerkleError) {
                        try MerkleProof.verifyConsistency(
                            size1: earlier.size, size2: checkpoint.size, root1: earlier.root, root2: checkpoint.root, proof: consistency, hasher: SHA256MerkleHasher())
                    } catch {
                        throw CLIError(
                            "receipt-mismatch: the receipt was proven against a checkpoint of records 1–\(earlier.size) (root \(Hex.encode(earlier.root).prefix(16))…), and the node's log does not extend it (\(error.message)): it was rolled back or rewritten since; the receipt was not changed",
                            exitCode: 3)
                    }
                }
                // Check what the node sent before writing it down: its own signature, and that the
                // path leads from the receipt's leaf to the checkpoint's root.
                receipt.inclusion = Receipt.Inclusion(checkpoint: checkpoint, auditPath: path)
                let checks = receipt.verify(publicKey: checkpoint.publicKey).filter { $0.name != "receipt signature" }
                if let bad = checks.first(where: { !$0.passed }) {
                    throw CLIError("the node's proof does not hold (\(bad.name): \(bad.detail)); the receipt was not changed", exitCode: 3)
                }
                try writeAtomically(receipt.fileText, to: out ?? file)
                if receipt.publicKey != checkpoint.publicKey {
                    // A rotated node key, or a receipt signed by someone else.
                    writeStandardError(
                        "warning: the receipt is signed by key \(Hex.encode(receipt.publicKey)), the node's checkpoint by \(Hex.encode(checkpoint.publicKey)): check that the receipt's key is the node's with `docket receipt verify --pubkey`\n")
                }
                print("record \(receipt.sequence) is in checkpoint \(checkpoint.sequence) (records 1–\(checkpoint.size), root \(Hex.encode(checkpoint.root).prefix(16))…): proof of \(path.count) hashes written to \(out ?? file)")
            }
        }
    }

    struct VerifyReceipt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check a receipt offline with the node's public key: its signature and, if attached, its inclusion proof and checkpoint.",
            discussion: "Needs no node and no data directory. Exit 0 when every check that applies passes; 3 when one fails or the file is not a well-formed receipt.")
        @Argument(help: "The receipt file.") var file: String
        @Option(help: ArgumentHelp(
            "The node's Ed25519 public key (hex, or a file holding it); repeat it to trust each node of the ledger (after a failover, the receipt and its checkpoint may be signed by different nodes).",
            valueName: "key|file")) var pubkey: [String]

        func validate() throws {
            guard !pubkey.isEmpty else { throw ValidationError("give the node's public key with --pubkey (`docket key create` printed it)") }
        }
        @Flag(help: "Fail (exit 3) unless the receipt carries an inclusion proof.") var requireProof = false
        @Flag(help: "Print the result as JSON.") var json = false

        func run() async throws {
            try await reporting {
                let keys = try uniqueKeys(pubkey.map { try loadPublicKey($0) })
                let receipt = try readReceipt(file, failure: 3)
                var checks = receipt.verify(publicKeys: keys)
                if receipt.inclusion == nil && requireProof {
                    checks.append(Receipt.Check(name: "inclusion proof", passed: false, detail: "none attached (add one with `docket receipt prove \(file)`)"))
                }
                let verified = checks.allSatisfy(\.passed)
                if json {
                    printJSON([
                        ("verified", .bool(verified)), ("seq", .int(Int64(receipt.sequence))), ("ledger", .string(receipt.ledger)),
                        ("inclusion_checked", .bool(receipt.inclusion != nil)),
                        ("checks", .array(checks.map { .object([("name", .string($0.name)), ("passed", .bool($0.passed)), ("detail", .string($0.detail))]) })),
                    ])
                } else {
                    print("receipt for record \(receipt.sequence) of ledger \(receipt.ledger): \(receipt.stream) v\(receipt.streamVersion), \(receipt.type), id \(receipt.eventID), recorded \(receipt.recordedAt)")
                    for c in checks { print("  \(c.passed ? "ok    " : "FAILED") \(c.name): \(c.detail)") }
                    if receipt.inclusion == nil && !requireProof {
                        print("  --     inclusion proof: none attached, not checked (add one with `docket receipt prove \(file)`)")
                    }
                    if verified, let c = receipt.inclusion?.checkpoint {
                        print("verified: the node signed this receipt, and record \(receipt.sequence) is in the log it signed at checkpoint \(c.sequence) (records 1–\(c.size))")
                    } else if verified {
                        print("verified: the node signed this receipt (its inclusion in a signed checkpoint was not checked)")
                    } else {
                        print("NOT VERIFIED: do not trust this receipt")
                    }
                }
                if !verified { throw ExitCode(3) }
            }
        }
    }
}

/// Reads and parses a receipt file; a file that is not a receipt fails with `failure` (3 when
/// reading it is itself the verification).
private func readReceipt(_ path: String, failure: Int32) throws -> Receipt {
    let data = try readInputFile(path, what: "receipt")
    do { return try Receipt(fileText: String(decoding: data, as: UTF8.self)) } catch {
        throw CLIError("\(path): \(error)", exitCode: failure)
    }
}

// MARK: - Replay

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every view as it stood at a past instant or sequence: advisory state, every clock, and each project's hall of fame and metrics.",
        discussion: "--as-of keeps the events that had happened by then and evaluates clocks then; --known-at keeps the events the node had recorded by then (leaving out entries backdated later) and evaluates clocks then; --at-seq keeps the log up to that sequence and evaluates clocks at its last event's recording time (for a maintainer, one of their project's events: its histories and receipts name them).")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @Option(parsing: .unconditional, help: ArgumentHelp("An RFC 3339 time, or a date (its midnight UTC).", valueName: "time")) var asOf: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("An RFC 3339 time, or a date: what the ledger knew then.", valueName: "time")) var knownAt: String?
    @Option(help: ArgumentHelp("A global sequence number.", valueName: "N")) var atSeq: UInt64?
    @Option(parsing: .unconditional, help: ArgumentHelp("The trailing window of the metrics.", valueName: "span")) var window: String = "90d"
    @Flag(help: "Print one JSON object instead of tables.") var json = false

    func validate() throws {
        guard [asOf != nil, knownAt != nil, atSeq != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --as-of TIME, --known-at TIME and --at-seq N")
        }
        // The other views take a sequence as --as-of seq:N (or N), read as they read it: replay
        // names --at-seq instead, and digits that read as well as a year or a date are asked
        // about as there.
        if let asOf {
            let spec: AsOfSpec
            do { spec = try ViewOptions.resolve(asOf) } catch let refused as CLIError {
                throw ValidationError(refused.message.replacingOccurrences(of: ", or seq:", with: ", or --at-seq "))
            }
            if case .sequence(let n) = spec {
                throw ValidationError("--as-of \(asOf): replay takes a time with --as-of and a sequence with --at-seq (--at-seq \(n))")
            }
        }
    }

    func run() async throws {
        try await reporting {
            let spec: AsOfSpec =
                if let atSeq { .sequence(atSeq) } else if let knownAt { .recorded(try parseTime(knownAt, what: "--known-at")) } else { .time(try parseTime(asOf!, what: "--as-of")) }
            let span = try parseSpan(window, what: "--window", allowZero: false)
            // From the log alone: not from the views checkpoint (a cache anyone who can write the
            // directory can edit), and leaving none behind in the directory under examination.
            let v = try await namingAsOfOption(spec, sequenceOption: "--at-seq") { try await store.node(remote, actor: "cli", readOnly: true, viewCheckpoints: false).using { node in
                // Locally, the records it folds must chain, as `verify` checks them: a copy whose
                // records were altered would otherwise show the alteration as history.
                if case .local(let ledger, _) = node, let broken = try ledger.store.firstChainBreak(through: min(atSeq ?? .max, ledger.store.head.sequence)) {
                    throw CLIError(
                        "this data directory's log does not hold at sequence \(broken.sequence) (\(broken.reason)): a replay of it would show what may not be the history. Run docket verify",
                        exitCode: 3)
                }
                return try await node.query(.replay(window: span), asOf: spec)
            } }
            warnIfFollowerLags(v)
            if json { return Swift.print(JSON.serialize(v)) }
            // printTable writes straight to the file handle: flush print's buffer before each.
            func table(_ header: [String], _ rows: [[String]]) {
                fflush(nil)
                printTable(header, rows)
            }
            let when = atSeq.map { "sequence \($0)" } ?? v["asOf"]?["time"]?.stringValue ?? v["asOf"]?["recorded"]?.stringValue.map { "what was recorded by \($0)" } ?? asOf ?? knownAt!
            // (A maintainer's replay does not say the last sequence folded: it is of every project's events.)
            let through = v["lastSequence"]?.intValue.map { ": events through sequence \($0)" } ?? ""
            print("# Docket as of \(when)\(through), clocks evaluated at \(v["evaluatedAt"]?.stringValue ?? "?")")
            if let n = v["undecodable"]?.intValue, n > 0 {
                print("WARNING: \(n) event\(n == 1 ? "" : "s") of report or project streams did not decode against \(n == 1 ? "its" : "their") event schema and \(n == 1 ? "is" : "are") in no view (docket read --stream shows the events as stored)")
            }
            Swift.print("\n## Advisory state\n")
            let reports = v["reports"]?.arrayValue ?? []
            if reports.isEmpty { print("(no reports)") } else {
                table(
                    ["REPORT", "PROJECT", "STATE", "SEVERITY", "ASSIGNEE", "SUBMITTED", "CVE", "TITLE"],
                    reports.map { r in
                        [r["id"]?.stringValue ?? "", r["project"]?.stringValue ?? "", r["state"]?.stringValue ?? "", r["severity"]?.stringValue ?? "-",
                         r["assignee"]?.stringValue ?? "-", String((r["submittedAt"]?.stringValue ?? "").prefix(10)), r["cve"]?.stringValue ?? "-",
                         r["title"]?.stringValue ?? ""]
                    })
            }
            Swift.print("\n## Disclosure timers\n")
            let clocks = v["timers"]?.arrayValue ?? []
            if clocks.isEmpty { print("(no clocks)") } else {
                table(clockTableHeader, clocks.map(clockTableRow))
            }
            for p in v["projects"]?.arrayValue ?? [] {
                let name = p["project"]?.stringValue ?? "?"
                let policy: Value? = if case .object = p["policy"] { p["policy"] } else { nil }
                Swift.print("")
                print("## Project \(name)\(policy.map { " — policy \($0["name"]?.stringValue ?? "?") v\($0["version"]?.intValue ?? 0)" } ?? " — no policy adopted")")
                Swift.print("")
                let m = p["metrics"] ?? .null
                print("Metrics, reports submitted after \(m["from"]?.stringValue ?? "?") through \(m["to"]?.stringValue ?? "?"): \(m["reports"]?.intValue ?? 0)")
                Swift.print("")
                table(MetricsTables.milestoneHeader, MetricsTables.milestoneRows(m))
                print("")
                table(MetricsTables.targetHeader, MetricsTables.targetRows(m))
                print("")
                // Markdown of its own lines (each name in it a single line of text, escaped here as well).
                Swift.print(UntrustedText.displayableLines(p["hallOfFame"]?["markdown"]?.stringValue ?? ""), terminator: "")
            }
        }
    }
}

// MARK: - Export

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the whole decoded log as JSON lines (the `docket read` format), for independent analysis.",
        discussion: "Streams in constant memory. With --out the file appears only once the export is complete. Remotely it needs an admin, auditor or replica token.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @Flag(help: "JSON lines, one event per line (the only format, and the default).") var jsonl = false
    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var out: String?
    @Option(help: "The first sequence to export.") var from: UInt64 = 1

    func run() async throws {
        try await reporting {
            var sink = try LineSink(path: out)
            var count: UInt64 = 0
            var last: UInt64 = 0
            do {
                if let client = try store.client(remote) {
                    try await client.using { client in
                        // A fixed end, so the export is the log as it stood when it began.
                        guard let lastSequence = try await client.status()["lastSequence"]?.intValue else {
                            throw CLIError("export reads the raw log: it needs an admin, auditor or replica token")
                        }
                        let head = UInt64(max(lastSequence, 0))
                        var next = max(from, 1)
                        while next <= head {
                            let page = try await client.read(from: next, limit: 1024)
                            guard !page.isEmpty else { break }
                            for e in page where e.sequence <= head {
                                try sink.line(e.json)
                                count += 1
                                last = e.sequence
                            }
                            next = page.last!.sequence + 1
                        }
                    }
                } else {
                    let store = try self.store.openStore(readOnly: true)
                    defer { store.close() }
                    var failure: (any Error)?
                    let head = store.head.sequence
                    try store.scan(from: from, through: head) { event in
                        do { try sink.line(event.json) } catch {
                            failure = error
                            return false
                        }
                        count += 1
                        last = event.sequence
                        return true
                    }
                    if let failure { throw failure }
                    // An export is the whole log through its head: a copy whose records end early
                    // (truncated, or edited) is not exported as if it were complete.
                    try requireWholeLog(store, through: last, from: from, head: head)
                }
                try sink.finish()
            } catch {
                sink.abandon()
                throw error
            }
            let range = count == 0 ? "none" : "sequences \(last - count + 1)–\(last)"
            writeStandardError("exported \(count) event\(count == 1 ? "" : "s") (\(range))\(out.map { " to \($0)" } ?? "")\n")
        }
    }
}

/// Buffered lines to standard output or to a file written beside its final name and renamed
/// over it when complete, so an interrupted export leaves no partial file.
struct LineSink {
    private let handle: FileHandle
    private let path: String?
    private let partial: String?
    private var buffer: [UInt8] = []

    init(path: String?) throws {
        self.path = path
        guard let path else {
            handle = .standardOutput
            partial = nil
            return
        }
        let partial = path + ".partial-\(getpid())"
        // Owner-only, from the start: it holds every report's contents.
        guard FileManager.default.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600]),
            let h = FileHandle(forWritingAtPath: partial)
        else { throw CLIError("cannot write \(path) (is its directory there and writable?)") }
        self.partial = partial
        handle = h
        buffer.reserveCapacity(1 << 16)
    }

    mutating func line(_ s: String) throws {
        buffer.append(contentsOf: s.utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { try flush() }
    }

    private mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        do { try handle.write(contentsOf: buffer) } catch { throw CLIError("writing \(path ?? "standard output") failed: \(error.localizedDescription)") }
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func finish() throws {
        try flush()
        guard let path, let partial else { return }
        do { try handle.synchronize() } catch { throw CLIError("writing \(path) failed: \(error.localizedDescription)") }
        try? handle.close()
        guard rename(partial, path) == 0 else { throw CLIError("cannot rename \(partial) to \(path): \(String(cString: strerror(errno)))") }
    }

    func abandon() {
        guard let partial else { return }
        try? handle.close()
        unlink(partial)
    }
}

// MARK: - Periodic checkpoints (docket serve)

/// `docket serve --checkpoint-every N --checkpoint-interval SECONDS`.
struct CheckpointScheduleOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Sign a checkpoint once N records follow the last one (needs DATA_DIR/node.key).", valueName: "N"))
    var checkpointEvery: UInt64?

    @Option(help: ArgumentHelp("Sign a checkpoint once this many seconds have passed since the last one, if records followed it.", valueName: "seconds"))
    var checkpointInterval: Int64?

    func validate() throws {
        if let checkpointEvery, checkpointEvery == 0 { throw ValidationError("--checkpoint-every must be at least 1") }
        if let checkpointInterval, checkpointInterval <= 0 { throw ValidationError("--checkpoint-interval must be at least 1 second") }
    }

    /// The service that signs them, or nil when neither option is given. Fails at once when the
    /// node has no key, rather than serving without the checkpoints it was asked for.
    func service(ledger: Ledger, logger: Logger) throws -> CheckpointService? {
        let schedule = CheckpointService.Schedule(everyEvents: checkpointEvery, interval: checkpointInterval.map { .seconds($0) })
        guard !schedule.isEmpty else { return nil }
        _ = try ledger.notary.nodeKey()
        return CheckpointService(ledger: ledger, schedule: schedule, logger: logger)
    }
}

/// `print` for this file's text lines, which repeat what receipts and the log hold (a stream, a
/// type, a ledger id, a policy's name): escaped whole (`UntrustedText.displayable`, line feeds
/// too), so that a forged receipt or an old record cannot rewrite what the screen says of it (a
/// fake "verified" line, an escape sequence hiding the FAILED line below it). Blank lines and
/// headings of its own are printed with `Swift.print`.
private func print(_ line: String) {
    Swift.print(UntrustedText.displayable(line))
}
