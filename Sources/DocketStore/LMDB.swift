import CLMDB
#if canImport(Glibc)
import Glibc
#endif
import DocketCore
import Foundation
import Synchronization

// The only file that calls LMDB. Handles are lent to closures (the GRDB pattern) and never
// escape this target.

/// An LMDB return code that is not success.
struct LMDBError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { String(cString: mdb_strerror(code)) }
    var isMapFull: Bool { code == MDB_MAP_FULL }
    var isNotFound: Bool { code == MDB_NOTFOUND }
    /// Errors that mean the file system would not take more bytes.
    var isNoSpace: Bool { code == ENOSPC || code == EFBIG || code == EDQUOT }
    /// Errors LMDB returns when what it read from the data file makes no sense: a page number
    /// past the end, a page of the wrong kind, a node that does not fit, a database record whose
    /// flags changed. On a file LMDB wrote they do not happen; they mean the file is damaged.
    var isDamage: Bool {
        [MDB_PAGE_NOTFOUND, MDB_CORRUPTED, MDB_INCOMPATIBLE, MDB_BAD_VALSIZE].contains(code)
    }

    var storeError: StoreError {
        if isNoSpace { return Self.noSpace(code == EFBIG ? .fileSizeLimit : code == EDQUOT ? .quota : .disk, detail: description) }
        if isDamage {
            return StoreError(
                .corruptRecord,
                "the log's data file is damaged: it holds what LMDB or an index cannot read (\(description)); run docket verify, and restore it from a replica or a copy")
        }
        return StoreError(.lmdb, "LMDB: \(description)")
    }

    /// The error for a failed write transaction on the data file at `path`. LMDB reports a
    /// short write as EIO, which is what a disk that fills up mid-write produces; when the file
    /// system (or the process's file-size limit) has no room left, say so.
    func writeError(dataFile path: String) -> StoreError {
        if code == EIO, let limit = Self.outOfSpace(dataFile: path) {
            return Self.noSpace(limit, detail: "a write to the log's data file came up short")
        }
        if isNoSpace { return storeError }
        // Damage met while writing (an index value of the wrong length, a page of the wrong kind)
        // is the file's, not the write's: corrupt-record, as on a read.
        if isDamage {
            var damage = storeError
            damage.message += "; nothing of the failed append was written"
            return damage
        }
        // Not the path: this message reaches remote clients, reporters included.
        return StoreError(.io, "writing the log's data file failed: \(description); nothing of the failed append was written")
    }

    /// What would not take more bytes.
    enum SpaceLimit {
        /// The file system is full.
        case disk
        /// The process's file-size limit (`ulimit -f`, RLIMIT_FSIZE) or the file system's largest file.
        case fileSizeLimit
        /// The user's disk quota.
        case quota
    }

    /// The refusal of a write that found no room, saying which limit it met: freeing disk space
    /// does nothing for a file-size limit.
    static func noSpace(_ limit: SpaceLimit, detail: String) -> StoreError {
        let (what, remedy) =
            switch limit {
            case .disk: ("the disk is full", "free space and retry")
            case .fileSizeLimit:
                ("the log's data file reached the largest file this process may write", "raise the file-size limit (ulimit -f) the node runs under, and retry")
            case .quota: ("the disk quota of the user the node runs as is used up", "raise the quota or free space in it, and retry")
            }
        return StoreError(.diskFull, "\(what) (\(detail)); nothing of the failed append was written — \(remedy)")
    }

    /// Which limit a short write of the data file at `path` met, if any: less than 1 MiB free on
    /// its file system, or the file within 1 MiB of the process's file-size limit.
    private static func outOfSpace(dataFile path: String) -> SpaceLimit? {
        var limit = rlimit()
        var st = stat()
        if getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max && stat(path, &st) == 0,
            UInt64(st.st_size) + (1 << 20) > UInt64(limit.rlim_cur)
        {
            return .fileSizeLimit
        }
        var fs = statvfs()
        if statvfs(path, &fs) == 0 && UInt64(fs.f_bavail) * UInt64(fs.f_frsize) < 1 << 20 { return .disk }
        return nil
    }
}

@inline(__always)
func check(_ rc: Int32) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc) }
}

/// An opened LMDB environment. `MDB_env` is safe to share between threads; transactions are not.
final class LMDBEnvironment: @unchecked Sendable {
    let env: OpaquePointer
    let readOnly: Bool
    /// Opened without a lock file (MDB_NOLOCK): a copy no process had opened, or one on read-only
    /// media. Nothing may be added to such a directory.
    let withoutLocks: Bool
    /// The environment's directory.
    let path: String
    /// The map's size in bytes: set under the resize lock, read without it (statistics, the
    /// writer's next size).
    var mapSize: Int { currentMapSize.load(ordering: .relaxed) }
    private let currentMapSize = Atomic<Int>(0)
    /// Readers hold it shared; the writer holds it exclusively while it resizes the map, which
    /// LMDB requires to happen with no transaction open in the process.
    /// Heap-allocated: a lock must not move, and `&` on a stored property may pass a copy.
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t> = .allocate(capacity: 1)

    init(path: String, mapSize: Int, maxDatabases: Int32, readOnly: Bool) throws(LMDBError) {
        // NOTLS: read transactions are used from async tasks that hop threads.
        // NORDAHEAD: the log is read in order and is mostly hot; readahead only pollutes the cache.
        var flags = UInt32(MDB_NOTLS | MDB_NORDAHEAD)
        if readOnly { flags |= UInt32(MDB_RDONLY) }
        // Reading a directory no process has opened (a copy taken for examination: no lock file)
        // leaves it as it was rather than adding a lock file to the evidence. Any node that has
        // opened it keeps its lock file for good, so a live ledger is still read under locks.
        if readOnly && access(path + "/lock.mdb", F_OK) != 0 { flags |= UInt32(MDB_NOLOCK) }
        if flags & UInt32(MDB_NOLOCK) == 0 { try Self.allocateLockFile(in: path) }
        var mapSize = mapSize
        var (env, rc) = try Self.open(path: path, mapSize: mapSize, maxDatabases: maxDatabases, flags: flags)
        // A handle whose open failed cannot be opened again (LMDB answers EINVAL): each retry
        // starts afresh. (LMDB opens the lock file before it maps the data file: read-only media
        // answer first, then a map too large.)
        while true {
            if readOnly && (rc == EACCES || rc == EROFS) && flags & UInt32(MDB_NOLOCK) == 0 {
                // A read-only copy (a forensic snapshot on read-only media): no lock file possible.
                flags |= UInt32(MDB_NOLOCK)
            } else if rc == ENOMEM && mapSize > Self.smallMapSize {
                // The process may not map that much address space (a `ulimit -v`): start small,
                // and let the writer grow the map as the log needs.
                mapSize = Self.smallMapSize
            } else {
                break
            }
            mdb_env_close(env)
            (env, rc) = try Self.open(path: path, mapSize: mapSize, maxDatabases: maxDatabases, flags: flags)
        }
        self.env = env
        self.readOnly = readOnly
        withoutLocks = flags & UInt32(MDB_NOLOCK) != 0
        self.path = path
        currentMapSize.store(mapSize, ordering: .relaxed)
        pthread_rwlock_init(resizeLock, nil)
        try check(rc)
        clearDeadReaders()
        var info = MDB_envinfo()
        try check(mdb_env_info(env, &info))
        currentMapSize.store(info.me_mapsize, ordering: .relaxed)
        // On a throw above, deinit closes the environment and frees the lock: every stored
        // property is initialised by then, so Swift runs it.
    }

    /// The map an environment opens with where the one asked for cannot be mapped.
    static let smallMapSize = 256 << 20

    /// Makes the lock file, if there is none, with its pages allocated. LMDB maps the lock file
    /// and writes its header through the map: a new lock file is sparse, and on a full disk the
    /// first touch of an unallocated page is a SIGBUS that kills the process (a node making its
    /// Merkle index, a first command on a new directory). Allocated here, a full disk is ENOSPC.
    /// 64 KiB is more than LMDB asks for 512 readers; it fits its reader table to a larger file.
    /// It is made aside and linked into place, so that no process ever finds it half made (an
    /// empty one LMDB would extend sparse itself); if another process puts one there first, its
    /// stays. Only a full disk is an error here: anything else is left to LMDB's open to report.
    private static func allocateLockFile(in path: String) throws(LMDBError) {
        let lock = path + "/lock.mdb"
        guard access(lock, F_OK) != 0 else { return }
        let aside = path + "/lock.mdb.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let fd = Glibc.open(aside, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { unlink(aside) }
        let rc = posix_fallocate(fd, 0, 64 << 10)
        close(fd)
        if rc != 0 {
            if LMDBError(code: rc).isNoSpace { throw LMDBError(code: rc) }
            return
        }
        _ = link(aside, lock)  // EEXIST: another process's is there, and is used
    }

    /// The flags the environment is open with (`mdb_env_get_flags`) that let a commit return
    /// before it is on disk: none, for the ledger. (What a test of durability checks, as a kill
    /// leaves the page cache, and an unsynced commit with it, intact.)
    var unsyncedCommitFlags: [String] {
        var flags: UInt32 = 0
        mdb_env_get_flags(env, &flags)
        return [(MDB_NOSYNC, "MDB_NOSYNC"), (MDB_NOMETASYNC, "MDB_NOMETASYNC"), (MDB_MAPASYNC, "MDB_MAPASYNC")]
            .filter { flags & UInt32($0.0) != 0 }.map(\.1)
    }

    /// A new environment handle, configured, and the result of opening it at `path`.
    private static func open(path: String, mapSize: Int, maxDatabases: Int32, flags: UInt32) throws(LMDBError) -> (OpaquePointer, Int32) {
        var created: OpaquePointer?
        try check(mdb_env_create(&created))
        guard let env = created else { throw LMDBError(code: ENOMEM) }
        for rc in [mdb_env_set_maxdbs(env, UInt32(maxDatabases)), mdb_env_set_mapsize(env, mapSize), mdb_env_set_maxreaders(env, 512)] where rc != 0 {
            mdb_env_close(env)
            throw LMDBError(code: rc)
        }
        // Owner-only (in an owner-only directory): what it holds is private.
        return (env, mdb_env_open(env, path, flags, 0o600))
    }

    deinit {
        mdb_env_close(env)
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
    }

    /// Opens (creating when writable) the named database inside a write transaction.
    func openDatabase(_ name: String, in txn: borrowing Transaction, create: Bool) throws(LMDBError) -> MDB_dbi {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txn.txn, name, create ? UInt32(MDB_CREATE) : 0, &dbi))
        return dbi
    }

    /// Runs `body` in a read-only transaction that is aborted afterwards.
    func read<T, E: Error>(_ body: (borrowing Transaction) throws(E) -> T) throws(StoreError) -> Result<T, E> {
        var txn: OpaquePointer?
        pthread_rwlock_rdlock(resizeLock)
        var rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
        if rc == MDB_MAP_RESIZED {
            // Another process grew the map: adopt its size (with no transaction open here), retry.
            pthread_rwlock_unlock(resizeLock)
            adoptGrownMap()
            pthread_rwlock_rdlock(resizeLock)
            rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
        }
        defer { pthread_rwlock_unlock(resizeLock) }
        do { try check(rc) } catch { throw error.storeError }
        let t = Transaction(txn: txn!)
        defer { mdb_txn_abort(txn) }
        return Result { () throws(E) in try body(t) }
    }

    /// Begins a write transaction. Only the writer thread calls this.
    func beginWrite() throws(LMDBError) -> Transaction {
        var txn: OpaquePointer?
        var rc = mdb_txn_begin(env, nil, 0, &txn)
        if rc == MDB_MAP_RESIZED {
            adoptGrownMap()
            rc = mdb_txn_begin(env, nil, 0, &txn)
        }
        try check(rc)
        return Transaction(txn: txn!)
    }

    /// Runs `body` in a write transaction and commits it, or aborts it if `body` throws. A commit
    /// that fails has ended the transaction already (`mdb_txn_commit` frees it either way):
    /// aborting it as well would free it twice. Only the writer thread (or an opening) calls this.
    func write<T>(_ body: (borrowing Transaction) throws(LMDBError) -> T) throws(LMDBError) -> T {
        let txn = try beginWrite()
        let value: T
        do { value = try body(txn) } catch {
            txn.abort()
            throw error
        }
        try txn.commit()
        return value
    }

    /// Frees the reader slots of processes that died holding them (a `docket read` beside the
    /// node killed with SIGKILL, say), and returns how many. Left, each pins the pages of its
    /// snapshot, which no commit can reuse, so the data file grows; at 512, no reader can begin.
    /// LMDB does this only when asked: at open, and by the writer now and then.
    @discardableResult
    func clearDeadReaders() -> Int32 {
        guard !withoutLocks else { return 0 }
        var dead: Int32 = 0
        return mdb_reader_check(env, &dead) == 0 ? dead : 0
    }

    /// Adopts the larger map another process set, with no transaction open in this process.
    private func adoptGrownMap() {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        mdb_env_set_mapsize(env, 0)
        var info = MDB_envinfo()
        if mdb_env_info(env, &info) == 0 { currentMapSize.store(info.me_mapsize, ordering: .relaxed) }
    }

    /// Grows the map to `newSize` bytes with no transaction open in this process.
    func growMap(to newSize: Int) throws(LMDBError) {
        pthread_rwlock_wrlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        try check(mdb_env_set_mapsize(env, newSize))
        var info = MDB_envinfo()
        try check(mdb_env_info(env, &info))
        currentMapSize.store(info.me_mapsize, ordering: .relaxed)
    }

    /// Bytes of the data file actually in use (pages up to the last one written).
    func usedBytes() -> Int {
        // mdb_env_info reads the meta pages through the map, which a resize replaces.
        pthread_rwlock_rdlock(resizeLock)
        defer { pthread_rwlock_unlock(resizeLock) }
        var info = MDB_envinfo()
        var stat = MDB_stat()
        guard mdb_env_info(env, &info) == 0, mdb_env_stat(env, &stat) == 0 else { return 0 }
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }
}

/// A transaction lent to a closure (read) or owned by the writer thread (write). Not Sendable.
struct Transaction: ~Copyable {
    let txn: OpaquePointer

    func get(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(txn, dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    func get(_ dbi: MDB_dbi, _ key: [UInt8]) throws(LMDBError) -> UnsafeRawBufferPointer? {
        try key.withUnsafeBytes { k in Result { () throws(LMDBError) in try get(dbi, k) } }.get()
    }

    func put(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: Int32 = 0) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(txn, dbi, &k, &v, UInt32(flags)))
    }

    /// Puts `key` only if it is absent: nil when it was added, else the value already there
    /// (one search of the tree, where a get and then a put take two).
    func putIfAbsent(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(txn, dbi, &k, &v, UInt32(MDB_NOOVERWRITE))
        if rc == MDB_KEYEXIST { return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size) }
        try check(rc)
        return nil
    }

    func delete(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(txn, dbi, &k, nil)
        if rc != MDB_NOTFOUND { try check(rc) }
    }

    func put(_ dbi: MDB_dbi, _ key: [UInt8], _ value: [UInt8], flags: Int32 = 0) throws(LMDBError) {
        let r = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in Result { () throws(LMDBError) in try put(dbi, k, v, flags: flags) } }
        }
        try r.get()
    }

    func delete(_ dbi: MDB_dbi, _ key: [UInt8]) throws(LMDBError) {
        try key.withUnsafeBytes { k in Result { () throws(LMDBError) in try delete(dbi, k) } }.get()
    }

    func entryCount(_ dbi: MDB_dbi) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn, dbi, &stat))
        return stat.ms_entries
    }

    func commit() throws(LMDBError) { try check(mdb_txn_commit(txn)) }
    func abort() { mdb_txn_abort(txn) }

    /// Opens a cursor that lives until `body` returns.
    func withCursor<T, E: Error>(_ dbi: MDB_dbi, _ body: (inout Cursor) throws(E) -> T) throws(LMDBError) -> Result<T, E> {
        var c: OpaquePointer?
        try check(mdb_cursor_open(txn, dbi, &c))
        defer { mdb_cursor_close(c) }
        var cursor = Cursor(cursor: c!)
        return Result { () throws(E) in try body(&cursor) }
    }
}

/// A cursor positioned by `MDB_cursor_op`s; keys and values are valid until the transaction ends.
struct Cursor {
    let cursor: OpaquePointer

    enum Op {
        case first, last, next, prev, setRange, set
        var raw: MDB_cursor_op {
            switch self {
            case .first: return MDB_FIRST
            case .last: return MDB_LAST
            case .next: return MDB_NEXT
            case .prev: return MDB_PREV
            case .setRange: return MDB_SET_RANGE
            case .set: return MDB_SET_KEY
            }
        }
    }

    /// Moves the cursor; nil when there is no such entry.
    mutating func get(_ op: Op, key: UnsafeRawBufferPointer? = nil) throws(LMDBError)
        -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)?
    {
        var k = MDB_val()
        if let key { k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress)) }
        var v = MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, op.raw)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc)
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    mutating func get(_ op: Op, key: [UInt8]) throws(LMDBError) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)? {
        try key.withUnsafeBytes { k in Result { () throws(LMDBError) in try get(op, key: k) } }.get()
    }
}

extension UnsafeRawBufferPointer {
    /// The big-endian u64 at `offset`.
    @inline(__always)
    func loadBigEndianUInt64(at offset: Int = 0) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    func loadBigEndianUInt16(at offset: Int = 0) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// The sequence number an index entry (`ids`, `streams`) holds: 8 bytes, big-endian. One of
    /// another length is damage (`MDB_CORRUPTED`, the file is damaged), not bytes to read past.
    func indexedSequence() throws(LMDBError) -> UInt64 {
        guard count == 8 else { throw LMDBError(code: MDB_CORRUPTED) }
        return loadBigEndianUInt64()
    }
}

/// Big-endian bytes of `v`, so that byte order is numeric order in LMDB's default comparator and
/// `mdb_dump` shows sequence numbers readably.
@inline(__always)
func bigEndianBytes(_ v: UInt64) -> [UInt8] {
    withUnsafeBytes(of: v.bigEndian) { Array($0) }
}

@inline(__always)
func bigEndianBytes(_ v: UInt16) -> [UInt8] {
    withUnsafeBytes(of: v.bigEndian) { Array($0) }
}

/// Lends the big-endian bytes of `v` (a key or value) to `body` without allocating.
@inline(__always)
func withBigEndian<R, E: Error>(_ v: UInt64, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    var be = v.bigEndian
    return try Swift.withUnsafeBytes(of: &be) { raw in Result { () throws(E) -> R in try body(raw) } }.get()
}
