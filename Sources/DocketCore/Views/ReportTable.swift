/// A projection's reports by id: a dictionary keyed by report id, which does two things
/// `[String: Report]` cannot, both for the sake of a view rebuild, where a million events each
/// look up their report:
/// - A report is found from the bytes of its id as they lie in an event's envelope
///   (`position(ofID:)`), with no `String` made for each event.
/// - Tables filled apart, one for each partition of a rebuild (`Projection.split`), are joined by
///   keeping each as a shard (`init(joining:)`), where re-inserting one's entries into another
///   took a rebuild's one thread longer than anything else between its folds and its clocks. A
///   lookup then tries each shard in turn; a rebuild makes at most `Projection.foldPartitions`.
///
/// Ids are told apart by their UTF-8 bytes, as the log tells streams apart (a `String` key would
/// read two spellings of one canonical form as one report, which two partitions could each hold).
/// Their hashes are Swift's `Hasher`, seeded afresh in each process: report ids are chosen by
/// those who submit them.
public struct ReportTable: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// One table: entries in order of insertion, found through open addressing.
    struct Shard: Sendable {
        var ids: [String] = []
        var reports: [Report] = []
        /// Each entry's hash, kept for laying out the slots anew.
        var hashes: [Int] = []
        /// Every id's UTF-8 bytes, one after another, and where each ends: a lookup compares bytes
        /// in place, where comparing with the ids themselves would copy each one compared.
        var idBytes: [UInt8] = []
        var idEnds: [Int] = []
        /// For each slot, 0 if empty, else the entry's index + 1 in the low 32 bits and the high 32
        /// bits of its hash above them, which tell most entries that do not match apart without
        /// reading their ids. A power of two in number, at most half of them full; linear probing.
        var slots: [UInt64] = []

        var count: Int { ids.count }

        /// The slot an entry with this hash is looked for from, and the tag it bears.
        @inline(__always)
        static func place(_ hash: Int, mask: Int) -> (slot: Int, tag: UInt64) {
            (hash & mask, UInt64(truncatingIfNeeded: hash) & 0xFFFF_FFFF_0000_0000)
        }

        /// The index of the entry whose id is these bytes.
        @inline(__always)
        func index(of id: UnsafeRawBufferPointer, hash: Int) -> Int? {
            guard !slots.isEmpty else { return nil }
            return slots.withUnsafeBufferPointer { slots in
                idEnds.withUnsafeBufferPointer { ends in
                    idBytes.withUnsafeBytes { bytes in
                        let mask = slots.count - 1
                        var (s, tag) = Self.place(hash, mask: mask)
                        while true {
                            let slot = slots[s]
                            if slot == 0 { return nil }
                            if slot & 0xFFFF_FFFF_0000_0000 == tag {
                                let i = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1
                                let start = i == 0 ? 0 : ends[i - 1]
                                if bytesEqual(UnsafeRawBufferPointer(rebasing: bytes[start..<ends[i]]), id) { return i }
                            }
                            s = (s + 1) & mask
                        }
                    }
                }
            }
        }

        /// Adds an entry whose id no entry has.
        mutating func append(id: String, hash: Int, report: Report) {
            // Only the slots are laid out anew here: the arrays grow as arrays do (reserving just
            // one more would have them copied again at the next append).
            if (ids.count + 1) * 2 > slots.count { layOutSlots(for: ids.count + 1) }
            ids.append(id)
            reports.append(report)
            hashes.append(hash)
            idBytes.append(contentsOf: id.utf8)
            idEnds.append(idBytes.count)
            occupy(hash, index: ids.count - 1)
        }

        /// Room for `n` entries without laying out the slots anew.
        mutating func reserve(_ n: Int) {
            ids.reserveCapacity(n)
            reports.reserveCapacity(n)
            hashes.reserveCapacity(n)
            idEnds.reserveCapacity(n)
            layOutSlots(for: n)
        }

        /// Slots for `n` entries (at least twice as many), laid out anew if there are fewer.
        private mutating func layOutSlots(for n: Int) {
            var size = max(slots.count, 16)
            while size < n * 2 { size *= 2 }
            guard size > slots.count else { return }
            slots = [UInt64](repeating: 0, count: size)
            for i in hashes.indices { occupy(hashes[i], index: i) }
        }

        private mutating func occupy(_ hash: Int, index: Int) {
            let mask = slots.count - 1
            var (s, tag) = Self.place(hash, mask: mask)
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = tag | UInt64(index + 1)
        }

        /// The shard without entry `i` (rare: the shard is made anew).
        mutating func remove(at i: Int) {
            var rest = Shard()
            rest.reserve(count - 1)
            for j in ids.indices where j != i { rest.append(id: ids[j], hash: hashes[j], report: reports[j]) }
            self = rest
        }
    }

    /// Never empty: new entries go into the last.
    var shards: [Shard]

    public init() { shards = [Shard()] }

    public init(dictionaryLiteral elements: (String, Report)...) {
        self.init()
        for (id, report) in elements { self[id] = report }
    }

    /// The tables joined into one, each kept as it is. No two may hold the same id: a projection's
    /// partitions, which divide reports by the bytes of their ids, do not.
    public init(joining tables: consuming [ReportTable]) {
        shards = tables.flatMap { $0.shards.filter { $0.count > 0 } }
        if shards.isEmpty { shards = [Shard()] }
        assert(
            shards.count < 2 || shards.indices.allSatisfy { s in
                shards[s].ids.indices.allSatisfy { i in
                    Self.withUTF8(shards[s].ids[i]) { id in shards[(s + 1)...].allSatisfy { $0.index(of: id, hash: shards[s].hashes[i]) == nil } }
                }
            }, "joined tables hold the same id")
    }

    public var count: Int { shards.reduce(0) { $0 + $1.count } }
    public var isEmpty: Bool { shards.allSatisfy { $0.count == 0 } }

    /// Room for `n` reports in all, new ones going into the last shard.
    public mutating func reserveCapacity(_ n: Int) {
        let others = count - shards[shards.count - 1].count
        shards[shards.count - 1].reserve(max(n - others, 0))
    }

    /// Where a report is in the table.
    public struct Position: Hashable, Sendable {
        let shard: Int
        let index: Int
    }

    /// The report whose id is these UTF-8 bytes, if any.
    @inline(__always)
    public func position(ofID id: UnsafeRawBufferPointer) -> Position? {
        position(ofID: id, hash: Self.hash(id))
    }

    @inline(__always)
    func position(ofID id: UnsafeRawBufferPointer, hash: Int) -> Position? {
        shards.withUnsafeBufferPointer { shards in
            for s in shards.indices {
                if let i = shards[s].index(of: id, hash: hash) { return Position(shard: s, index: i) }
            }
            return nil
        }
    }

    public func position(ofID id: String) -> Position? {
        Self.withUTF8(id) { position(ofID: $0) }
    }

    public subscript(position: Position) -> Report { shards[position.shard].reports[position.index] }

    /// Changes the report at `position` in place (a report is a reference to its fields, which
    /// `Report.apply` copies first only if another report shares them).
    @inline(__always)
    public mutating func update<T>(at position: Position, _ body: (inout Report) -> T) -> T {
        body(&shards[position.shard].reports[position.index])
    }

    public subscript(id: String) -> Report? {
        get { position(ofID: id).map { self[$0] } }
        set { updateValue(newValue, forKey: id) }
    }

    /// Sets (or with nil removes) the report of `id`, returning the one it replaced.
    @discardableResult
    public mutating func updateValue(_ report: Report?, forKey id: String) -> Report? {
        Self.withUTF8(id) { bytes in
            let hash = Self.hash(bytes)
            if let p = position(ofID: bytes, hash: hash) {
                let old = shards[p.shard].reports[p.index]
                if let report { shards[p.shard].reports[p.index] = report } else { shards[p.shard].remove(at: p.index) }
                return old
            }
            if let report { shards[shards.count - 1].append(id: id, hash: hash, report: report) }
            return nil
        }
    }

    /// Every id, in no particular order.
    public var keys: [String] { shards.flatMap(\.ids) }

    /// Every report, in no particular order.
    public var values: Values { Values(shards: shards) }

    /// The reports of a table, shard by shard.
    public struct Values: Collection, Sendable {
        let shards: [Shard]

        public struct Index: Comparable, Sendable {
            let shard: Int
            let index: Int
            public static func < (a: Index, b: Index) -> Bool { (a.shard, a.index) < (b.shard, b.index) }
        }

        public var startIndex: Index { first(from: Index(shard: 0, index: 0)) }
        public var endIndex: Index { Index(shard: shards.count, index: 0) }
        public var count: Int { shards.reduce(0) { $0 + $1.count } }
        public var isEmpty: Bool { shards.allSatisfy { $0.count == 0 } }

        public subscript(i: Index) -> Report { shards[i.shard].reports[i.index] }

        public func index(after i: Index) -> Index { first(from: Index(shard: i.shard, index: i.index + 1)) }

        /// `i`, or past an end of a shard the start of the next that is not empty.
        private func first(from i: Index) -> Index {
            var i = i
            while i.shard < shards.count, i.index >= shards[i.shard].count { i = Index(shard: i.shard + 1, index: 0) }
            return i
        }

        public func makeIterator() -> Iterator { Iterator(shards: shards) }

        public struct Iterator: IteratorProtocol {
            let shards: [Shard]
            var shard = 0
            /// The shard's reports, and the next of them.
            var reports: [Report]
            var index = 0

            init(shards: [Shard]) {
                self.shards = shards
                reports = shards.first?.reports ?? []
            }

            public mutating func next() -> Report? {
                while index == reports.count {
                    shard += 1
                    guard shard < shards.count else { return nil }
                    (reports, index) = (shards[shard].reports, 0)
                }
                defer { index += 1 }
                return reports[index]
            }
        }
    }

    /// Equal when they hold the same reports under the same ids, however divided into shards.
    public static func == (a: ReportTable, b: ReportTable) -> Bool {
        guard a.count == b.count else { return false }
        for shard in a.shards {
            for i in shard.ids.indices {
                let found = withUTF8(shard.ids[i]) { bytes in b.position(ofID: bytes, hash: shard.hashes[i]) }
                guard let found, b[found] == shard.reports[i] else { return false }
            }
        }
        return true
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        return hasher.finalize()
    }

    @inline(__always)
    static func withUTF8<T>(_ s: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        var s = s
        return s.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }
}
