import CLMDB
import DocketCore
import Foundation

// The databases of the ledger environment and their key encodings (Schemas/storage.md).

struct Databases: Sendable {
    /// u64be sequence → record.
    let log: MDB_dbi
    /// u8 length ‖ stream name ‖ u64be stream version → u64be sequence.
    let streams: MDB_dbi
    /// event id key (see `Key.id`) → u64be sequence.
    let ids: MDB_dbi
    /// ASCII key → value (format, ledger id, head, counters, dictionary info).
    let meta: MDB_dbi
    /// u16be dictionary version → raw zstd dictionary (usable as `zstd -D`).
    let dicts: MDB_dbi
    /// u64be sequence → 32-byte chain hash, every `anchorInterval` records.
    let chain: MDB_dbi

    static let names = ["log", "streams", "ids", "meta", "dicts", "chain"]
    /// Full chain hashes are kept every this many records, so a verifier can resume anywhere and
    /// a replica can compare without replaying from genesis.
    static let anchorInterval: UInt64 = 1024

    static func open(_ env: LMDBEnvironment, readOnly: Bool, path: String) throws(StoreError) -> Databases {
        // Handles opened in a transaction become usable by others only once it commits.
        let existing = FileManager.default.fileExists(atPath: path + "/ledger/data.mdb") && !Self.isFresh(env)
        var txn: OpaquePointer?
        var rc = mdb_txn_begin(env.env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
        guard rc == 0, let txn else { throw LMDBError(code: rc).storeError }
        var handles: [MDB_dbi] = []
        for name in names {
            var dbi: MDB_dbi = 0
            // Never create Docket's databases inside someone else's LMDB environment.
            let flags: UInt32 = (readOnly || existing) ? 0 : UInt32(MDB_CREATE)
            rc = mdb_dbi_open(txn, name, flags, &dbi)
            if rc == MDB_NOTFOUND {
                mdb_txn_abort(txn)
                throw StoreError(
                    .notADataDirectory,
                    "\(path) is not a Docket data directory: its LMDB environment has no '\(name)' database")
            }
            guard rc == 0 else {
                mdb_txn_abort(txn)
                throw LMDBError(code: rc).storeError
            }
            handles.append(dbi)
        }
        rc = mdb_txn_commit(txn)
        guard rc == 0 else { throw LMDBError(code: rc).storeError }
        return Databases(log: handles[0], streams: handles[1], ids: handles[2], meta: handles[3], dicts: handles[4], chain: handles[5])
    }

    /// An environment with no named database yet (a data file LMDB just created).
    private static func isFresh(_ env: LMDBEnvironment) -> Bool {
        var txn: OpaquePointer?
        guard mdb_txn_begin(env.env, nil, UInt32(MDB_RDONLY), &txn) == 0, let txn else { return false }
        defer { mdb_txn_abort(txn) }
        var stat = MDB_stat()
        guard mdb_stat(txn, MDB_dbi(1), &stat) == 0 else { return false }  // dbi 1 is the main DB
        return stat.ms_entries == 0
    }
}

enum Key {
    static func sequence(_ s: UInt64) -> [UInt8] { bigEndianBytes(s) }

    static func stream(_ stream: StreamName, version: UInt64) -> [UInt8] {
        var k = streamPrefix(stream)
        k.append(contentsOf: bigEndianBytes(version))
        return k
    }

    static func streamPrefix(_ stream: StreamName) -> [UInt8] {
        let name = Array(stream.rawValue.utf8)
        var k: [UInt8] = [UInt8(name.count)]
        k.reserveCapacity(name.count + 9)
        k.append(contentsOf: name)
        return k
    }

    /// 0x01/0x02 ‖ 16 UUID bytes for UUID ids (lower/upper case), 0x00 ‖ UTF-8 text otherwise:
    /// short keys, and no text to build for the common case.
    static func id(_ id: EventID) -> [UInt8] { id.indexKey }
}

enum LogIndex {
    static func record(at sequence: UInt64, in txn: borrowing Transaction, _ dbs: Databases) throws(StoreError) -> UnsafeRawBufferPointer? {
        do { return try txn.get(dbs.log, Key.sequence(sequence)) } catch { throw error.storeError }
    }

    /// Visits up to `limit` records from `sequence` on in key order.
    ///
    /// The log's keys are 1, 2, 3, … with none missing, and a reader relies on it (an export is
    /// the whole log, a replica copies it record by record). So unless `contiguous` is false (for
    /// `verify`, which reports such damage its own way), a key other than the next one — a record
    /// gone from a damaged or edited copy, or a page whose keys are out of order — stops the visit
    /// with `corruptRecord` naming the missing sequence, rather than handing over a log with a hole.
    static func forEachRecord(
        in txn: borrowing Transaction, _ dbs: Databases, from sequence: UInt64, limit: Int, contiguous: Bool = true,
        _ body: (UInt64, UnsafeRawBufferPointer) throws(StoreError) -> Bool
    ) throws(StoreError) {
        guard limit > 0 else { return }
        let r: Result<Void, StoreError>
        do throws(LMDBError) {
            r = try txn.withCursor(dbs.log) { (cursor) throws(StoreError) in
                var entry: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)?
                do throws(LMDBError) { entry = try cursor.get(.setRange, key: Key.sequence(sequence)) } catch { throw error.storeError }
                var n = 0
                var expected = max(sequence, 1)
                while let (k, v) = entry {
                    guard k.count == 8 else {
                        throw StoreError(
                            .corruptRecord,
                            "the log holds a key of \(k.count) bytes where record \(expected) should be (its keys are 8-byte sequence numbers): this copy of the ledger is damaged or was edited; run docket verify, and restore it from a replica or a copy",
                            sequence: expected)
                    }
                    let seq = k.loadBigEndianUInt64()
                    if contiguous && seq != expected {
                        throw StoreError(
                            .corruptRecord,
                            "the log holds no record \(expected) (the next one is \(seq)): this copy of the ledger is damaged or was edited; run docket verify, and restore it from a replica or a copy",
                            sequence: expected)
                    }
                    expected = seq &+ 1
                    guard try body(seq, v) else { return }
                    n += 1
                    if n == limit { return }
                    do throws(LMDBError) { entry = try cursor.get(.next) } catch { throw error.storeError }
                }
            }
        } catch { throw error.storeError }
        try r.get()
    }
}

enum StreamIndex {
    /// The current version of `stream`: the version in its last index key, or 0.
    static func head(of stream: StreamName, in txn: borrowing Transaction, _ dbs: Databases) throws(StoreError) -> UInt64 {
        let prefix = Key.streamPrefix(stream)
        let probe = Key.stream(stream, version: .max)
        do {
            return try txn.withCursor(dbs.streams) { (cursor) throws(LMDBError) -> UInt64 in
                // The first key at or after (stream, max) is either that very key or another
                // stream's; the entry before it is this stream's last one, if any.
                let at = try cursor.get(.setRange, key: probe)
                if let at, at.key.elementsEqual(probe) { return .max }
                let prev = at == nil ? try cursor.get(.last) : try cursor.get(.prev)
                guard let prev, prev.key.count == prefix.count + 8, prev.key.starts(with: prefix) else { return 0 }
                return prev.key.loadBigEndianUInt64(at: prefix.count)
            }.get()
        } catch { throw error.storeError }
    }

    static func sequences(
        of stream: StreamName, fromVersion version: UInt64, limit: Int, in txn: borrowing Transaction, _ dbs: Databases
    ) throws(StoreError) -> [UInt64] {
        let prefix = Key.streamPrefix(stream)
        var out: [UInt64] = []
        do {
            try txn.withCursor(dbs.streams) { (cursor) throws(LMDBError) in
                var entry = try cursor.get(.setRange, key: Key.stream(stream, version: version))
                while let e = entry, out.count < limit, e.key.count == prefix.count + 8, e.key.starts(with: prefix) {
                    out.append(try e.value.indexedSequence())
                    entry = try cursor.get(.next)
                }
            }.get()
        } catch { throw error.storeError }
        return out
    }
}

enum Meta {
    static let format = "format"
    static let ledgerID = "ledger-id"
    static let createdAt = "created-at"
    /// u64be sequence ‖ 32-byte chain hash of the last record.
    static let head = "head"
    static let streamCount = "count.streams"
    /// Total bytes of envelopes before compression, and of stored records.
    static let rawBytes = "count.raw-bytes"
    static let recordBytes = "count.record-bytes"
    static let currentDictionary = "dict.current"
    /// u64be: `streams` holds the entries of every record up to this sequence (`StreamMemtable`).
    static let streamsIndexedThrough = "streams.indexed-through"

    /// How far `streams` is complete; a format 1 directory (no key) is complete through its head.
    static func indexedThrough(in txn: borrowing Transaction, _ dbs: Databases, head: UInt64) throws(StoreError) -> UInt64 {
        guard let v = try get(streamsIndexedThrough, in: txn, dbs), v.count == 8 else { return head }
        return v.withUnsafeBytes { $0.loadBigEndianUInt64() }
    }
    static func dictionaryInfo(_ v: UInt16) -> String { "dict.\(v).info" }

    static func get(_ key: String, in txn: borrowing Transaction, _ dbs: Databases) throws(StoreError) -> [UInt8]? {
        do { return try txn.get(dbs.meta, Array(key.utf8)).map { Array($0) } } catch { throw error.storeError }
    }

    static func getUInt64(_ key: String, in txn: borrowing Transaction, _ dbs: Databases) throws(StoreError) -> UInt64 {
        guard let v = try get(key, in: txn, dbs), v.count == 8 else { return 0 }
        return v.withUnsafeBytes { $0.loadBigEndianUInt64() }
    }

    static func put(_ key: String, _ value: [UInt8], in txn: borrowing Transaction, _ dbs: Databases) throws(LMDBError) {
        try txn.put(dbs.meta, Array(key.utf8), value)
    }
}

extension EventStore {
    /// Whether `directory` already holds a ledger (`ledger/data.mdb`).
    public static func holdsLedger(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/ledger/data.mdb")
    }

    /// Who owns the file at `path` and its mode ("root", "0600"), for a refusal to say; nil if
    /// it cannot be looked at.
    public static func ownership(of path: String) -> (owner: String, mode: String)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (userName(st.st_uid), "0" + String(st.st_mode & 0o7777, radix: 8))
    }

    /// The name of user `uid`, or "uid N".
    static func userName(_ uid: uid_t) -> String {
        getpwuid(uid).flatMap { $0.pointee.pw_name }.map { String(cString: $0) } ?? "uid \(uid)"
    }

    /// "cannot write PATH: it is owned by root (mode 0600) and docket runs as nobody; …".
    static func permissionRefusal(_ path: String, directory: String, action: String = "write") -> String {
        guard let (owner, mode) = ownership(of: path) else { return "cannot \(action) \(path): \(String(cString: strerror(errno)))" }
        let me = userName(geteuid())
        return "cannot \(action) \(path): it is owned by \(owner) (mode \(mode)) and docket runs as \(me); "
            + "run docket as the user that owns the data directory, or give it to \(me) (chown -R \(me) \(directory))"
    }

    /// Checks what is at `directory` and returns the path of the ledger environment.
    static func prepareDirectory(_ directory: String, readOnly: Bool) throws(StoreError) -> String {
        let fm = FileManager.default
        let ledger = directory + "/ledger"
        // A directory this user may not reach is not a missing one (which a write would create).
        for path in [directory, ledger, ledger + "/data.mdb"] {
            var st = stat()
            if stat(path, &st) != 0 && errno == EACCES {
                // The directory it is in is the one this user may not enter.
                let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                throw StoreError(.io, Self.permissionRefusal(parent.isEmpty ? "." : parent, directory: directory, action: "enter"))
            }
        }
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw StoreError(.notADataDirectory, "\(directory) is a file, not a Docket data directory")
            }
            if !fm.fileExists(atPath: ledger) {
                let contents = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
                let foreign = contents.filter { !$0.hasPrefix(".") }
                if !foreign.isEmpty {
                    throw StoreError(
                        .notADataDirectory,
                        "\(directory) is not a Docket data directory: it holds \(foreign.sorted().prefix(3).joined(separator: ", ")) and no ledger/; pass an empty or new directory"
                    )
                }
            }
        } else if readOnly {
            throw StoreError(.notFound, "no data directory at \(directory)")
        }
        if !readOnly {
            // Owner-only: the log holds every report, every reporter's contact and the token hashes.
            // (A data directory this creates is owner-only too; one made beforehand is left as it is.)
            do {
                if !fm.fileExists(atPath: directory) {
                    try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                }
                try fm.createDirectory(atPath: ledger, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError(.io, "cannot create \(ledger): \(error.localizedDescription)")
            }
            // A ledger made before its files were owner-only loses its group's and others' access
            // (never gaining any: a copy made read-only stays so). Where this user may change them.
            for path in [ledger] + ["data.mdb", "lock.mdb", "writer.lock"].map({ ledger + "/" + $0 }) {
                var st = stat()
                if stat(path, &st) == 0, st.st_mode & 0o077 != 0 { chmod(path, st.st_mode & 0o700) }
            }
            // Which file this user may not write, by name, owner and mode: LMDB would say only
            // "permission denied" of the directory (a ledger made by root, served as another user).
            // writer.lock is left out: a lock file another user made is locked through a read-only
            // descriptor (WriterLock).
            for (path, needs) in [(ledger, R_OK | W_OK | X_OK), (ledger + "/data.mdb", R_OK | W_OK), (ledger + "/lock.mdb", R_OK | W_OK)]
            where access(path, F_OK) == 0 && access(path, needs) != 0 {
                throw StoreError(.io, Self.permissionRefusal(path, directory: directory))
            }
        } else if !fm.fileExists(atPath: ledger + "/data.mdb") {
            throw StoreError(.notADataDirectory, "\(directory) is not a Docket data directory: no ledger/data.mdb")
        } else if access(ledger + "/data.mdb", R_OK) != 0, errno == EACCES {
            throw StoreError(.io, Self.permissionRefusal(ledger + "/data.mdb", directory: directory, action: "read"))
        } else if ((try? fm.attributesOfItem(atPath: ledger + "/data.mdb")[.size] as? NSNumber)?.intValue ?? 0) == 0 {
            // LMDB would answer "Bad file descriptor". A ledger's file is never empty once a node
            // has written to it: a copy cut short, or a node stopped before its first write.
            throw StoreError(.notADataDirectory, "\(directory) holds an empty ledger/data.mdb: no ledger to read (a copy cut short?)")
        }
        return ledger
    }

    static func loadOrInitialiseMetadata(
        _ env: LMDBEnvironment, _ dbs: Databases, readOnly: Bool, path: String, newLedgerID: String? = nil
    ) throws(StoreError) -> String {
        let existing = try env.read { (txn) throws(StoreError) -> (format: [UInt8]?, id: [UInt8]?, records: Int) in
            let records: Int
            do throws(LMDBError) { records = try txn.entryCount(dbs.log) } catch { throw error.storeError }
            return (try Meta.get(Meta.format, in: txn, dbs), try Meta.get(Meta.ledgerID, in: txn, dbs), records)
        }.get()
        if let format = existing.format {
            let text = String(decoding: format, as: UTF8.self)
            guard text == "docket-store \(storageFormat)" || text == "docket-store 1" else {
                throw StoreError(
                    .unsupportedFormat,
                    "\(path) holds format '\(text)'; this build reads 'docket-store 1' and 'docket-store \(storageFormat)' — use the Docket release that wrote it")
            }
            guard let id = existing.id else {
                throw StoreError(.notADataDirectory, "\(path) has no ledger id in its metadata")
            }
            if text == "docket-store 1" && !readOnly {
                // Upgrade in place: format 1's `streams` is complete through the head, which is
                // what `streams.indexed-through` then says; its records are read as they are.
                let head = try loadHead(env, dbs)
                do throws(LMDBError) {
                    try env.write { (txn) throws(LMDBError) in
                        try Meta.put(Meta.streamsIndexedThrough, bigEndianBytes(head.sequence), in: txn, dbs)
                        try Meta.put(Meta.format, Array("docket-store \(storageFormat)".utf8), in: txn, dbs)
                    }
                } catch { throw error.storeError }
            }
            return String(decoding: id, as: UTF8.self)
        }
        guard existing.records == 0 else {
            throw StoreError(.notADataDirectory, "\(path) holds log records but no Docket format marker")
        }
        guard !readOnly else {
            throw StoreError(.notADataDirectory, "\(path) is an empty, uninitialised data directory")
        }
        var g = SystemRandomNumberGenerator()
        if let newLedgerID, !Self.isLedgerID(newLedgerID) {
            throw StoreError(.wrongLedger, "\(newLedgerID) is not a ledger id (32 lowercase hex digits)")
        }
        let id = newLedgerID ?? Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &g) })
        do throws(LMDBError) {
            try env.write { (txn) throws(LMDBError) in
                try Meta.put(Meta.format, Array("docket-store \(storageFormat)".utf8), in: txn, dbs)
                try Meta.put(Meta.ledgerID, Array(id.utf8), in: txn, dbs)
                try Meta.put(Meta.streamsIndexedThrough, bigEndianBytes(UInt64(0)), in: txn, dbs)
                try Meta.put(Meta.createdAt, Array(Timestamp.now().rfc3339.utf8), in: txn, dbs)
            }
        } catch { throw error.storeError }
        return id
    }

    /// Refuses to write after a head that is not the log's: the head in metadata must name the
    /// log's last record and carry its chain tag (or, with no head, the log must be empty), and
    /// the log must hold exactly that many records (LMDB keeps the count: no scan), so none is
    /// missing before it. Appending after a head edited back (to hide the records after it) or
    /// forward, or onto a log with a hole, would extend a chain that no longer holds. A
    /// read-only open does not check: `verify` reports it.
    ///
    /// `head` nil: the head in metadata now, read in the same transaction as the log (a reader of
    /// a live ledger sees both as one commit left them); `consequence` ends the error.
    static func checkHead(
        _ given: Head?, _ env: LMDBEnvironment, _ dbs: Databases, path: String,
        consequence: String = "nothing is written to it"
    ) throws(StoreError) {
        var head = given ?? Head(sequence: 0, hash: .genesis)
        var records = 0
        let last = try env.read { (txn) throws(StoreError) -> (sequence: UInt64, tag: UInt64)? in
            if given == nil { head = try Self.head(in: txn, dbs) }
            do throws(LMDBError) { records = try txn.entryCount(dbs.log) } catch { throw error.storeError }
            let r: Result<(sequence: UInt64, tag: UInt64)?, StoreError>
            do throws(LMDBError) {
                r = try txn.withCursor(dbs.log) { (cursor) throws(StoreError) -> (sequence: UInt64, tag: UInt64)? in
                    let entry: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)?
                    do throws(LMDBError) { entry = try cursor.get(.last) } catch { throw error.storeError }
                    guard let entry else { return nil }
                    guard entry.key.count == 8 else {
                        throw StoreError(
                            .corruptRecord,
                            "the log's last key is \(entry.key.count) bytes long (its keys are 8-byte sequence numbers): this copy of the ledger is damaged or was edited; run docket verify, and restore it from a replica or a copy")
                    }
                    let seq = entry.key.loadBigEndianUInt64()
                    return (seq, try RecordFormat.header(of: entry.value, sequence: seq).tag)
                }
            } catch { throw error.storeError }
            return try r.get()
        }.get()
        let lastSequence = last?.sequence ?? 0
        let matches = lastSequence == head.sequence && (last == nil || last!.tag == head.hash.tag)
        if matches && UInt64(records) != head.sequence {
            throw StoreError(
                .corruptRecord,
                "\(path): the log holds \(records) records but its last is sequence \(head.sequence): \(UInt64(records) < head.sequence ? "records are missing before it" : "it holds records it should not"); "
                    + "the ledger was damaged or edited, and \(consequence); run docket verify (it names the first), and restore it from a replica or a copy")
        }
        guard !matches else { return }
        throw StoreError(
            .corruptRecord,
            "\(path): the head in metadata (sequence \(head.sequence)) is not the log's last record (sequence \(lastSequence)\(lastSequence == head.sequence ? ", whose chain tag differs" : "")): "
                + "the ledger was damaged or edited, and \(consequence); run docket verify, and restore it from a replica or a copy",
            sequence: min(head.sequence, lastSequence) + 1)
    }

    static func loadHead(_ env: LMDBEnvironment, _ dbs: Databases) throws(StoreError) -> Head {
        try env.read { (txn) throws(StoreError) -> Head in try head(in: txn, dbs) }.get()
    }

    static func head(in txn: borrowing Transaction, _ dbs: Databases) throws(StoreError) -> Head {
        guard let v = try Meta.get(Meta.head, in: txn, dbs) else { return Head(sequence: 0, hash: .genesis) }
        guard v.count == 40 else { throw StoreError(.corruptRecord, "the head record in metadata is \(v.count) bytes, not 40") }
        return Head(
            sequence: v.withUnsafeBytes { $0.loadBigEndianUInt64() },
            hash: ChainHash(bytes: Array(v[8..<40])))
    }
}
