import DocketCore
import Synchronization

/// Stream-index entries of committed records that are not yet in the `streams` database.
///
/// Under concurrent load every append goes to a different report, and writing each one's stream
/// index entry in the commit that holds its record would dirty one random B-tree leaf per stream
/// (and the branch pages above it) in every durable commit: most of what a commit writes and
/// syncs. Like EventStoreDB's in-memory index table, the writer instead keeps the entries of
/// the latest records here and writes them to `streams` in bulk, later, in a commit of its own
/// choosing; `meta` `streams.indexed-through` says how far `streams` is complete. Nothing is lost
/// in a crash: the records are durable, and opening the store re-indexes the records after
/// `streams.indexed-through` (at most a flush threshold's worth) from the log itself.
///
/// Readers look here first and then in a read transaction begun afterwards, so an entry moved to
/// `streams` in between is seen in one place or both (duplicates are dropped), never in neither.
final class StreamMemtable: Sendable {
    struct Entry: Sendable, Hashable {
        let version: UInt64
        let sequence: UInt64
    }

    private let entries = Mutex<[StreamName: [Entry]]>([:])

    /// Adds entries of records just committed, in sequence order.
    func add(_ new: some Collection<(stream: StreamName, entry: Entry)>) {
        entries.withLock { d in
            // Consecutive entries of one stream (an append's events) take one lookup.
            var i = new.startIndex
            while i != new.endIndex {
                let stream = new[i].stream
                var j = new.index(after: i)
                while j != new.endIndex && new[j].stream == stream { j = new.index(after: j) }
                d[stream, default: []].append(contentsOf: new[i..<j].lazy.map(\.entry))
                i = j
            }
        }
    }

    /// Forgets every entry: a commit has written them all to `streams`.
    func removeAll() {
        entries.withLock { $0.removeAll(keepingCapacity: true) }
    }

    func entries(of stream: StreamName) -> [Entry] {
        entries.withLock { $0[stream] ?? [] }
    }

    var count: Int { entries.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}
