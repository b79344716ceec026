import ArgumentParser
import DocketClient
import DocketCore
import DocketServer
import DocketStore
import DocketWire
import Foundation

struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append one event to a stream (durable when this returns).",
        discussion: "Prints the result as one JSON object. Retrying with the same --id returns the original result.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions

    @Option(help: "The stream to append to, e.g. report-2026-001.")
    var stream: String

    @Option(help: "The event type, e.g. ReportSubmitted.")
    var type: String

    @Option(help: "The payload, as JSON.")
    var data: String

    @Option(help: ArgumentHelp("Fail unless the stream holds exactly N events (0: must not exist).", valueName: "N"))
    var expectVersion: UInt64?

    @Option(help: "The event id (idempotency key); a random UUID by default.")
    var id: String?

    @Option(help: "Who did it.")
    var actor: String = ProcessInfo.processInfo.environment["DOCKET_ACTOR"] ?? ProcessInfo.processInfo.environment["USER"] ?? "cli"

    @Option(help: ArgumentHelp("When it happened (RFC 3339); the ledger's clock by default.", valueName: "time"))
    var at: String?

    @Option(help: "The payload's schema version.")
    var schemaVersion: UInt16 = 1

    @Option(help: ArgumentHelp("Also write the node's signed receipt for the event to this file (see `docket receipt`).", valueName: "file"))
    var receipt: String?

    func run() async throws {
        try await reporting {
            // Validate everything before opening the store: bad input never reaches the log.
            let stream = try StreamName(self.stream)
            try Ledger.refuseReservedStream(stream)
            let event = try ProposedEvent(
                id: try parseEventID(id) ?? .random(), type: try EventType(type), schemaVersion: schemaVersion,
                actor: actor, occurredAt: try at.map { try parseTime($0, what: "--at") }, data: try JSON.parse(data))
            // No deeper than the network can carry back, also when appended locally: an event
            // an EVENTS frame cannot hold would stop every remote reader of the log at it.
            let fitsTheNetwork = event.payload.bytes.withUnsafeBytes { raw in
                (try? Payload.validate(raw, depthLimit: Payload.maximumNetworkDepth)) != nil
            }
            if !fitsTheNetwork {
                throw CLIError(
                    "--data nests more than \(Payload.maximumNetworkDepth - 1) levels: an event that deep could not be read back over the network (Schemas/protocol.md §12)",
                    exitCode: ExitCode.validationFailure.rawValue)
            }
            let expected: ExpectedVersion = expectVersion.map { .exact($0) } ?? .any
            let result: AppendResult
            if let client = try store.client(remote) {
                // Remotely the node records the token's holder as the actor.
                let r: DocketClient.Appended
                do {
                    r = try await client.using { client in
                        if let receipt { try await Node.remote(client).prepareReceipt(path: receipt) }
                        let r = try await client.append(to: stream, expecting: expected, events: [event])
                        if let receipt { try await Node.remote(client).writeReceipt(sequence: r.lastSequence, to: receipt) }
                        return r
                    }
                } catch DocketClientError.server(let body) where body.code == "replication-timeout" {
                    throw retryableTimeout(body, retry: [("--id", event.id.rawValue)], details: [("id", .string(event.id.rawValue))])
                }
                result = AppendResult(firstSequence: r.firstSequence, lastSequence: r.lastSequence, streamVersion: r.streamVersion, recordedAt: r.recordedAt, duplicate: r.duplicate)
            } else {
                let store = try self.store.openStore()
                defer { store.close() }
                let node = Node.local(Ledger(store: store, dataDir: self.store.dataDir), actor: actor)
                if let receipt { try await node.prepareReceipt(path: receipt) }
                result = try await store.append(to: stream, expecting: expected, events: [event])
                if let receipt { try await node.writeReceipt(sequence: result.lastSequence, to: receipt) }
            }
            printJSON([
                ("seq", .int(Int64(result.lastSequence))), ("stream", .string(stream.rawValue)),
                ("version", .int(Int64(result.streamVersion))), ("id", .string(event.id.rawValue)),
                ("recorded_at", .string(result.recordedAt.rfc3339)), ("duplicate", .bool(result.duplicate)),
            ])
            if DomainEvent.isCatalogueType(type) {
                // Taken as given (raw streams are the team's own), but it is not what it is named.
                let instead =
                    switch type {
                    case "PolicyAdopted": "adopt a policy with `docket policy adopt`"
                    case "MaintainerAdded", "MaintainerRemoved": "no command records it yet"
                    default: "record it on a report with `docket report …`"
                    }
                writeStandardError(
                    "warning: \(type) is an event type of the advisory lifecycle; appended raw to \(stream.rawValue), it was not checked against its schema and no view reads it (no report or project is made or changed): \(instead) (DESIGN §2)\n")
            }
        }
    }
}

struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print events as JSON lines.",
        discussion: "From a node (--server) it prints the log as it stood when the command started: events appended meanwhile are left for the next read (--from).")

    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions

    @Option(help: "The first sequence (or, with --stream, stream version) to print.")
    var from: UInt64 = 1

    @Option(help: "Print at most N events.")
    var limit: Int?

    @Option(help: "Only this stream's events.")
    var stream: String?

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    /// Nothing in a stream named like a report id: its events are most likely in `report/ID`.
    func hintAtDomainStream() {
        guard let stream, !stream.contains("/"), (try? DomainStreams.validateIdentifier(stream, what: "report id")) != nil else { return }
        writeStandardError("no events in stream \(stream); a report's events are in stream report/\(stream) (or see docket history \(stream))\n")
    }

    func run() async throws {
        try await reporting {
            let streamName = try stream.map { try StreamName($0) }
            if let client = try store.client(remote) {
                var out = Output()
                defer { out.flush() }
                var next = from
                var remaining = limit ?? .max
                try await client.using { client in
                    // The log as it stands now: on a node taking writes faster than they are
                    // read, paging on to whatever came meanwhile would never end.
                    let head = try await client.status()["lastSequence"]?.intValue.map { UInt64(max($0, 0)) } ?? .max
                    while remaining > 0 {
                        let read = try await client.read(from: next, limit: min(remaining, 1024), stream: streamName)
                        let page = read.prefix { $0.sequence <= head }
                        if read.isEmpty, next == from { hintAtDomainStream() }
                        for e in page { out.line(e.json) }
                        remaining -= page.count
                        // A short page is not the end (protocol.md §8.4: an answer holds what fits
                        // in one frame, so large events come a few at a time); an empty one is,
                        // as is one reaching past the head.
                        guard let last = page.last, page.count == read.count else { break }
                        next = (streamName == nil ? last.sequence : last.streamVersion) + 1
                    }
                }
                return
            }
            let store = try self.store.openStore(readOnly: true)
            defer { store.close() }
            var out = Output()
            // What was read before a failure (a damaged record, say) is still printed.
            defer { out.flush() }
            if let streamName {
                let events = try store.read(stream: streamName, fromVersion: from, limit: limit ?? .max)
                if events.isEmpty { hintAtDomainStream() }
                for event in events { out.line(event.json) }
            } else {
                var remaining = limit ?? .max
                let head = store.head.sequence
                var last: UInt64 = 0
                if remaining > 0 {
                    try store.scan(from: from, through: head) { event in
                        out.line(event.json)
                        last = event.sequence
                        remaining -= 1
                        return remaining > 0
                    }
                }
                if limit == nil { try requireWholeLog(store, through: last, from: from, head: head) }
            }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the log's hash chain, records and indexes (read-only).",
        discussion: "Exit 0 when intact; 3, naming the first bad sequence, when not (and, with --pubkey, when no checkpoint is signed with that key).")

    @OptionGroup var store: StoreOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: ArgumentHelp(
        "Also check every signed checkpoint against this Ed25519 public key (hex, or a file holding it); repeat it for a ledger whose nodes each signed some (after a failover).",
        valueName: "key|file"))
    var pubkey: [String] = []

    /// Whether the data directory holds a file for the ledger at all (an empty one included:
    /// damage, as a ledger's file is never empty).
    var hasLedgerFile: Bool { FileManager.default.fileExists(atPath: store.dataDir + "/ledger/data.mdb") }

    /// Set in the child process that does the checking (see `run`).
    static let childVariable = "DOCKET_VERIFY_CHILD"

    func run() async throws {
        // LMDB trusts its page headers: some damage to data.mdb makes it read out of bounds and
        // the process crash. The check runs in a child process, so that a crash is reported as
        // what it is (damage, exit 3) rather than as a crash of the verifier; the child prints no
        // crash report (it would show memory holding record contents).
        if ProcessInfo.processInfo.environment[Self.childVariable] == nil {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            child.arguments = Array(CommandLine.arguments.dropFirst())
            var environment = ProcessInfo.processInfo.environment
            environment[Self.childVariable] = "1"
            environment["SWIFT_BACKTRACE"] = "enable=no"
            child.environment = environment
            try child.run()
            child.waitUntilExit()
            guard child.terminationReason == .uncaughtSignal else { throw ExitCode(child.terminationStatus) }
            let reason = "reading the ledger crashed LMDB (signal \(child.terminationStatus)): data.mdb is damaged where LMDB trusts it (a page header or a pointer). Examine a copy with mdb_dump, or Tools/forensic-decode.py (Schemas/storage.md)"
            if json { printJSON([("intact", .bool(false)), ("chain_intact", .bool(false)), ("reason", .string(reason))]) } else { print("NOT INTACT: \(reason)") }
            throw ExitCode(3)
        }
        try await reporting {
            let keys = try uniqueKeys(pubkey.map { try loadPublicKey($0) })
            let (store, report): (EventStore, VerificationReport)
            do {
                store = try self.store.openStore(readOnly: true)
                do { report = try store.verify() } catch {
                    store.close()
                    throw error
                }
            } catch let error as StoreError where error.code == .corruptRecord || (error.code == .notADataDirectory && hasLedgerFile) {
                // A ledger file whose structure is damaged (a database, a marker, a key gone): not
                // intact, as a bad record is, rather than "not a data directory".
                let reason = error.code == .corruptRecord
                    ? error.message : "\(error.message) — the ledger's structure is damaged (or this is not a Docket ledger)"
                if json { printJSON([("intact", .bool(false)), ("chain_intact", .bool(false)), ("reason", .string(reason))]) } else { print("NOT INTACT: \(reason)") }
                throw ExitCode(3)
            }
            defer { store.close() }
            var checkpoints: Checkpoints.Report?
            // Checkpoints are checked whenever the log has any: against --pubkey, or else only
            // against the key each names (which shows they are intact, not who signed them).
            if report.isIntact, try !keys.isEmpty || store.version(of: Checkpoints.stream) > 0 {
                checkpoints = try Checkpoints.verify(store: store, publicKeys: keys)
            }
            // A key with nothing signed to check it against proves nothing: the chain is keyless,
            // so a copy rewritten from the start, checkpoints removed, would pass on it alone.
            let unsigned = !keys.isEmpty && checkpoints != nil && checkpoints?.failure == nil && checkpoints?.checked == 0
            let unsignedReason = "the log holds no checkpoint signed with the given key\(keys.count == 1 ? "" : "s"): nothing \(keys.count == 1 ? "it vouches" : "they vouch") for (the hash chain alone shows only that the records agree with one another)"
            // The views' cache: the views of this directory resume from it, so it must hold what
            // the log says through its sequence.
            var viewsAltered: UInt64?
            var viewsChecked: UInt64?
            if report.isIntact {
                switch try ViewCheckpoints(dataDir: self.store.dataDir).check(against: store) {
                case .unused: break
                case .matches(let n): viewsChecked = n
                case .differs(let n): viewsAltered = n
                }
            }
            let viewsReason = viewsAltered.map {
                "views.checkpoint, the views' cache of the log through sequence \($0), does not hold what the log says: the views of this directory (state, timers, hall of fame, metrics) would show what the log does not. It is a cache, not part of the record: delete it, and they are folded from the log again"
            }
            let intact = report.isIntact && checkpoints?.failure == nil && !unsigned && viewsAltered == nil
            if json {
                var members: [(String, Value)] = [
                    ("intact", .bool(intact)), ("chain_intact", .bool(report.isIntact)), ("records", .int(Int64(report.records))),
                    ("anchors_checked", .int(Int64(report.anchorsChecked))), ("head_hash", .string(report.headHash.description)),
                ]
                if let f = report.failure {
                    members += [("first_bad_sequence", .int(Int64(f.sequence))), ("reason", .string(f.reason))]
                }
                if let checkpoints {
                    members += [("checkpoints_checked", .int(Int64(checkpoints.checked))), ("checkpoint_key_given", .bool(checkpoints.keyGiven))]
                    if let f = checkpoints.failure {
                        members += [("bad_checkpoint_sequence", .int(Int64(f.sequence))), ("checkpoint_reason", .string(f.reason))]
                    } else if unsigned {
                        members += [("checkpoint_reason", .string(unsignedReason))]
                    }
                }
                if let viewsChecked { members.append(("views_checkpoint_sequence", .int(Int64(viewsChecked)))) }
                if let viewsAltered, let viewsReason {
                    members += [("bad_views_checkpoint_sequence", .int(Int64(viewsAltered))), ("views_checkpoint_reason", .string(viewsReason))]
                }
                printJSON(members)
            } else if let f = report.failure {
                print("NOT INTACT: first bad record is sequence \(f.sequence): \(f.reason)")
                print("(\(report.records) records before it verified)")
            } else {
                // "intact" only if nothing below fails: the chain alone is said to be.
                print("\(intact ? "intact" : "chain intact"): \(report.records) records, chain head \(report.headHash), \(report.anchorsChecked) anchors checked")
            }
            if let checkpoints, !json {
                if let f = checkpoints.failure {
                    print("CHECKPOINT FAILED: the checkpoint at sequence \(f.sequence): \(f.reason)")
                } else if unsigned {
                    print("NO SIGNED CHECKPOINT: \(unsignedReason)")
                } else {
                    let latest = checkpoints.latest.map { "; the latest, at sequence \($0.sequence), covers records 1–\($0.size)" } ?? ""
                    if checkpoints.keyGiven {
                        print("checkpoints: \(checkpoints.checked) signed checkpoint\(checkpoints.checked == 1 ? "" : "s") verified with the given key\(keys.count == 1 ? "" : "s") (roots recomputed, consistency proofs checked)\(latest)")
                    } else {
                        print("checkpoints: \(checkpoints.checked) checkpoint\(checkpoints.checked == 1 ? "" : "s") intact (roots recomputed, consistency proofs checked); signatures checked only against the key each names: give --pubkey to check they are the node's\(latest)")
                    }
                }
            }
            if let viewsReason, !json { print("VIEWS CHECKPOINT ALTERED: \(viewsReason)") }
            if !intact { throw ExitCode(3) }
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show counts, sizes and compression of the log.")

    @OptionGroup var store: StoreOptions

    @Flag(help: "Print as JSON.")
    var json = false

    func run() async throws {
        try await reporting {
            let store = try self.store.openStore(readOnly: true)
            defer { store.close() }
            let s = try store.statistics()
            let dicts: [Value] = s.dictionaries.map { d in
                .object([
                    (key: "version", value: .int(Int64(d.version))), (key: "bytes", value: .int(Int64(d.bytes))),
                    (key: "trained_at_seq", value: .int(Int64(d.trainedAtSequence))),
                    (key: "samples", value: .int(Int64(d.samples))), (key: "ratio", value: .double(d.ratio)),
                ])
            }
            if json {
                printJSON([
                    ("events", .int(Int64(s.events))), ("streams", .int(Int64(s.streams))),
                    ("file_bytes", .int(Int64(s.fileBytes))), ("used_bytes", .int(Int64(s.usedBytes))), ("map_bytes", .int(Int64(s.mapSize))),
                    ("record_bytes", .int(Int64(s.recordBytes))),
                    ("record_bytes_per_event", .double(round2(s.recordBytesPerEvent))),
                    ("used_bytes_per_event", .double(round2(s.usedBytesPerEvent))),
                    ("compression_ratio", .double(round2(s.compressionRatio))),
                    ("current_dictionary", s.currentDictionary.map { .int(Int64($0)) } ?? .null),
                    ("dictionaries", .array(dicts)), ("ledger_id", .string(store.ledgerID)),
                ])
            } else {
                print("ledger            \(store.ledgerID)")
                print("events            \(s.events)")
                print("streams           \(s.streams)")
                print("bytes on disk     \(s.fileBytes) (\(s.usedBytes) in use, map \(s.mapSize))")
                print("bytes per event   \(round2(s.recordBytesPerEvent)) stored per record, \(round2(s.usedBytesPerEvent)) of file in use")
                print("compression ratio \(round2(s.compressionRatio))")
                if s.dictionaries.isEmpty {
                    print("dictionaries      none yet (trained once enough events exist)")
                } else {
                    for d in s.dictionaries {
                        let mark = d.version == s.currentDictionary ? " (current)" : ""
                        print("dictionary v\(d.version)     \(d.bytes) bytes, trained at seq \(d.trainedAtSequence) on \(d.samples) events, ratio \(d.ratio)\(mark)")
                    }
                }
            }
        }
    }
}

func round2(_ d: Double) -> Double { (d * 100).rounded() / 100 }

struct Dict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compression dictionaries.", subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a dictionary to a file, for `zstd -d -D FILE` (see Schemas/storage.md).")

        @OptionGroup var store: StoreOptions

        @Option(help: "Where to write it.")
        var out: String

        @Option(help: "The dictionary version (a record's header names it); the current one by default.")
        var version: UInt16?

        func run() async throws {
            try await reporting {
                let store = try self.store.openStore(readOnly: true)
                defer { store.close() }
                guard let version = try version ?? store.statistics().currentDictionary else {
                    throw CLIError("this log has no dictionary yet: its records are plain zstd frames (`zstd -d` needs no -D)")
                }
                let bytes = try store.dictionary(version: version)
                // Owner-only: a dictionary is trained on event payloads, and holds pieces of them.
                do throws(StoreError) { try writeFileAtomically(bytes, to: out, mode: 0o600, durable: false) } catch { throw CLIError(error.message) }
                print("wrote dictionary v\(version) (\(bytes.count) bytes) to \(out)")
            }
        }
    }
}

struct Key: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The node's Ed25519 signing key.", subcommands: [Create.self, Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the node's public key (hex), for `docket receipt verify --pubkey` and `docket verify --pubkey`.",
            discussion: """
                Any token may ask a node for it (--server). A key read from the node whose receipts it checks proves only \
                that they match each other: check it once against the key the project publishes (its SECURITY.md, say), then \
                keep that one.
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var remote: RemoteOptions

        func run() async throws {
            try await reporting {
                if let client = try store.client(remote) {
                    let answer = try await client.using { try await $0.admin("node-key", []) }
                    print(answer["publicKey"]?.stringValue ?? "")
                } else {
                    let keyPath = store.dataDir + "/node.key"
                    guard FileManager.default.fileExists(atPath: keyPath) else {
                        throw CLIError("no-node-key: no node key at \(keyPath); make one with `docket key create`")
                    }
                    print(try NodeKey.load(from: keyPath).publicKeyHex)
                }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the node key (DATA_DIR/node.key, mode 0600) and print its public key, for `docket verify --pubkey`.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Where to keep the private key; DATA_DIR/node.key by default.") var out: String?
        @Option(help: "Also write the public key (hex) to this file.") var pubkeyOut: String?

        func run() async throws {
            try await reporting {
                let keyPath = out ?? store.dataDir + "/node.key"
                // Only where it would start a ledger, in a directory nobody named.
                if out == nil, !EventStore.holdsLedger(store.dataDir) { try store.refuseImplicitDirectoryBesideServer("docket key create") }
                // Where the public key goes is checked first: a key made and then not handed out
                // would have to be deleted by hand before trying again (and the same file for both
                // would put the public key in place of the private one).
                if let pubkeyOut {
                    guard URL(fileURLWithPath: pubkeyOut).standardizedFileURL.resolvingSymlinksInPath()
                        != URL(fileURLWithPath: keyPath).standardizedFileURL.resolvingSymlinksInPath()
                    else {
                        throw CLIError("--pubkey-out names the private key's own file (\(keyPath)); give another file", exitCode: ExitCode.validationFailure.rawValue)
                    }
                    guard canWrite(pubkeyOut) else {
                        throw CLIError("cannot write \(pubkeyOut) (is its directory there and writable?); no key was made")
                    }
                }
                if out == nil, !EventStore.holdsLedger(store.dataDir) {
                    // The ledger first: a data directory holds a ledger before anything else. (Not
                    // when it has one: a node serving it holds it open for writing.)
                    try store.openStore(startsLedger: true).close()
                }
                let key = try NodeKey.create(at: keyPath)
                if let pubkeyOut { try writeAtomically(key.publicKeyHex + "\n", to: pubkeyOut) }
                print(key.publicKeyHex)
            }
        }
    }
}

struct Checkpoint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign a Merkle checkpoint over every record now in the log and record it (stream system/checkpoints).",
        discussion: "It must extend the latest checkpoint (a consistency proof between their roots is checked and recorded); a running node also signs them periodically with `docket serve --checkpoint-every N`.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var remote: RemoteOptions
    @Option(help: "The node key, locally; DATA_DIR/node.key by default.") var key: String?

    func run() async throws {
        try await reporting {
            let c: Checkpoints.Checkpoint
            if let client = try store.client(remote) {
                c = try Checkpoints.Checkpoint(wire: try await client.using { try await $0.admin("checkpoint", []) })
            } else if let key {
                let nodeKey = try NodeKey.load(from: key)
                let store = try self.store.openStore()
                defer { store.close() }
                c = try await Checkpoints.write(store: store, key: nodeKey, actor: "node", index: try MerkleIndex.open(dataDirectory: self.store.dataDir, store: store))
            } else {
                let store = try self.store.openStore()
                defer { store.close() }
                c = try await Ledger(store: store, dataDir: self.store.dataDir).notary.checkpoint(actor: "node")
            }
            var members: [(String, Value)] = [
                ("size", .int(Int64(c.size))), ("root", .string(Hex.encode(c.root))), ("seq", .int(Int64(c.sequence))),
                ("publicKey", .string(Hex.encode(c.publicKey))), ("signedAt", .string(c.signedAt.rfc3339)),
            ]
            if let previous = c.previous { members.append(("previous", .int(Int64(previous)))) }
            printJSON(members)
        }
    }
}
