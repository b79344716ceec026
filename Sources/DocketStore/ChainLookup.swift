import DocketCore

extension EventStore {
    /// The full chain hash h(`sequence`) (Schemas/storage.md §6), recomputed from the nearest
    /// anchor below it (full hashes are kept every 1024 records), so at most 1024 records are
    /// hashed. Every record on the way must carry the tag the recomputation gives, else the
    /// log is damaged and this throws `corrupt-record` (run `docket verify`).
    public func chainHash(at sequence: UInt64) throws(StoreError) -> ChainHash {
        guard sequence >= 1, sequence <= head.sequence else {
            throw StoreError(.notFound, "the log holds no record \(sequence) (its head is \(head.sequence))")
        }
        // An anchored sequence (every 1024th) starts from the anchor before it: its own stored
        // anchor is then checked against the recomputation, in full, rather than handed on as
        // stored (into a receipt, or a replication handshake) with nothing to vouch for it.
        let interval = Databases.anchorInterval
        let anchored = sequence % interval == 0
        let anchorSequence = anchored ? sequence - interval : sequence / interval * interval
        return try read { (txn) throws(StoreError) -> ChainHash in
            var hash = ChainHash.genesis
            if anchorSequence > 0 {
                let raw: UnsafeRawBufferPointer?
                do throws(LMDBError) { raw = try txn.get(databases.chain, Key.sequence(anchorSequence)) } catch { throw error.storeError }
                guard let raw, let anchor = ChainHash(raw: raw) else {
                    throw StoreError(.corruptRecord, "the chain anchor at \(anchorSequence) is missing; run docket verify", sequence: anchorSequence)
                }
                hash = anchor
            }
            var expected = anchorSequence + 1
            try LogIndex.forEachRecord(in: txn, databases, from: expected, limit: Int(sequence - anchorSequence)) { (seq, value) throws(StoreError) in
                guard seq == expected else {
                    throw StoreError(.corruptRecord, "the log jumps from \(expected - 1) to \(seq); run docket verify", sequence: expected)
                }
                let header = try RecordFormat.header(of: value, sequence: seq)
                let dictionary = try dictionaries.dictionary(header.dictionary, txn: txn)
                if header.dictionary != 0 && dictionary == nil {
                    throw StoreError(.corruptRecord, "record \(seq) names dictionary \(header.dictionary), which the store does not hold", sequence: seq)
                }
                hash = RecordFormat.chain(previous: hash, sequence: seq, record: value, dictionaryDigest: dictionary?.digest)
                guard hash.tag == header.tag else {
                    throw StoreError(.corruptRecord, "record \(seq) does not carry its chain tag; run docket verify", sequence: seq)
                }
                expected = seq + 1
                return true
            }
            guard expected == sequence + 1 else {
                throw StoreError(.notFound, "the log holds no record \(expected)", sequence: expected)
            }
            if anchored {
                let raw: UnsafeRawBufferPointer?
                do throws(LMDBError) { raw = try txn.get(databases.chain, Key.sequence(sequence)) } catch { throw error.storeError }
                guard let raw, ChainHash(raw: raw) == hash else {
                    throw StoreError(.corruptRecord, "the chain anchor at \(sequence) does not match the chain recomputed up to it; run docket verify", sequence: sequence)
                }
            }
            return hash
        }
    }
}
