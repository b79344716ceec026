public import DocketCore
public import DocketStore
public import DocketWire
import Crypto
import Foundation
import Synchronization

/// The domain over a store, for the local CLI and the server alike: decide a command against a
/// report's stream and append it with the stream version it was decided against; answer view
/// queries from a projection that resumes from its checkpoint; enforce what each principal may do.
public final class Ledger: Sendable {
    public let store: EventStore
    let checkpoints: ViewCheckpoints?
    let heads: HeadNotifier
    /// The node key, Merkle index and checkpoint order (Notary.swift).
    public let notary: Notary
    /// The views at the head, kept in memory and caught up before each query at the head, so a
    /// long-running node folds each event once (local commands start from the checkpoint).
    private let live = Mutex<(projection: Projection, checkpointedAt: UInt64)?>(nil)
    /// The last sequence the live views were folded to (0: not yet), readable without waiting for
    /// a fold that holds `live`.
    private let liveSequence = Atomic<UInt64>(0)
    /// The views being read in pages just now, kept between their pages.
    let pageOrders = PageOrders()
    /// The last view of the past a query folded (`pastView`).
    private let past = Mutex<PastView?>(nil)
    /// Views of the past folded from the start (or the views checkpoint) rather than caught up.
    let pastViewsFolded = Atomic<Int>(0)
    /// A view of the past unused for this long is dropped (it holds as much memory as the live
    /// views): by the next query of the past, or the node's next token check.
    let pastViewIdle: Duration
    /// Each project's state as its stream stood at a version (`projectState`).
    private let projects = Mutex<[String: (state: ProjectState?, version: UInt64)]>([:])
    /// Set when the node shuts down: folds under way stop within a chunk or so (`stopFolds`).
    private let foldsStopped = Atomic<Bool>(false)

    /// Stops the views' folds under way, and any started after, within a chunk or so of the log
    /// (they fail with `StoreError.closed`): a node shutting down does not wait for a replay of a
    /// long log. For the end of a node's life; the ledger folds no more views after it.
    public func stopFolds() { foldsStopped.store(true, ordering: .relaxed) }

    /// Whether `stopFolds` was called.
    public var foldsWereStopped: Bool { foldsStopped.load(ordering: .relaxed) }

    /// The `stop` of this ledger's folds.
    private var foldStop: @Sendable () -> Bool { { [self] in foldsStopped.load(ordering: .relaxed) } }

    /// A ledger on `store`, whose data directory is `dataDir` (its node key, and its views
    /// checkpoint unless `viewCheckpoints` is false: a forensic replay folds the log alone, and
    /// leaves nothing behind in the directory it examines).
    public init(store: EventStore, dataDir: String?, viewCheckpoints: Bool = true, pastViewIdle: Duration = .seconds(600)) {
        self.store = store
        self.pastViewIdle = pastViewIdle
        self.checkpoints = viewCheckpoints ? dataDir.map { ViewCheckpoints(dataDir: $0) } : nil
        self.heads = HeadNotifier(head: store.head.sequence)
        self.notary = Notary(store: store, dataDir: dataDir)
    }

    /// What a command appended (or, for a retry, had appended).
    public struct Outcome: Sendable {
        public var report: Report
        public var events: [DomainEvent]
        public var result: AppendResult
        /// What the person who gave the command should know about its effect (an embargo
        /// extension the policy caps, say); empty for most.
        public var notices: [String] = []

        public var wireValue: Value {
            var v: [(key: String, value: Value)] = [
                ("report", .string(report.id)), ("state", .string(report.state.rawValue)),
                ("events", .array(events.map { .string($0.typeName) })), ("seq", .int(Int64(result.lastSequence))),
                ("version", .int(Int64(result.streamVersion))), ("duplicate", .bool(result.duplicate)),
            ]
            // An assessment says what severity it came to (one derived from a vector is not in the
            // command that made it): its own, also on a retry after a later re-assessment.
            for e in events {
                switch e {
                case .reportTriaged(let t): v.append(("severity", .string(t.severity.rawValue)))
                case .severityChanged(let c): v.append(("severity", .string(c.severity.rawValue)))
                default: continue
                }
            }
            if !notices.isEmpty { v.append(("notices", .array(notices.map { .string($0) }))) }
            return .object(v)
        }
    }

    // MARK: Commands

    /// The report as its stream says, and the stream's recorded events.
    public func load(report id: String) throws -> (Report?, [RecordedEvent]) {
        let recorded = try store.read(stream: try DomainStreams.report(id))
        var projection = Projection()
        for e in recorded { projection.apply(e) }
        return (projection.reports[id], recorded)
    }

    /// Report `id` as its submission made it (the first event of its stream), if there is one:
    /// enough to judge who may see it, since its project and reporter never change. It takes one
    /// event's read however long the report's history, so a refusal of a report the principal may
    /// not see takes no longer than one of an id that names none: the time of the answer tells
    /// nobody that the report exists, nor how much has happened to it.
    func submission(of id: String) throws -> Report? {
        guard let first = try store.read(stream: try DomainStreams.report(id), limit: 1).first else { return nil }
        if case .reportSubmitted(let e)? = try? DomainEvent(first) { return Report(id: id, submitted: e, at: first.occurredAt) }
        // A stream that does not begin with a submission (a damaged record, or an admin's raw
        // append from before those were refused) is judged as the views judge it, from its whole
        // history: rare enough that its time tells of nothing but itself.
        return try load(report: id).0
    }

    /// Decides `command` on report `id` as `principal` and appends the result durably. A
    /// concurrent append to the same report makes it decide again on the new state (a few
    /// times); it never overwrites.
    public func execute(
        _ command: ReportCommand, report id: String, as principal: Principal, at: Timestamp?, eventID: EventID?, creditFromPolicy: Bool = false
    ) async throws -> Outcome {
        // What the token may never do, whatever the report, is refused wherever it is asked: a
        // follower that sent it to the leader would only have it refused there.
        try Self.refuseBeyondRole(command, principal, at: at)
        // A node that takes no writes (a follower) says so next: it does not judge a command
        // against views that may lag the leader's.
        if let refusal = store.writeRefusal { throw refusal }
        try DomainStreams.validateIdentifier(id, what: "report id")
        var command = command
        // A submission that does not say how the reporter wants credit gets the project policy's default.
        if creditFromPolicy, case .submit(var e) = command {
            e.reporter.credit = try creditDefault(project: e.project, at: at ?? .now())
            command = .submit(e)
        }
        let stream = try DomainStreams.report(id)
        // A report the principal may not see is refused as one that does not exist (`authorize`),
        // and a submission under its id as one under a taken id (`refuseTakenID`), each as quickly
        // as for an id that names none: judged from its submission, before its history is read.
        if principal.role == .maintainer || principal.role == .reporter {
            let submitted = try submission(of: id)
            if !command.isSubmission {
                guard let submitted, principal.canSee(submitted) else { throw DomainError.noReport(id) }
            } else if let submitted, !principal.canSee(submitted) {
                // `authorize` needs no more of the report than its submission to refuse this.
                do { try authorize(command, on: submitted, id: id, principal, at: at) } catch is SubmissionUnderTakenID {
                    try await refuseTakenID(command, report: id, stream: stream, as: principal, at: at, eventID: eventID)
                }
            }
        }
        var attempt = 0
        while true {
            attempt += 1
            let (report, recorded) = try load(report: id)
            do {
                try authorize(command, on: report, id: id, principal, at: at)
            } catch is SubmissionUnderTakenID {
                try await refuseTakenID(command, report: id, stream: stream, as: principal, at: at, eventID: eventID)
            }
            // Before the retry check, which compares the original named in full: otherwise a
            // maintainer could resend the id of an admin's duplicate closing, naming guesses, and
            // learn from the answer which hidden report it names.
            let isRetry = eventID.map { given in recorded.contains { $0.id == given } } ?? false
            try refuseHiddenOriginal(command, on: report, id: id, principal, at: at, isRetry: isRetry)
            // A retried command (same id) returns what the first attempt appended.
            if let eventID, let original = recorded.first(where: { $0.id == eventID }) {
                var before = Projection()
                for e in recorded.prefix(Int(original.streamVersion) - 1) { before.apply(e) }
                // As the rules of its time made it: a retry spanning an upgrade is still a retry.
                // (Those of today, or those before the rules added since: a severity derived from a
                // vector's own metrics, today, from a v3.1 vector's base score before.)
                let first = try DomainEvent(original)
                let asRecorded = try? Lifecycle.eventsAsRecorded(for: command, report: before.reports[id], reportID: id)
                let asToday = asRecorded?.first == first ? nil
                    : try? Lifecycle.decide(command, report: before.reports[id], reportID: id, reporter: principal.role == .reporter, actor: principal.subject)
                guard asRecorded?.first == first || asToday?.first == first else {
                    // Only an admin is told which (protocol.md §13): the event may be one this
                    // principal does not see, such as a maintainer's note on a reporter's report.
                    let which = principal.role == .admin ? " (sequence \(original.sequence), \(original.type))" : ""
                    throw DomainError(.eventIDReused, "event id \(eventID) already names a different event\(which) on report \(id); choose a new id, or leave it out")
                }
                guard let report else {
                    throw DomainError(.invalidEvent, "report \(id)'s stream holds event \(eventID) but no valid submission")
                }
                var outcome = Outcome(report: report, events: [first], result: AppendResult(
                    firstSequence: original.sequence, lastSequence: original.sequence, streamVersion: original.streamVersion,
                    recordedAt: original.recordedAt, duplicate: true))
                // A retry is most often made because the first answer was lost: it says the same.
                outcome.notices = (try? deadlineNotices(command, report: report, at: original.occurredAt)) ?? []
                return outcome
            }
            // (After the retry check: a retry returns what it appended even if the person has
            // since asked to stay anonymous.)
            let (events, proposed) = try decide(command, on: report, id: id, principal, at: at, eventID: eventID)
            // A reporter's own response is the answer itself, which nothing else of theirs could
            // carry once it has moved the report on: a maintainer recording one (a reply by
            // e-mail) may leave it out. (Checked after the lifecycle, which refuses a response
            // where none is asked for, and after the retry check: one recorded before is a retry.)
            if principal.role == .reporter, case .respond(nil) = command {
                throw DomainError(
                    .invalidCommand,
                    "a reporter's response must carry the answer (--summary TEXT): recorded, it moves the report out of needs-info, and nothing else a reporter records can carry the answer after it")
            }
            let result: AppendResult
            do {
                result = try await store.append(to: stream, expecting: .exact(report?.version ?? 0), events: proposed)
            } catch {
                // Someone else appended to the report meanwhile: decide again on what they did.
                guard error.code == .wrongExpectedVersion, attempt < 5 else { throw Self.redacted(error, eventID: eventID, for: principal) }
                continue
            }
            heads.advance(to: result.lastSequence)
            // Evolve the report already loaded, rather than decoding its stream again.
            let t = at ?? result.recordedAt
            var updated = report
            for e in events {
                if case .reportSubmitted(let submitted) = e { updated = Report(id: id, submitted: submitted, at: t) } else { updated?.apply(e, at: t, recordedAt: result.recordedAt) }
            }
            guard let updated else { throw DomainError.noReport(id) }
            var outcome = Outcome(report: updated, events: events, result: result)
            // (Recorded already: a failure to work out the notice must not read as the command's.)
            outcome.notices = (try? deadlineNotices(command, report: updated, at: t)) ?? []
            return outcome
        }
    }

    /// A date agreed that the disclosure clock will not keep, said at once so that no one promises
    /// a reporter a date the clocks will call breached:
    /// - an embargo extension recorded, but the deadline it leaves is not the date agreed (the
    ///   policy caps extensions, or exploitation sets an earlier one);
    /// - a disclosure scheduled after the deadline in force (a scheduled date moves no deadline;
    ///   an embargo extension to it does).
    func deadlineNotices(_ command: ReportCommand, report: Report, at t: Timestamp) throws -> [String] {
        let date: Timestamp
        switch command {
        case .extendEmbargo(let until, _, _): date = until
        case .scheduleDisclosure(let scheduled): date = scheduled
        default: return []
        }
        guard let adopted = try projectState(report.project).0?.policy(at: report.submittedAt),
            let disclosure = Timers.clocks(for: report, policy: adopted, now: t).first(where: { $0.kind == .disclosure }),
            let due = disclosure.dueAt
        else { return [] }
        if case .scheduleDisclosure = command {
            guard disclosure.endedAt == nil, date > due else { return [] }
            let late = "report \(report.id)'s disclosure is due \(due)\(due < t ? " (passed)" : ""), before the date scheduled (\(date)): the disclosure clock will call it late"
            // The way to move the deadline, if there is one: an extension to the date, which the
            // lifecycle takes and which leaves the deadline there (the policy's cap on extensions,
            // or exploitation observed, may pin it earlier).
            let extending = ReportCommand.extendEmbargo(until: date, reason: "agreed", reporterAgreed: true)
            var trial = report
            if let events = try? Lifecycle.decide(extending, report: report, reportID: report.id, reporter: false, actor: "admin") {
                for e in events { trial.apply(e, at: t) }
            }
            let counted = trial.embargoExtensions.count > report.embargoExtensions.count
            let moved = counted ? Timers.clocks(for: trial, policy: adopted, now: t).first { $0.kind == .disclosure }?.dueAt : nil
            guard let moved, moved > due else {
                return [late + ", and no embargo extension can move the deadline there" + (disclosure.note.map { ": \($0)" } ?? "")]
            }
            guard moved == date else {
                // The policy caps extensions short of the date.
                return [
                    late + ", and an embargo extension can move the deadline to \(moved) at most (docket report extend-embargo \(report.id) --until \(moved) --reason … --reporter-agreed)"
                ]
            }
            return [
                late + " unless the deadline moves; if the reporter agreed to the later date, record it (docket report extend-embargo \(report.id) --until \(date) --reason … --reporter-agreed)"
            ]
        }
        guard due != date else { return [] }
        return ["report \(report.id)'s disclosure is due \(due)\(due < t ? " (passed)" : ""), not \(date)" + (disclosure.note.map { ": \($0)" } ?? "")]
    }

    /// The checks a command meets after `authorize`, in order (anonymity, the time, the lifecycle),
    /// and the events it appends, as the envelopes to propose: the first with `eventID` if given.
    /// For a submission under a free id and under a taken one alike (`refuseTakenID`).
    private func decide(
        _ command: ReportCommand, on report: Report?, id: String, _ principal: Principal, at: Timestamp?, eventID: EventID?
    ) throws -> (events: [DomainEvent], proposed: [ProposedEvent]) {
        try Self.refuseOverridingCreditWish(command, on: report, id: id, principal)
        if report == nil, case .submit(let e) = command { try refuseWithoutPolicy(e.project) }
        // A submission under an id taken (by a report the sender may see) is refused as that,
        // whatever time it gives, not as a time before that report's latest event.
        if let report, case .submit(let e) = command { try Lifecycle.check(.reportSubmitted(e), against: report, reportID: id) }
        try checkTime(at, report: report, id: id, principal)
        let events = try Lifecycle.decide(command, report: report, reportID: id, reporter: principal.role == .reporter, actor: principal.subject)
        if let report, case .embargoExtended(let e)? = events.first { try refuseShorterEmbargo(e, report: report, at: at ?? .now()) }
        try Lifecycle.refuseDatePassed(events.first, at: at ?? .now(), latest: report?.lastEventAt)
        var proposed: [ProposedEvent] = []
        for (i, e) in events.enumerated() {
            proposed.append(try e.proposed(id: i == 0 ? (eventID ?? .random()) : .random(), actor: principal.subject, occurredAt: at))
        }
        return (events, proposed)
    }

    /// A duplicate names a report that exists, and one its closer may see (else it is unknown to
    /// them, as any such report is), submitted by the time of the closing: a history imported
    /// out of order must not name as the original a report that came in later (as of the
    /// closing it did not exist yet, and no view as of then could show it).
    private func refuseHiddenOriginal(_ command: ReportCommand, on report: Report?, id: String, _ principal: Principal, at: Timestamp?, isRetry: Bool) throws {
        guard case .close(.duplicate, let original?, _) = command, original != id,
            (try? DomainStreams.validateIdentifier(original, what: "duplicate-of")) != nil
        else { return }
        // Who may see it judged first from its submission, so that a hidden original is refused as
        // quickly as a missing one (`submission(of:)`).
        guard let submitted = try submission(of: original), principal.canSee(submitted), let found = try load(report: original).0 else {
            throw DomainError(.invalidCommand, "no report \(original) to be a duplicate of; check the id (--duplicate-of)")
        }
        // A report already closed cannot be closed again, whatever it would name: the lifecycle
        // says so, rather than a word on the original.
        if !isRetry, report?.state == .closed { return }
        // An original: not a report itself closed as a duplicate, which would make a chain, or a
        // cycle in which no report stays open to be fixed. (One closed as a duplicate later, its
        // own duplicates still naming it, makes a chain its readers can follow.)
        // (Not on a retry, answered as its first attempt was: the original may have been closed
        // as a duplicate since.)
        if !isRetry, found.state == .closed, found.resolution == .duplicate, let its = found.duplicateOf {
            if its == id {
                throw DomainError(
                    .invalidCommand,
                    "report \(original) is closed as a duplicate of \(id): one of the two must stay the original (reopen \(original) first to make \(id) the duplicate)")
            }
            // Its original, followed down the chain as far as the closer may see: a report they
            // may not see is not named (the views hide the link from them too).
            var root: Report? = nil
            var next: String? = its
            var seen: Set<String> = [original]
            while let link = next, seen.insert(link).inserted, let submitted = try submission(of: link), principal.canSee(submitted), let r = try load(report: link).0 {
                root = r
                next = r.state == .closed && r.resolution == .duplicate ? r.duplicateOf : nil
            }
            // The chain ends at the report being closed: it is their original, and closing it as a
            // duplicate of one of them would leave no report open to be fixed.
            if let root, root.id == id {
                throw DomainError(
                    .invalidCommand,
                    "report \(original) is closed as a duplicate of a chain that ends at \(id), which is the original of them all: it cannot also be a duplicate of \(original) (reopen \(original) first to make \(id) the duplicate)")
            }
            if let root, next == nil {
                throw DomainError(
                    .invalidCommand, "report \(original) is itself closed as a duplicate; its original is \(root.id): name that (--duplicate-of \(root.id))")
            }
            throw DomainError(
                .invalidCommand,
                "report \(original) is itself closed as a duplicate, of a report you may not see: close this one otherwise (and say why in a note), or ask an admin")
        }
        let closing = at ?? .now()
        guard found.submittedAt <= closing else {
            throw DomainError(
                .invalidCommand,
                "report \(original) was submitted at \(found.submittedAt.rfc3339), after this closing (\(closing.rfc3339)): a report can only duplicate one that came in before it was closed; check --duplicate-of and --at")
        }
        // The reason is in the history the duplicate's reporter reads, which leaves out the
        // original when they may not see it (another reporter's): a reason naming it, or its
        // reporter, would tell them.
        if !isRetry, case .close(_, _, let reason?) = command, let report, found.reporter.handle != report.reporter.handle,
            let named = Self.mention(in: reason, of: found)
        {
            throw DomainError(
                .invalidCommand,
                "the reason names \(named), and \(id)'s reporter reads the reason in their report's history, which leaves out the original they may not see: leave it out of the reason (the original is recorded, and shown to those who may see it), and keep internal remarks for a note")
        }
    }

    /// How `text` names `report` or its reporter, if it does: a word of it that is the report's id
    /// ("report B-1") or, for a handle of three characters or more, the reporter's handle as
    /// credits compare them ("its reporter's handle bob").
    static func mention(in text: String, of report: Report) -> String? {
        let words = text.split { !($0.isLetter || $0.isNumber || "-_.@".contains($0)) }.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "._-")) }
        if words.contains(where: { $0.caseInsensitiveCompare(report.id) == .orderedSame }) { return "report \(report.id)" }
        let handle = Report.personKey(report.reporter.handle)
        if handle.count >= 3, words.contains(where: { Report.personKey($0) == handle }) { return "its reporter's handle \(report.reporter.handle)" }
        return nil
    }

    /// A submission under a report id taken by a report the principal may not see (`authorize`).
    private struct SubmissionUnderTakenID: Error {}

    /// Refuses a submission under an id taken by a report `principal` may not see, with
    /// `report-exists`, but only where a submission under a free id would have been recorded:
    /// it meets the same checks in the same order (the time, the fields, then the store's own:
    /// event size, an event id used elsewhere), so that which ids exist cannot be learnt for
    /// nothing. The store makes its checks on an append that cannot succeed (the report's stream
    /// is not empty, and it is expected to be) and refuses it for the version last.
    private func refuseTakenID(
        _ command: ReportCommand, report id: String, stream: StreamName, as principal: Principal, at: Timestamp?, eventID: EventID?
    ) async throws -> Never {
        let (_, proposed) = try decide(command, on: nil, id: id, principal, at: at, eventID: eventID)
        let result: AppendResult
        do {
            result = try await store.append(to: stream, expecting: .exact(0), events: proposed)
        } catch {
            guard error.code == .wrongExpectedVersion else { throw Self.redacted(error, eventID: eventID, for: principal) }
            throw DomainError(.reportExists, "report id \(id) is taken; choose another id")
        }
        // Not reachable: a stream once written is never empty again. (A retry matching an event
        // of it exactly would be the sender's own, on a report they can see.)
        throw ServerError("an append expecting report \(id)'s empty stream was answered (sequence \(result.lastSequence), duplicate \(result.duplicate))")
    }

    /// The store's error for an append, as `principal` may see it. Event ids are unique across
    /// the whole log, so an id already used on another stream fails the append; the store's
    /// message names that stream, its event type and sequence, which only an admin may learn of.
    static func redacted(_ error: StoreError, eventID: EventID?, for principal: Principal) -> StoreError {
        guard error.code == .eventIDReused, principal.role != .admin else { return error }
        let id = eventID.map { "event id \($0)" } ?? "an event id of this command"
        return StoreError(.eventIDReused, "\(id) is already used by another event; choose a new id, or leave it out")
    }

    /// How far ahead of this node's clock an event time may be (clock skew between machines).
    public static let futureSkew: Duration = .seconds(300)

    /// Event times: nobody can date an event in the future or before the report's latest event,
    /// with or without `--at`, so milestones stay in order. (Nor can a reporter choose one at
    /// all, their clocks being what policies measure: `refuseBeyondRole`.)
    func checkTime(_ at: Timestamp?, report: Report?, id: String, _ principal: Principal) throws {
        let when = at ?? .now()
        try Self.refuseImplausibleTime(when)
        if let report, when < report.lastEventAt {
            throw DomainError(.invalidCommand, "the event time \(when) is before report \(id)'s latest event (\(report.lastEventAt)); events are recorded in the order they happened\(at == nil ? " (give --at)" : "")")
        }
    }

    /// Refuses what `principal` may not do on any report, judged from the command alone: any
    /// command from an auditor or replica, a maintainer's submission to another project, and a
    /// reporter's submission as someone else or dated command. `execute` asks first, so the
    /// answer is the same whatever the id names, and a follower gives it rather than sending the
    /// command to the leader; `authorize` and `checkTime` judge the rest.
    static func refuseBeyondRole(_ command: ReportCommand, _ principal: Principal, at: Timestamp?) throws {
        try refuseReadOnly(principal)
        switch principal.role {
        case .maintainer:
            if case .submit(let e) = command, !principal.maintains(e.project) {
                throw Forbidden("a maintainer of \(principal.project ?? "?") cannot submit to project \(e.project)")
            }
        case .reporter:
            // Who the submission names, then the time.
            if case .submit(let e) = command, e.reporter.handle != principal.subject {
                throw Forbidden("a reporter can only submit reports as themselves (\(principal.subject))")
            }
            if at != nil { throw Forbidden("a reporter cannot set the time of an event; the node records when it happened") }
        default:
            break
        }
    }

    /// Refuses the roles that may change no report (auditors and replicas).
    static func refuseReadOnly(_ principal: Principal) throws {
        if principal.role == .auditor || principal.role == .replica {
            throw Forbidden("\(principal.role.withArticle) token cannot change reports")
        }
    }

    /// Reporters may only act on their own reports, and only as themselves; maintainers on their
    /// project's; auditors and replicas not at all. A report a principal may not see is reported
    /// as unknown, so its existence does not leak.
    func authorize(_ command: ReportCommand, on report: Report?, id: String, _ principal: Principal, at: Timestamp? = nil) throws {
        // A command on a report that does not exist is refused before anything else about the
        // report is checked: checked after, a refusal of the verb, the time or the arguments would
        // tell a reporter or maintainer that the id names someone else's report. (What the token
        // may do on no report at all is refused before this, in `execute`: `refuseBeyondRole`,
        // the same answer whatever the id names.)
        if report == nil, principal.role == .maintainer || principal.role == .reporter {
            if case .submit = command {} else { throw DomainError.noReport(id) }
        }
        switch principal.role {
        case .admin:
            return
        case .auditor, .replica:
            try Self.refuseReadOnly(principal)
        case .maintainer:
            if case .submit = command {
                // As for a free id (its project judged already, in `refuseBeyondRole`): the rest
                // in `refuseTakenID`.
                if let report, !principal.canSee(report) { throw SubmissionUnderTakenID() }
                return
            }
            if let report, !principal.maintains(report.project) { throw DomainError.noReport(id) }
        case .reporter:
            if let report, report.reporter.handle != principal.subject {
                guard case .submit = command else { throw DomainError.noReport(id) }
                // Report ids are one namespace, so a submission under a taken id must fail. It
                // fails only where one under a free id would have been recorded (`refuseTakenID`):
                // the handle already judged, as for a free id (`refuseBeyondRole`), then the rest
                // in the same order.
                throw SubmissionUnderTakenID()
            }
            switch command {
            case .submit:
                return  // as themselves (`refuseBeyondRole`)
            case .respond:
                return  // with its answer (`execute`, once the lifecycle has taken it)
            case .acceptCredit(let person, _, _), .declineCredit(let person):
                guard person == principal.subject else { throw Forbidden("a reporter can only accept or decline their own credit") }
            default:
                throw Forbidden("a reporter can submit, respond and accept or decline credit; not \(command.wireValue["verb"]?.stringValue ?? "this")")
            }
        }
    }

    /// Naming someone who is to stay anonymous (or by name someone to be credited by handle only)
    /// can put them at risk, and cannot be undone once a hall of fame is published: a maintainer's
    /// slip must not do it. The reporter may, with their
    /// own token, or an admin recording what someone asked by mail. (This guards against mistakes:
    /// a maintainer sees the report, contact included, and is trusted with it. Someone who
    /// declined credit is offered none by anyone: `Lifecycle`. They, and a reporter who asked for
    /// no credit, may change their mind, recorded by them or an admin, as anonymity is lifted.)
    static func refuseOverridingCreditWish(_ command: ReportCommand, on report: Report?, id: String, _ principal: Principal) throws {
        guard principal.role == .maintainer, case .acceptCredit(let person, _, let given) = command, let report else { return }
        // Someone who declined credit, or a reporter who asked for none (or got none from the
        // project's default), may accept it later; that, like lifting anonymity, is theirs or an
        // admin's to record.
        if report.askedForNoCredit(person) {
            throw Forbidden(
                "\(person) asked for no credit on report \(id) (or got none by the project's credit default); "
                    + "only an admin, or the reporter with their own token, can record that they now accept it")
        }
        if report.credit(of: person)?.status == .declined {
            throw Forbidden(
                "\(person) declined credit on report \(id); only an admin (recording what they asked), or the reporter with their own token, can record that they now accept it")
        }
        let preference = report.acceptedPreference(of: person, given: given)
        switch report.askedPreference(of: person) {
        case .anonymous where preference == .named || preference == .handle:
            throw Forbidden(
                "\(person) is to stay anonymous on report \(id) (as they asked, or by the project's credit default); "
                    + "only an admin, or the reporter with their own token, can have them named")
        case .handle where preference == .named:
            // Their name, not only their handle, would go into the hall of fame.
            throw Forbidden(
                "\(person) is to be credited by handle only on report \(id) (as they asked, or by the project's credit default); "
                    + "only an admin, or the reporter with their own token, can have them named")
        default:
            return
        }
    }

    /// The credit preference the project's policy gives reporters who do not say, for a report
    /// submitted at `t`: that of the policy the report is held to (`ProjectState.policy(at:)`),
    /// as its clocks are, not the latest one (a history imported with `--at` gets the default of
    /// its time).
    public func creditDefault(project: String, at t: Timestamp) throws -> CreditPreference {
        switch try projectState(project).0?.policy(at: t)?.policy.creditDefault ?? .named {
        case .named: return .named
        case .handle: return .handle
        case .anonymous: return .anonymous
        case .none: return .none
        }
    }

    /// The project as its stream says (nil if nothing was ever recorded of it), and the stream's version.
    /// Folded once per version of the stream (`projects`): a submission, an extension or an
    /// adoption otherwise read and parsed every policy the project ever adopted.
    func projectState(_ project: String) throws -> (ProjectState?, version: UInt64) {
        let stream = try DomainStreams.project(project)
        let version = try store.version(of: stream)
        if let known = projects.withLock({ $0[project] }), known.version == version { return (known.state, version) }
        var projection = Projection()
        let recorded = try store.read(stream: stream)
        for e in recorded { projection.apply(e) }
        let folded = (state: projection.projects[project], version: recorded.last?.streamVersion ?? 0)
        projects.withLock { $0[project] = folded }
        return folded
    }

    /// An embargo extension moves the disclosure deadline later. One that would not move it would
    /// be recorded, shown as the embargo's end, and counted by no clock, so it is refused: one to a
    /// date at or before the deadline in force (the policy's, as earlier extensions and a fix
    /// release moved it), and one past a deadline held where it is by exploitation in the wild
    /// (the policy's `exploited`) or by the policy's `max-extension`. (One recorded after the
    /// deadline had passed, grace included, is taken: the agreement is a fact, and the clock says
    /// it came too late to undo the breach.)
    func refuseShorterEmbargo(_ asked: EmbargoExtended, report: Report, at t: Timestamp) throws {
        let until = asked.until
        guard let adopted = try projectState(report.project).0?.policy(at: report.submittedAt),
            let disclosure = Timers.clocks(for: report, policy: adopted, now: t).first(where: { $0.kind == .disclosure }),
            disclosure.endedAt == nil, let due = disclosure.dueAt
        else { return }
        guard until > due else {
            throw DomainError(
                .invalidCommand,
                "report \(report.id)'s disclosure deadline is already \(due) (\(disclosure.target ?? "the policy's")\(report.embargoExtensions.isEmpty ? "" : ", as extended")); "
                    + "an extension must move it later, not to \(until)")
        }
        guard disclosure.state != .breached else { return }
        func deadline(of report: Report) -> Timestamp? {
            Timers.clocks(for: report, policy: adopted, now: t).first { $0.kind == .disclosure }?.dueAt
        }
        var extended = report
        extended.apply(.embargoExtended(asked), at: t)
        guard deadline(of: extended) == due else { return }
        // With `grace-on-request`, one recorded by the deadline also asks for its grace period:
        // taken if that moves no date (exploitation holds it) but grants time the clock would not
        // have had: breached without it and running with it, just after the deadline or just
        // after a date an earlier request asked for (where a grace granted in part ends).
        if adopted.policy.disclosure?.graceOnRequest == true {
            func state(of report: Report, at instant: Timestamp) -> ClockState? {
                Timers.clocks(for: report, policy: adopted, now: instant).first { $0.kind == .disclosure }?.state
            }
            let ends = [due] + report.embargoExtensions.map(\.until).filter { $0 > due && $0 < until }
            if ends.contains(where: { end in
                let after = end + .microseconds(1)
                return state(of: report, at: after) == .breached && state(of: extended, at: after) == .running
            }) {
                return
            }
        }
        // Held by exploitation if the same extension would move the deadline without it.
        var unexploited = extended
        unexploited.exploitedAt = nil
        if let observed = report.exploitedAt, let shortened = adopted.policy.disclosure?.exploited, let free = deadline(of: unexploited), free > due {
            // Exploitation holds either its own deadline or, once the fix is out, the after-fix date
            // (the deadline with neither exploitation nor extensions), whichever is later.
            var bare = unexploited
            bare.embargoExtensions = []
            if let afterFix = adopted.policy.disclosure?.afterFix, report.fixReleasedAt != nil, deadline(of: bare) == due {
                throw DomainError(
                    .invalidCommand,
                    "report \(report.id)'s disclosure is due \(due), the after-fix date of the policy's after-fix = \"\(afterFix)\": exploitation in the wild was observed \(observed), "
                        + "so under the policy's exploited = \"\(shortened)\" no embargo extension moves it later, and one to \(until) would be counted by no clock")
            }
            throw DomainError(
                .invalidCommand,
                "report \(report.id)'s disclosure is due \(due): exploitation in the wild was observed \(observed), and under the policy's "
                    + "exploited = \"\(shortened)\" no embargo extension moves that deadline later, so one to \(until) would be counted by no clock")
        }
        let cap = adopted.policy.disclosure?.maxExtension.map { "the policy's max-extension of \($0) allows no later deadline" } ?? "no clock would count it"
        throw DomainError(
            .invalidCommand, "report \(report.id)'s disclosure is due \(due), and an extension to \(until) would not move it: \(cap)")
    }

    /// A report goes to a project that has a policy: one sent to a misspelt project, or to one
    /// not set up yet, would be held to no deadline and seen by none of its maintainers.
    func refuseWithoutPolicy(_ project: String) throws {
        guard try projectState(project).0?.currentPolicy == nil else { return }
        throw DomainError(
            .unknownProject,
            "project \(project) has no policy in this ledger, so a report to it would be held to no deadline: check the project name, "
                + "or adopt the project's policy first (docket policy adopt --project \(project) FILE)")
    }

    /// Appends a project event (policy adoption, maintainers).
    ///
    /// An adoption is checked against the project's stream as read, and appended only if the
    /// stream is still as read (else checked again on what was appended meanwhile): two
    /// adoptions at once cannot both pass the version rule.
    public func appendProjectEvent(_ event: DomainEvent, project: String, as principal: Principal, at: Timestamp?) async throws -> AppendResult {
        try checkProjectEvent(project: project, as: principal, at: at)
        let stream = try DomainStreams.project(project)
        let proposed = try event.proposed(actor: principal.subject, occurredAt: at)
        var attempt = 0
        while true {
            attempt += 1
            let (state, version) = try projectState(project)
            if case .policyAdopted(let adopted) = event {
                try checkPolicyVersion(adopted, project: project, policies: state?.policies ?? [], at: at ?? .now())
                if let at { try refuseRetroactiveAdoption(project: project, policies: state?.policies ?? [], at: at) }
            }
            do {
                let result = try await store.append(to: stream, expecting: .exact(version), events: [proposed])
                heads.advance(to: result.lastSequence)
                return result
            } catch {
                guard error.code == .wrongExpectedVersion, attempt < 5 else { throw error }
            }
        }
    }

    /// A policy's version identifies its text within a project: an adoption must be a new text
    /// with a higher version than the policy in force when it takes effect (and, dated between
    /// two, a lower one than the next). Re-adopting the policy in force, or going back to an
    /// older version number, is refused: adopt the older text again under a new version.
    func checkPolicyVersion(_ adoption: PolicyAdopted, project: String, policies: [AdoptedPolicy], at t: Timestamp) throws {
        guard let new = try? Policy.parse(adoption.policyText, file: "policy") else { return }  // the adoption's own checks say why
        if let previous = policies.last(where: { $0.adoptedAt <= t }) {
            if previous.policy.encodeCanonical() == new.encodeCanonical() && previous.calendar.zone == adoption.zone {
                throw DomainError(
                    .invalidCommand, "project \(project) already has this policy (\(previous.policy.name) version \(previous.policy.version), adopted \(previous.adoptedAt))")
            }
            guard new.version > previous.policy.version else {
                throw DomainError(
                    .invalidCommand,
                    "project \(project)'s policy in force then is \(previous.policy.name) version \(previous.policy.version) (adopted \(previous.adoptedAt)); "
                        + "a new policy needs a higher version than that, not \(new.version)")
            }
        }
        if let next = policies.first(where: { $0.adoptedAt > t }), new.version >= next.policy.version {
            throw DomainError(
                .invalidCommand,
                "project \(project) adopted version \(next.policy.version) later (\(next.adoptedAt)); a policy dated before it needs a lower version than that, not \(new.version)"
                    + (next.policy.version <= 1 ? " — and there is none below 1: import a history's policies in order, before the one in force" : ""))
        }
    }

    /// A dated adoption (an admin importing a history) must not change the policy a report
    /// already in the ledger is held to: that would move its deadlines after the fact, and turn
    /// breaches into met deadlines in every view, past ones included. A report is held to the last
    /// policy adopted at or before its submission, or to the earliest if none was
    /// (`ProjectState.policy(at:)`); an adoption dated `at` would hold those submitted from `at`
    /// until the next adoption, and, as the earliest, those before it too.
    func refuseRetroactiveAdoption(project: String, policies: [AdoptedPolicy], at: Timestamp) throws {
        let times = policies.map(\.adoptedAt)
        // Where the adoption would go: after those adopted at or before it (as `Projection` files it).
        let k = times.lastIndex { $0 <= at }.map { $0 + 1 } ?? 0
        let next = k < times.count ? times[k] : nil
        let held = try projection(asOf: .latest(now: .now())).reports.values.filter { r in
            r.project == project && (r.submittedAt >= at ? next.map { r.submittedAt < $0 } ?? true : k == 0)
        }
        guard let first = held.min(by: { $0.submittedAt < $1.submittedAt }), let last = held.max(by: { $0.submittedAt < $1.submittedAt }) else { return }
        throw DomainError(
            .invalidCommand,
            "a policy adopted as of \(at) would hold \(held.count) report(s) of project \(project) already in the ledger (submitted \(first.submittedAt)"
                + "\(held.count > 1 ? " to \(last.submittedAt)" : ""), \(first.id) first) and move their deadlines after the fact; adopt it without "
                + "--at (it then holds the reports submitted from now on), or date it after \(last.submittedAt)")
    }

    /// Whether `principal` may append a project event to `project`, dated `at`.
    func checkProjectEvent(project: String, as principal: Principal, at: Timestamp?) throws {
        // Who may, first (a follower that sent anyone else to the leader would only have them
        // refused there); then a node that takes no writes says so: it does not judge one against
        // its copy.
        try DomainStreams.validateIdentifier(project, what: "project")
        guard principal.maintains(project) else { throw Forbidden("only an admin or a maintainer of \(project) can change its policy") }
        // Which policy a report is held to goes by adoption time: a maintainer who could date an
        // adoption before the reports could hold them all to a laxer policy after the fact, and
        // turn breaches into met deadlines, in every view of the past as well. Dating one, to
        // import a history, is for admins; nobody dates one in the future.
        if at != nil, principal.role != .admin {
            throw Forbidden("only an admin can set the time of a project event (to import a history); a maintainer's takes effect when the node records it")
        }
        if let refusal = store.writeRefusal { throw refusal }
        if let at { try Self.refuseImplausibleTime(at) }
    }

    /// An event time more than `futureSkew` ahead of this node's clock is refused, and one before
    /// `earliestEventTime`: the log cannot be corrected, and a slip of the year (0001, 1969 for
    /// 2026) would stand in every view, a deadline thousands of days late.
    static func refuseImplausibleTime(_ when: Timestamp) throws {
        let now = Timestamp.now()
        if when > now + futureSkew {
            throw DomainError(.invalidCommand, "the event time \(when) is in the future (this node's clock says \(now))")
        }
        if when < earliestEventTime {
            throw DomainError(.invalidCommand, "the event time \(when) is before \(earliestEventTime.rfc3339.prefix(10)): check the year (a history is dated as it happened, and the log keeps what it is given)")
        }
    }

    /// The earliest event time the ledger takes: 1990-01-01, before any coordinated disclosure
    /// programme whose history could be imported.
    public static let earliestEventTime = Timestamp(microseconds: 631_152_000_000_000)

    /// Appends raw events (administrators only: the raw log bypasses the lifecycle).
    public func append(to stream: StreamName, expecting expected: ExpectedVersion, events: [ProposedEvent], as principal: Principal) async throws -> AppendResult {
        try Self.mayAppendRaw(principal)
        try Self.refuseReservedStream(stream)
        let result = try await store.append(to: stream, expecting: expected, events: events)
        heads.advance(to: result.lastSequence)
        return result
    }

    /// `append` for a caller that must not wait (the event loop answering a small append in
    /// place): checks, encoding and compression happen before this returns (a failing one
    /// throws, and `completion` is never called); `completion` runs on the writer thread.
    public func append(
        to stream: StreamName, expecting expected: ExpectedVersion, events: [ProposedEvent], as principal: Principal,
        completion: @escaping @Sendable (Result<AppendResult, StoreError>) -> Void
    ) throws {
        try Self.mayAppendRaw(principal)
        try Self.refuseReservedStream(stream)
        let heads = self.heads
        try store.append(to: stream, expecting: expected, events: events) { result in
            if case .success(let r) = result { heads.advance(to: r.lastSequence) }
            completion(result)
        }
    }

    static func mayAppendRaw(_ principal: Principal) throws(Forbidden) {
        guard principal.role == .admin else { throw Forbidden("only an admin can append raw events; use report commands") }
    }

    /// Raw appends go to a ledger's own streams, never to those the node writes itself: a raw
    /// event in a report's stream would skip the lifecycle and the event schemas (an advisory
    /// published on a report never triaged; a malformed event every view then leaves out), one in
    /// a project's would adopt a policy unchecked, one in `system/` would forge a token, an epoch
    /// or a checkpoint.
    public static func refuseReservedStream(_ stream: StreamName) throws(Forbidden) {
        let name = stream.rawValue
        let written: String
        // By bytes (`DomainStreams.key`), as the views read stream names.
        if DomainStreams.key(of: name, after: DomainStreams.reportPrefix) != nil {
            written = "report commands (docket report …), which hold every event to the lifecycle and the event schemas"
        } else if DomainStreams.key(of: name, after: DomainStreams.projectPrefix) != nil {
            written = "policy commands (docket policy adopt …)"
        } else if DomainStreams.key(of: name, after: "system/") != nil {
            written = "the node itself (tokens: docket token …; checkpoints: docket checkpoint; epochs: docket promote)"
        } else {
            return
        }
        throw Forbidden("stream \(name) is written only by \(written); a raw append there is refused")
    }

    /// Waits until the head is past `sequence` (or `timeout` elapses); returns the head.
    public func waitForHead(after sequence: UInt64, timeout: Duration) async -> UInt64 {
        await heads.wait(after: sequence, timeout: timeout)
    }

    // MARK: Views

    /// Folds the log into every view as of `asOf`, resuming from the views checkpoint when it
    /// still matches the log, and leaving a fresh checkpoint behind when the log has grown.
    public func projection(asOf: AsOf) throws -> Projection {
        if case .latest = asOf { return try liveProjection() }
        return try fold(asOf: asOf)
    }

    /// The in-memory views, caught up to the head. Holding the lock while catching up keeps two
    /// queries from folding the same events twice; the copy returned shares storage (copy on write).
    private func liveProjection() throws -> Projection {
        try live.withLock { (cached: inout (projection: Projection, checkpointedAt: UInt64)?) throws -> Projection in
            // Taken out of the cache, so that (once earlier queries are done with their copies) the
            // views are folded on in place rather than copied first. If the fold fails the cache
            // stays empty, and the next query folds from the checkpoint; the views count as cold
            // (`liveViewsAreWarm`) until this fold succeeds.
            let taken = cached.take()
            liveSequence.store(0, ordering: .relaxed)
            var (projection, checkpointedAt) = try taken ?? { () throws -> (Projection, UInt64) in
                let p = try fold(asOf: .latest(now: .now()))
                return (p, p.lastSequence)
            }()
            // The same fold as a rebuild (events read in place), on this thread: a catch-up is
            // usually a few events, and splitting the views among threads would cost more.
            projection = try Projection.fold(store, onto: consume projection, asOf: .latest(now: .now()), partitions: 1, stop: foldStop)
            if let checkpoints, projection.lastSequence >= checkpointedAt + ViewCheckpoints.interval {
                checkpoints.save(projection, store: store)
                checkpointedAt = projection.lastSequence
            }
            cached = (projection, checkpointedAt)
            liveSequence.store(projection.lastSequence, ordering: .relaxed)
            return projection
        }
    }

    private func fold(asOf: AsOf) throws -> Projection {
        if case .latest = asOf {} else { return try pastView(asOf: asOf) }
        var projection = Projection()
        if let checkpoints, let restored = checkpoints.load(matching: store) { projection = restored }
        let resumedAt = projection.lastSequence
        projection = try Projection.fold(store, onto: consume projection, asOf: asOf, stop: foldStop)
        if let checkpoints, projection.lastSequence >= resumedAt + ViewCheckpoints.interval {
            checkpoints.save(projection, store: store)
        }
        return projection
    }

    /// A view of the past kept between queries: the key it was folded for (`asOf` without the
    /// instant its clocks are evaluated at, which the fold does not depend on), the last sequence
    /// its fold read, and when a query last used it.
    private struct PastView {
        var key: AsOf
        var projection: Projection
        var scanned: UInt64
        var usedAt: ContinuousClock.Instant

        func isIdle(_ limit: Duration) -> Bool { ContinuousClock.now - usedAt > limit }
    }

    /// Whether a view of the past is kept just now.
    var keepsPastView: Bool { past.withLock { $0 != nil } }

    /// The view as of a past sequence (through it) or instant (through the head). The pages of
    /// one read of such a view ask for it again and again, and each would otherwise fold the log
    /// anew (about a second for a million events): the last one folded is kept, and a query for the
    /// same view only folds in what was appended since (an event backdated into it, say), as
    /// folding from the start would.
    private func pastView(asOf: AsOf) throws -> Projection {
        var (key, last) = (asOf, UInt64.max)
        if case .sequence(let n, _) = asOf { (key, last) = (.sequence(n, now: Timestamp(microseconds: 0)), n) }
        // Taken out while it is folded on (in place, when no earlier answer still holds it), so
        // that no query waits on another's fold: one for another view meanwhile folds its own,
        // and the last fold to end is the view kept.
        var reuse = past.withLock { $0.take() }
        // The head now, read after the kept view was taken (which no fold can then have read
        // past): events appended while this fold runs are left to the next query, so that
        // `scanned` is exactly what was read.
        let through = min(last, store.head.sequence)
        if let kept = reuse, kept.key != key || kept.isIdle(pastViewIdle) || kept.scanned > through {
            reuse = nil
        }
        var projection = Projection()
        var scanned: UInt64? = nil
        // The sequence of the views checkpoint, when it was read: a fold of an earlier sequence
        // must not replace a later checkpoint.
        var checkpointed: UInt64 = 0
        if let kept = reuse {
            (projection, scanned) = (kept.projection, kept.scanned)
        } else if case .sequence = asOf, let checkpoints, let restored = checkpoints.load(matching: store) {
            // A checkpoint only helps folds that include every event up to it (not "as of an
            // instant", since event times need not follow log order; nor, to rely on nothing,
            // recording times).
            checkpointed = restored.lastSequence
            if restored.lastSequence <= through { projection = restored }
        }
        reuse = nil
        if scanned == nil { pastViewsFolded.add(1, ordering: .relaxed) }
        let resumedAt = projection.lastSequence
        projection = try Projection.fold(store, onto: consume projection, after: scanned, through: through, asOf: asOf, stop: foldStop)
        if case .sequence = asOf, scanned == nil, let checkpoints, projection.lastSequence >= resumedAt + ViewCheckpoints.interval,
            projection.lastSequence > checkpointed
        {
            checkpoints.save(projection, store: store)
        }
        let kept = PastView(key: key, projection: projection, scanned: through, usedAt: .now)
        past.withLock { $0 = kept }
        return projection
    }

    /// Drops the kept view of the past once it has gone unused for `pastViewIdle`: a node does so
    /// at each of its periodic token checks, off the requests' way, so that a quiet node does not
    /// hold it for ever.
    func dropIdlePastView() {
        let idle = past.withLock { cached -> PastView? in
            guard let kept = cached, kept.isIdle(pastViewIdle) else { return nil }
            return cached.take()
        }
        _ = consume idle  // freed here, outside the lock
    }

    /// Refuses a view query `principal` may not make at all (before any work is queued for it).
    public func checkQuery(_ query: ViewQuery, asOf spec: AsOfSpec, as principal: Principal) throws(Forbidden) {
        if principal.role == .replica { throw Forbidden("a replica token can only read the log") }
        // A view as of a past instant replays the whole log; it is a forensic tool for the programme.
        if principal.role == .reporter, spec != .now { throw Forbidden("views as of a past time or sequence are for maintainers") }
        if query.isReplay, ![.admin, .auditor, .maintainer].contains(principal.role) {
            throw Forbidden("replaying every view is for admins, auditors and maintainers")
        }
    }

    /// Whether a query of the views as they are now is answered from views caught up to within a
    /// few events of the head, rather than folded from a checkpoint or from the start.
    public var liveViewsAreWarm: Bool {
        let folded = liveSequence.load(ordering: .relaxed)
        return folded > 0 && store.head.sequence &- folded <= Self.warmLag
    }

    /// Events the live views may lag the head by and still count as warm: catching up that many
    /// is a moment's work.
    static let warmLag: UInt64 = 4096

    /// The instant the views as they are now are evaluated at: now, or a page's `at`, which must
    /// be of the last few minutes and not with `asOf` (a view of the past folds the log as of then).
    static func evaluationInstant(_ spec: AsOfSpec, _ page: ViewPage?) throws -> Timestamp {
        let now = Timestamp.now()
        guard let at = page?.at else { return now }
        guard spec == .now else { throw MessageError("query: \"at\" is for pages of the views as they are now, not with asOf") }
        // (A little ahead of this node's clock is allowed: another node's, or one stepped back.)
        guard at <= now + .seconds(60), now - at <= ViewPage.maximumAtAge else {
            throw ErrorBody(
                code: ViewPage.expired,
                message: "query: \"at\" must be an earlier page's, of the last \(ViewPage.maximumAtAge.components.seconds / 60) minutes (read the view again from its first page)")
        }
        return at
    }

    /// Answers a view query as `principal` sees it: a reporter sees their own reports only, a
    /// maintainer their project's; contacts are shown to maintainers, admins and the reporter.
    public func query(_ query: ViewQuery, asOf spec: AsOfSpec, page: ViewPage? = nil, as principal: Principal) throws -> Value {
        try checkQuery(query, asOf: spec, as: principal)
        // (Before the fold: a refused query must not fold the log, nor push out the view of the
        // past kept for others. And before the head is named: a maintainer is not told it.)
        if case .sequence(let n) = spec, n > 0, principal.role == .maintainer { try checkOwnSequence(n, as: principal) }
        // A sequence past the head would silently show the present (a year meant as a date, or a
        // sequence from another copy of the log).
        if case .sequence(let n) = spec, n > store.head.sequence {
            throw MessageError("asOf: the log ends at sequence \(store.head.sequence); there is no sequence \(n) (a time is given in RFC 3339, like 2026-01-31)")
        }
        // A view is of the ledger as it stands or stood: one "as of" a future instant would show
        // clocks running today as breached, in the same form as history.
        switch spec {
        case .time(let t), .recorded(let t):
            let now = Timestamp.now()
            guard t <= now + Self.futureSkew else {
                throw MessageError(
                    "asOf: \(t) is in the future (this node's clock says \(now)): a view shows the ledger as it stands or stood; to see what falls due by then, ask the timers view for clocks due within that long (docket timers --due-within)")
            }
        case .now, .sequence: break
        }
        let asOf = spec.resolve(now: try Self.evaluationInstant(spec, page))
        let projection = try projection(asOf: asOf)
        let renderer = ViewRenderer(
            projection: projection, now: projection.evaluationTime(asOf), principal: principal, asOf: asOf, store: store, pageOrders: pageOrders)
        // Events of report and project streams that do not decode (a damaged record, an admin's
        // raw append) are in no view: those who may see the whole log's health (as `replay` shows
        // it) are told so with every list of reports or clocks, and when a report is not found,
        // rather than left to take a missing report for one never submitted.
        let undecodable = principal.role == .admin || principal.role == .auditor ? projection.undecodable : 0
        do {
            let answer = try renderer.render(query, page: page)
            guard undecodable > 0, case .object(var members) = answer, answer["rows"] != nil else { return answer }
            members.append(("undecodable", .int(Int64(undecodable))))
            return .object(members)
        } catch let error as DomainError where error.code == .unknownReport && undecodable > 0 {
            throw DomainError(.unknownReport, error.message + "; but \(Self.undecodableNote(undecodable))")
        }
    }

    /// A view as of sequence `n` evaluates its clocks at the time event `n` was recorded (and
    /// says when): a maintainer may ask that only of an event of their own project, since asking
    /// it of every sequence in turn would tell them when each of the other projects' records was
    /// made. (That `n` is not theirs they can tell from their own histories.)
    private func checkOwnSequence(_ n: UInt64, as principal: Principal) throws {
        let stream = try store.event(at: n)?.stream.rawValue ?? ""
        let own: Bool
        if let id = DomainStreams.key(of: stream, after: DomainStreams.reportPrefix) {
            own = try submission(of: id).map { Principal.sameProject(principal.project, $0.project) } ?? false
        } else {
            own = DomainStreams.key(of: stream, after: DomainStreams.projectPrefix).map { Principal.sameProject(principal.project, $0) } ?? false
        }
        guard own else {
            throw Forbidden(
                "asOf: a view as of a sequence is evaluated when that event was recorded, and sequence \(n) is not an event of project \(principal.project ?? "?")'s: give the sequence of one of its events (the \"seq\" of `docket history REPORT --json`, or of a receipt), or a time")
        }
    }

    /// What a view says of `n` events that did not decode.
    public static func undecodableNote(_ n: Int) -> String {
        "\(n) event\(n == 1 ? "" : "s") of report or project streams in this log do\(n == 1 ? "es" : "") not decode against \(n == 1 ? "its" : "their") event schema and \(n == 1 ? "is" : "are") in no view (a damaged record, or a raw append): run docket verify"
    }
}

/// Lets subscribers wait for the head to move without polling the store.
final class HeadNotifier: Sendable {
    private struct State {
        var head: UInt64
        var waiters: [(after: UInt64, continuation: CheckedContinuation<UInt64, Never>, id: UInt64)] = []
        var nextID: UInt64 = 0
    }
    private let state: Mutex<State>

    init(head: UInt64) { state = Mutex(State(head: head)) }

    func advance(to sequence: UInt64) {
        let ready = state.withLock { s -> [(CheckedContinuation<UInt64, Never>, UInt64)] in
            guard sequence > s.head else { return [] }
            s.head = sequence
            let ready = s.waiters.filter { $0.after < sequence }
            s.waiters.removeAll { $0.after < sequence }
            return ready.map { ($0.continuation, sequence) }
        }
        for (c, head) in ready { c.resume(returning: head) }
    }

    func wait(after sequence: UInt64, timeout: Duration) async -> UInt64 {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let c = state.withLock { s -> (CheckedContinuation<UInt64, Never>, UInt64)? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return (s.waiters.remove(at: i).continuation, s.head)
            }
            if let (c, head) = c { c.resume(returning: head) }
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { c in
            let head = state.withLock { s -> UInt64? in
                if s.head > sequence { return s.head }
                s.waiters.append((sequence, c, id))
                return nil
            }
            if let head { c.resume(returning: head) }
        }
    }
}

/// The views checkpoint of a data directory: `views.checkpoint`, holding the projection and the
/// raw record it was folded up to, so a checkpoint from another (or a rolled-back) log is
/// recognised and ignored. Written atomically; losing it only costs a replay.
public struct ViewCheckpoints: Sendable {
    let path: String
    /// Write a new checkpoint once the log has grown by this many events.
    static let interval: UInt64 = 1000
    /// "DKVD": the binary projection (`Projection.checkpoint()`) after the SHA-256 of it, so that
    /// a damaged file (a flipped bit, a block of zeros) is rebuilt rather than shown as views.
    /// Files from before it ("DKVB", without the digest; "DKVC", a `Value` tree) are not read:
    /// the views are rebuilt and the file replaced. (The digest is no seal: whoever can write the
    /// directory can write a matching one. `check` folds the log again to catch that.)
    private static let magic: [UInt8] = Array("DKVD".utf8)
    private static let digestSize = SHA256.byteCount

    public init(dataDir: String) { path = dataDir + "/views.checkpoint" }

    /// What `verify` found of the views checkpoint.
    public enum Check: Sendable {
        /// There is none, or none views would resume from (another format, or a log it does not
        /// match): nothing a view shows comes from it.
        case unused
        /// It holds what folding the log through `sequence` gives.
        case matches(sequence: UInt64)
        /// It does not: views resuming from it would show what the log does not say.
        case differs(sequence: UInt64)
    }

    /// Whether the checkpoint views would resume from holds what the log says: it is a cache
    /// anyone who can write the data directory can edit, so the log is folded through its
    /// sequence again and encoded as `save` encodes it, byte for byte the file's. Reads only.
    public func check(against store: EventStore) throws -> Check {
        guard let (restored, saved) = loadWithPayload(matching: store), restored.lastSequence > 0 else { return .unused }
        let folded = try Projection.fold(store, through: restored.lastSequence, asOf: .sequence(restored.lastSequence, now: .now()))
        return folded.checkpoint().elementsEqual(saved) ? .matches(sequence: restored.lastSequence) : .differs(sequence: restored.lastSequence)
    }

    func load(matching store: EventStore) -> Projection? { loadWithPayload(matching: store)?.projection }

    /// The checkpoint views would resume from (nil if there is none, or it is of another format,
    /// damaged, or folded from another log), and the payload it was read from.
    ///
    /// The file: the magic, the length of the raw record it was folded up to (4 bytes, big-endian)
    /// and that record, the SHA-256 of the payload, and the payload.
    private func loadWithPayload(matching store: EventStore) -> (projection: Projection, payload: ArraySlice<UInt8>)? {
        guard let data = FileManager.default.contents(atPath: path), data.count > 8 else { return nil }
        let bytes = [UInt8](data)
        guard Array(bytes[0..<4]) == Self.magic else { return nil }
        let n = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        guard bytes.count >= 8 + n + Self.digestSize else { return nil }
        let record = Array(bytes[8..<(8 + n)])
        let digest = bytes[(8 + n)..<(8 + n + Self.digestSize)]
        let payload = bytes[(8 + n + Self.digestSize)...]
        guard SHA256.hash(data: payload).elementsEqual(digest), let projection = Projection(checkpoint: payload) else { return nil }
        guard projection.lastSequence == 0 || (try? store.rawRecord(at: projection.lastSequence)) == record else { return nil }
        return (projection, payload)
    }

    func save(_ projection: Projection, store: EventStore) {
        guard let record = try? store.rawRecord(at: projection.lastSequence) else { return }
        var bytes = Self.magic
        let n = record.count
        bytes += [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        bytes += record
        let payload = projection.checkpoint()
        bytes += SHA256.hash(data: payload)
        bytes += payload
        // Best effort: a read-only data directory simply gets no checkpoint. Readable by the node's
        // user alone, like the log: it holds every report's title, reporter and contact. (Under
        // each process's own temporary name: a node and a local view command may save at once.)
        try? writeFileAtomically(bytes, to: path, mode: 0o600, durable: false)
    }
}
