import CZstd
import Crypto
import DocketCore

// The only file that calls zstd.

/// A zstd dictionary shared by compressors and decompressors. `ZSTD_CDict` and `ZSTD_DDict`
/// are read-only once created, which zstd documents as safe to use from several threads.
final class ZstdDictionary: @unchecked Sendable {
    let version: UInt16
    let bytes: [UInt8]
    private let cdict: OpaquePointer
    private let ddict: OpaquePointer

    /// SHA-256 of `bytes`: records compressed with this dictionary chain it (Schemas/storage.md).
    let digest: ChainHash

    init(version: UInt16, bytes: [UInt8], level: Int32) throws(StoreError) {
        self.version = version
        self.bytes = bytes
        self.digest = ChainHash(bytes: Array(SHA256.hash(data: bytes)))
        let c = bytes.withUnsafeBytes { ZSTD_createCDict($0.baseAddress, $0.count, level) }
        let d = bytes.withUnsafeBytes { ZSTD_createDDict($0.baseAddress, $0.count) }
        guard let c, let d else {
            if let c { ZSTD_freeCDict(c) }
            if let d { ZSTD_freeDDict(d) }
            throw StoreError(.compression, "zstd could not load dictionary version \(version)")
        }
        cdict = c
        ddict = d
    }

    deinit {
        ZSTD_freeCDict(cdict)
        ZSTD_freeDDict(ddict)
    }

    fileprivate var c: OpaquePointer { cdict }
    /// The digested dictionary zstd decompresses with (`ZSTD_DDict`), valid while this lives.
    var d: OpaquePointer { ddict }
}

private func zstdCheck(_ rc: Int, _ what: String) throws(StoreError) -> Int {
    if ZSTD_isError(rc) != 0 {
        // A stored frame that does not decompress is a damaged record, not a zstd problem.
        throw StoreError(what == "decompression" ? .corruptRecord : .compression, "zstd \(what): \(String(cString: ZSTD_getErrorName(rc)))")
    }
    return rc
}

/// Compresses envelopes into standard zstd frames. One per thread (it owns a `ZSTD_CCtx`).
final class ZstdCompressor {
    private let cctx: OpaquePointer
    let level: Int32

    init(level: Int32) {
        cctx = ZSTD_createCCtx()
        self.level = level
        // The record header names the dictionary, so the frame need not (saves up to 4 bytes);
        // keep the content size so any decoder can size its buffer; no checksum: the chain
        // hash already covers every stored byte.
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
    }

    deinit { ZSTD_freeCCtx(cctx) }

    /// Appends one zstd frame holding `input` to `output`.
    func compress(_ input: UnsafeRawBufferPointer, dictionary: ZstdDictionary?, appendingTo output: inout [UInt8]) throws(StoreError) {
        let bound = ZSTD_compressBound(input.count)
        let start = output.count
        output.reserveCapacity(start + bound)
        // Grow without initialising twice: append zeros then write into them.
        output.append(contentsOf: repeatElement(0, count: bound))
        let written = output.withUnsafeMutableBytes { out -> Int in
            let dst = out.baseAddress! + start
            // The advanced API, unlike ZSTD_compress_usingCDict, honours the frame parameters
            // set above (no dictionary id in the frame). A nil CDict returns to no-dictionary mode.
            let rc = ZSTD_CCtx_refCDict(cctx, dictionary?.c)
            if ZSTD_isError(rc) != 0 { return rc }
            return ZSTD_compress2(cctx, dst, bound, input.baseAddress, input.count)
        }
        let n = try zstdCheck(written, "compression")
        output.removeLast(bound - n)
    }
}

/// Decompresses record frames. One per thread or scan (it owns a `ZSTD_DCtx`).
final class ZstdDecompressor {
    private let dctx: OpaquePointer
    private(set) var buffer: [UInt8] = []

    init() {
        dctx = ZSTD_createDCtx()
    }

    deinit { ZSTD_freeDCtx(dctx) }

    /// Decompresses `frame` into the memory `destination` gives for its declared size (room for
    /// exactly that many bytes), and returns the size.
    func decompress(
        _ frame: UnsafeRawBufferPointer, dictionary: ZstdDictionary?, limit: Int, into destination: (Int) -> UnsafeMutableRawPointer
    ) throws(StoreError) -> Int {
        try decompress(frame, ddict: dictionary?.d, limit: limit, into: destination)
    }

    /// The same with the dictionary given as its `ZSTD_DDict` (`ZstdDictionary.d`), which the
    /// caller keeps alive.
    func decompress(
        _ frame: UnsafeRawBufferPointer, ddict: OpaquePointer?, limit: Int, into destination: (Int) -> UnsafeMutableRawPointer
    ) throws(StoreError) -> Int {
        let n = try contentSize(frame, limit: limit)
        let out = destination(n)
        let got: Int
        if let ddict {
            got = ZSTD_decompress_usingDDict(dctx, out, n, frame.baseAddress, frame.count, ddict)
        } else {
            got = ZSTD_decompressDCtx(dctx, out, n, frame.baseAddress, frame.count)
        }
        let m = try zstdCheck(got, "decompression")
        guard m == n else { throw StoreError(.corruptRecord, "record decompressed to \(m) bytes, header said \(n)") }
        return n
    }

    private func contentSize(_ frame: UnsafeRawBufferPointer, limit: Int) throws(StoreError) -> Int {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        // ZSTD_CONTENTSIZE_UNKNOWN / _ERROR are the top two values of an unsigned long long.
        guard size < UInt64.max - 1 else {
            throw StoreError(.corruptRecord, "record is not a zstd frame with a known content size")
        }
        guard size <= UInt64(limit) else {
            throw StoreError(.corruptRecord, "record claims \(size) bytes, over the \(limit)-byte limit")
        }
        // Exactly one frame, to the record's last byte (Schemas/storage.md §5.1): zstd would also
        // decompress frames after it, and skip skippable ones, so bytes could ride along unseen.
        let spanned = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
        guard ZSTD_isError(spanned) == 0, spanned == frame.count else {
            let what = ZSTD_isError(spanned) != 0 ? "is not a whole zstd frame" : "has \(frame.count - spanned) bytes after its zstd frame"
            throw StoreError(.corruptRecord, "record \(what)")
        }
        return Int(size)
    }

    /// Decompresses `frame` into an internal buffer and lends it to `body`.
    func decompress<T>(
        _ frame: UnsafeRawBufferPointer, dictionary: ZstdDictionary?, limit: Int,
        _ body: (UnsafeRawBufferPointer) throws(CoreError) -> T
    ) throws(StoreError) -> T {
        let n = try contentSize(frame, limit: limit)
        if buffer.count < n { buffer = [UInt8](repeating: 0, count: max(n, 4096)) }
        let got = buffer.withUnsafeMutableBytes { out -> Int in
            if let dictionary {
                return ZSTD_decompress_usingDDict(dctx, out.baseAddress, n, frame.baseAddress, frame.count, dictionary.d)
            }
            return ZSTD_decompressDCtx(dctx, out.baseAddress, n, frame.baseAddress, frame.count)
        }
        let m = try zstdCheck(got, "decompression")
        guard m == n else { throw StoreError(.corruptRecord, "record decompressed to \(m) bytes, header said \(n)") }
        let r = buffer.withUnsafeBytes { raw in
            Result { () throws(CoreError) in try body(UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
        }
        switch r {
        case .success(let v): return v
        case .failure(let e): throw StoreError(.corruptRecord, e.message)
        }
    }
}

enum ZstdTrainer {
    /// Trains a dictionary of at most `capacity` bytes from `samples`.
    static func train(samples: [[UInt8]], capacity: Int) throws(StoreError) -> [UInt8] {
        var flat: [UInt8] = []
        flat.reserveCapacity(samples.reduce(0) { $0 + $1.count })
        var sizes: [Int] = []
        sizes.reserveCapacity(samples.count)
        for s in samples {
            flat.append(contentsOf: s)
            sizes.append(s.count)
        }
        var dict = [UInt8](repeating: 0, count: capacity)
        let n = dict.withUnsafeMutableBytes { d in
            flat.withUnsafeBytes { f in
                sizes.withUnsafeBufferPointer { sz in
                    ZDICT_trainFromBuffer(d.baseAddress, capacity, f.baseAddress, sz.baseAddress, UInt32(sz.count))
                }
            }
        }
        if ZDICT_isError(n) != 0 {
            throw StoreError(.compression, "zstd dictionary training: \(String(cString: ZDICT_getErrorName(n)))")
        }
        dict.removeLast(capacity - n)
        return dict
    }
}
