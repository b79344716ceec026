import DocketCore
import DocketStore
import Foundation

/// The domain over a local store: decide a command against a report's stream, append with the
/// stream version it was decided against, and fold the log into views.
struct LocalLedger {
    let store: EventStore

    /// What a command appended (or, for a retry, had appended).
    struct Outcome {
        var report: Report
        var events: [DomainEvent]
        var result: AppendResult
    }

    /// The report as its stream says, and the stream's recorded events.
    func load(report id: String) throws -> (Report?, [RecordedEvent]) {
        let stream = try DomainStreams.report(id)
        let recorded = try store.read(stream: stream)
        var projection = Projection()
        for e in recorded { projection.apply(e) }
        return (projection.reports[id], recorded)
    }

    /// Decides `command` on report `id` and appends the result durably. A conflicting concurrent
    /// append makes it decide again against the new state (a few times), never overwrite.
    func execute(_ command: ReportCommand, report id: String, actor: String, at: Timestamp?, eventID: EventID?) async throws -> Outcome {
        try DomainStreams.validateIdentifier(id, what: "report id")
        let stream = try DomainStreams.report(id)
        var attempt = 0
        while true {
            attempt += 1
            let (report, recorded) = try load(report: id)
            // A retried command (same --id) returns what the first attempt appended.
            if let eventID, let original = recorded.first(where: { $0.id == eventID }) {
                // Same id, same command against the state it was first decided on: a retry.
                var before = Projection()
                for e in recorded.prefix(Int(original.streamVersion) - 1) { before.apply(e) }
                let again = try? Lifecycle.decide(command, report: before.reports[id], reportID: id)
                let first = try DomainEvent(original)
                guard again?.first == first else {
                    throw CLIError("event-id-reused: event id \(eventID) already names a different event (sequence \(original.sequence), \(original.type)) on report \(id)")
                }
                return Outcome(report: report!, events: [first], result: AppendResult(
                    firstSequence: original.sequence, lastSequence: original.sequence, streamVersion: original.streamVersion,
                    recordedAt: original.recordedAt, duplicate: true))
            }
            let events = try Lifecycle.decide(command, report: report, reportID: id)
            if let report, let at, at < report.lastEventAt {
                throw CLIError("--at \(at) is before report \(id)'s latest event (\(report.lastEventAt)); events are recorded in the order they happened")
            }
            var proposed: [ProposedEvent] = []
            for (i, e) in events.enumerated() {
                proposed.append(try e.proposed(id: i == 0 ? (eventID ?? .random()) : .random(), actor: actor, occurredAt: at))
            }
            do {
                let result = try await store.append(to: stream, expecting: .exact(report?.version ?? 0), events: proposed)
                var projection = Projection()
                for e in recorded { projection.apply(e) }
                for e in events { projection.apply(e, toReport: id, at: at ?? result.recordedAt) }
                return Outcome(report: projection.reports[id]!, events: events, result: result)
            } catch {
                // Someone else appended to the report meanwhile: decide again on what they did.
                guard error.code == .wrongExpectedVersion, attempt < 5 else { throw error }
            }
        }
    }

    /// Appends a project event (policy adoption, maintainers).
    func appendProjectEvent(_ event: DomainEvent, project: String, actor: String, at: Timestamp?) async throws -> AppendResult {
        try DomainStreams.validateIdentifier(project, what: "project")
        return try await store.append(to: try DomainStreams.project(project), events: [try event.proposed(actor: actor, occurredAt: at)])
    }

    /// Folds the log into every view as of `asOf`, resuming from the views checkpoint when it
    /// still matches the log, and leaving a fresh checkpoint behind when the log has grown.
    func projection(asOf: AsOf, checkpoints: ViewCheckpoints? = nil) throws -> Projection {
        let last: UInt64
        if case .sequence(let n, _) = asOf { last = n } else { last = .max }
        var projection = Projection()
        var instant = false
        if case .instant = asOf { instant = true }
        // A checkpoint only helps folds that include every event up to it (not "as of an instant",
        // since event times need not follow log order).
        if !instant, let checkpoints, let restored = checkpoints.load(matching: store), restored.lastSequence <= last {
            projection = restored
        }
        let resumedAt = projection.lastSequence
        try store.scan(from: resumedAt + 1, through: last) { event in
            if Projection.includes(event, asOf: asOf) { projection.apply(event) }
            return true
        }
        if !instant, let checkpoints, projection.lastSequence >= resumedAt + ViewCheckpoints.interval {
            checkpoints.save(projection, store: store)
        }
        return projection
    }
}

/// The views checkpoint of a data directory: `views.checkpoint`, holding the projection and the
/// raw record it was folded up to, so a checkpoint from another (or a rolled-back) log is
/// recognised and ignored. Written atomically; losing it only costs a replay.
struct ViewCheckpoints {
    let path: String
    /// Write a new checkpoint once the log has grown by this many events.
    static let interval: UInt64 = 1000
    private static let magic: [UInt8] = Array("DKVC".utf8)

    init(dataDir: String) { path = dataDir + "/views.checkpoint" }

    func load(matching store: EventStore) -> Projection? {
        guard let data = FileManager.default.contents(atPath: path), data.count > 8 else { return nil }
        let bytes = [UInt8](data)
        guard Array(bytes[0..<4]) == Self.magic else { return nil }
        let n = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        guard bytes.count >= 8 + n else { return nil }
        let record = Array(bytes[8..<(8 + n)])
        guard let payload = try? Payload(validating: Array(bytes[(8 + n)...])), let projection = Projection(checkpoint: payload) else { return nil }
        guard projection.lastSequence == 0 || (try? store.rawRecord(at: projection.lastSequence)) == record else { return nil }
        return projection
    }

    func save(_ projection: Projection, store: EventStore) {
        guard let record = try? store.rawRecord(at: projection.lastSequence) else { return }
        var bytes = Self.magic
        let n = record.count
        bytes += [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        bytes += record
        bytes += projection.checkpoint().bytes
        let tmp = path + ".tmp"
        // Best effort: a read-only data directory simply gets no checkpoint.
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else { return }
        _ = rename(tmp, path)
    }
}
