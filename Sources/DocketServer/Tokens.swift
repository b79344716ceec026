import Crypto
public import DocketCore
import DocketStore
import Foundation

/// Access tokens, kept in the ledger itself (stream `system/tokens`) so replicas hold them too.
///
/// A token is `dkt_<id>_<secret>`: a 12-hex-digit id, then 32 random bytes in hex. The ledger
/// stores only the SHA-256 of the secret; the secret is printed once, when the token is made.
/// Verification compares hashes in constant time. Tokens can expire and be revoked.
public struct Tokens: Sendable {
    public static let stream = try! StreamName("system/tokens")
    let ledger: Ledger

    public init(ledger: Ledger) { self.ledger = ledger }

    /// A token as the ledger records it.
    public struct Record: Sendable, Hashable {
        public var id: String
        public var role: Role
        public var project: String?
        public var subject: String
        public var secretHash: [UInt8]
        public var createdAt: Timestamp
        public var expiresAt: Timestamp?
        public var revokedAt: Timestamp?
        /// A replica token of a node that may take over as leader: with it, that node may depose
        /// the leader (FENCE, or a later epoch presented in REPLICATE; protocol.md §17.6). Other
        /// replica tokens only read. (Replica tokens made before 0.3.1, which could all depose,
        /// still can: false only when recorded so.)
        public var standby = false
    }

    /// Why a token was refused. The message never includes the token.
    public struct Refused: Error, Sendable, CustomStringConvertible {
        public var code: String
        public var message: String
        public var description: String { "\(code): \(message)" }

        /// The refusal of a token id the ledger has no record of (or whose secret does not match:
        /// the two are told apart to no one).
        static func unknown(_ id: String) -> Refused { Refused(code: "unknown-token", message: "token \(id) is not known to this ledger, or its secret is wrong") }
    }

    /// Every token, by id, as the log says now.
    public func records() throws -> [String: Record] {
        var out: [String: Record] = [:]
        for e in try ledger.store.read(stream: Self.stream) {
            let d = e.data
            switch e.type.rawValue {
            case "TokenCreated":
                guard let id = d["id"]?.stringValue, let role = d["role"]?.stringValue.flatMap(Role.init(rawValue:)),
                    let subject = d["subject"]?.stringValue, let hash = d["sha256"]?.stringValue.flatMap(Hex.decode)
                else { continue }
                out[id] = Record(
                    id: id, role: role, project: d["project"]?.stringValue, subject: subject, secretHash: hash, createdAt: e.occurredAt,
                    expiresAt: d["expiresAt"]?.stringValue.flatMap { try? Timestamp(rfc3339: $0) }, revokedAt: nil,
                    standby: role == .replica && d["standby"]?.boolValue != false)
            case "TokenRevoked":
                if let id = d["id"]?.stringValue { out[id]?.revokedAt = e.occurredAt }
            default:
                continue
            }
        }
        return out
    }

    /// A new token's id and secret, made before it is recorded.
    struct Minted {
        let id: String
        let secret: String
        /// What its holder presents.
        var token: String { "dkt_\(id)_\(secret)" }

        static func random() -> Minted {
            var g = SystemRandomNumberGenerator()
            return Minted(
                id: Hex.encode((0..<6).map { _ in UInt8.random(in: 0...255, using: &g) }),
                secret: Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }))
        }
    }

    /// Makes a token and records its hash; returns the record and the secret (shown once).
    /// `standby`: a replica token of a node that may take over as leader (`Record.standby`).
    public func create(
        role: Role, project: String?, subject: String, expiresAt: Timestamp?, standby: Bool = false, by principal: Principal
    ) async throws -> (Record, String) {
        try await create(role: role, project: project, subject: subject, expiresAt: expiresAt, standby: standby, by: principal, minted: .random())
    }

    func create(
        role: Role, project: String?, subject: String, expiresAt: Timestamp?, standby: Bool = false, by principal: Principal, minted: Minted
    ) async throws -> (Record, String) {
        // Who may, first: a follower that sent anyone else to the leader would only have them refused there.
        guard principal.role == .admin else { throw Forbidden("only an admin can create tokens") }
        if let refusal = ledger.store.writeRefusal { throw refusal }
        if standby, role != .replica {
            throw DomainError(.invalidCommand, "standby is for replica tokens (a standby node follows the leader with one)")
        }
        if role == .maintainer {
            guard let project else { throw DomainError(.invalidCommand, "a maintainer token needs --project") }
            try DomainStreams.validateIdentifier(project, what: "project")
        } else if project != nil {
            throw DomainError(.invalidCommand, "only maintainer tokens belong to a project")
        }
        guard !subject.isEmpty, subject.utf8.count <= ProposedEvent.maximumActorLength else {
            throw DomainError(.invalidCommand, "--name must be 1–\(ProposedEvent.maximumActorLength) bytes")
        }
        // The name is logged with every request the token makes, and is the actor of every event.
        if let refusal = UntrustedText.refusal(subject, field: "--name", multiLine: false) {
            throw DomainError(.invalidCommand, refusal + ": a name takes printable characters only")
        }
        // It is the handle a reporter submits and answers credit under, and the actor every
        // event names: held to the rule of handles (`Lifecycle.identityFields`), or the reporter
        // could not submit under it. A reporter's new token under a handle a token of theirs was
        // made with before a rule was added ("@ada") keeps it: their reports are that handle's.
        let records = try records().values
        let heldBefore = role == .reporter && records.contains { $0.role == .reporter && $0.subject == subject }
        // Nor a stack of combining marks ("Zalgo"), which runs over the lines around it in the
        // tables and halls of fame that show it, as a command's texts may not hold one.
        if !heldBefore,
            let refusal = UntrustedText.stackRefusal(subject, field: "--name") ?? UntrustedText.identityRefusal(subject, field: "--name", kind: .handle)
        {
            // Nor does one a maintainer filed reports under, with no token, before the rule: only
            // here are the views read (a fold, on a node whose views are cold), for a name refused
            // otherwise.
            guard role == .reporter, try ledger.projection(asOf: .latest(now: .now())).reports.values.contains(where: { $0.reporter.handle == subject }) else {
                throw DomainError(.invalidCommand, refusal)
            }
        }
        if let expiresAt, expiresAt <= .now() {
            throw DomainError(.invalidCommand, "expiresAt \(expiresAt.rfc3339) has passed: the token could never be used (give a time to come, or none)")
        }
        // (A handle already held exactly adds no new way to be taken for someone: a legacy pair
        // such as "carol" and "Carol" each keeps getting tokens.)
        if role == .reporter, !heldBefore { try refuseVariant(of: subject, among: records) }
        let (id, secret) = (minted.id, minted.secret)
        let hash = Array(SHA256.hash(data: Array(secret.utf8)))
        var data: [(key: String, value: Value)] = [
            ("id", .string(id)), ("role", .string(role.rawValue)), ("subject", .string(subject)), ("sha256", .string(Hex.encode(hash))),
        ]
        if let project { data.append(("project", .string(project))) }
        if let expiresAt { data.append(("expiresAt", .string(expiresAt.rfc3339))) }
        // Said of every replica token, either way (one recorded without it stands by: `records`).
        if role == .replica { data.append(("standby", .bool(standby))) }
        let event = try ProposedEvent(type: try EventType("TokenCreated"), actor: principal.subject, data: .object(data))
        let result = try await ledger.store.append(to: Self.stream, events: [event])
        ledger.heads.advance(to: result.lastSequence)
        let record = Record(
            id: id, role: role, project: project, subject: subject, secretHash: hash, createdAt: result.recordedAt, expiresAt: expiresAt, standby: standby)
        return (record, minted.token)
    }

    /// Refuses a reporter token for a handle that credits take for another reporter token's
    /// (`Report.personKey`: the same but for case, or, from before the rules of handles, for
    /// surrounding space or an `@`), revoked or expired tokens included: each token sees the
    /// reports of its own handle exactly, so two people could share a hall-of-fame entry, or one
    /// person's new token miss their own reports. (Another token with exactly the same handle is
    /// the same person's, and made: `holders(ofHandleOf:)`.)
    private func refuseVariant(of subject: String, among records: some Sequence<Record>) throws {
        let key = Report.personKey(subject)
        guard let other = records.filter({ $0.role == .reporter && $0.subject != subject && Report.personKey($0.subject) == key }).min(by: { $0.createdAt < $1.createdAt })
        else { return }
        let handle = UntrustedText.displayable(other.subject)
        throw DomainError(
            .invalidCommand,
            "--name \"\(UntrustedText.displayable(subject))\" is reporter token \(other.id)'s handle \"\(handle)\" to credits and halls of fame, which tell handles apart without case (or surrounding space or an @), while each token sees only the reports of its own handle exactly. For another token of the same person give --name \(handle) exactly; for someone else, a handle of their own")
    }

    /// The other reporter tokens made with exactly a reporter token's handle, oldest first.
    public struct HandleHolders: Sendable, Equatable {
        /// Those still in use: their holders see and act on the same reports as its holder (a
        /// second token of one person, or two people given one handle by mistake).
        public var inUse: [Record] = []
        /// Those revoked or expired: the reports filed under the handle before are its holder's to
        /// see now (the same person's new token, or a handle given again to someone else).
        public var former: [Record] = []
        public var isEmpty: Bool { inUse.isEmpty && former.isEmpty }

        public init(inUse: [Record] = [], former: [Record] = []) {
            self.inUse = inUse
            self.former = former
        }
    }

    /// The other reporter tokens that hold or held exactly `record`'s handle, which `token
    /// create` names (none for a token of another role).
    public func holders(ofHandleOf record: Record) throws -> HandleHolders {
        guard record.role == .reporter else { return HandleHolders() }
        let now = Timestamp.now()
        var holders = HandleHolders()
        for other in try records().values.filter({ $0.role == .reporter && $0.id != record.id && $0.subject == record.subject }).sorted(by: { $0.createdAt < $1.createdAt }) {
            if Self.refusal(other, now: now) == nil { holders.inUse.append(other) } else { holders.former.append(other) }
        }
        return holders
    }

    /// The earliest admin token that lets its holder in at `now`, if any: without one, nobody can
    /// make tokens or run admin requests on the node.
    public func usableAdmin(now: Timestamp = .now()) throws -> Record? {
        try records().values.filter { $0.role == .admin && Self.refusal($0, now: now) == nil }.min { $0.createdAt < $1.createdAt }
    }

    /// What `bootstrapAdmin` found or did.
    public enum Bootstrap: Sendable, Equatable {
        /// It made the admin token with this id.
        case created(id: String)
        /// The ledger already has an admin token that lets its holder in (this one): nothing done.
        case adminExists(id: String)
    }

    /// A first admin token for a node's ledger, made while the node starts: so that the node a
    /// fresh data directory runs on can be used at once, without stopping it to make one.
    ///
    /// Only when no admin token lets anyone in (none was ever made, or each was revoked or has
    /// expired at `now`): then a token of `name` is made and its secret written to `path`, in a
    /// file created 0600 and synced *before* the token is recorded, so that no admin token is ever
    /// recorded whose secret was lost. A file already at `path` is never overwritten: that is an
    /// error naming it (it may hold a token someone still relies on), and nothing is recorded.
    public func bootstrapAdmin(secretFile path: String, name: String, now: Timestamp = .now()) async throws -> Bootstrap {
        if let admin = try usableAdmin(now: now) { return .adminExists(id: admin.id) }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ServerError(
                "this ledger has no admin token that lets anyone in, and \(path) already exists: move it away (or name another "
                    + "file) and a new admin token will be written there")
        }
        let minted = Minted.random()
        do throws(StoreError) {
            try writeFileAtomically(Array((minted.token + "\n").utf8), to: path, mode: 0o600, durable: true, exclusive: true)
        } catch {
            throw ServerError("cannot write the admin token to \(path): \(error.message)")
        }
        do {
            let (record, _) = try await create(role: .admin, project: nil, subject: name, expiresAt: nil, by: .local(actor: "node"), minted: minted)
            return .created(id: record.id)
        } catch {
            // Not recorded: a file holding a token nobody can use must not outlive the failure.
            unlink(path)
            throw error
        }
    }

    ///
    /// The last admin token that lets anyone in is revoked only when `lastAdmin` says that is
    /// meant: after it, nobody could make tokens or run admin requests until the node was
    /// restarted with `--admin-token-file` (or stopped, for `docket token create` on its data
    /// directory). Rotating is making the new admin token first.
    public func revoke(id: String, by principal: Principal, lastAdmin: Bool = false) async throws {
        guard principal.role == .admin else { throw Forbidden("only an admin can revoke tokens") }
        if let refusal = ledger.store.writeRefusal { throw refusal }
        let records = try records()
        guard let record = records[id] else { throw DomainError(.invalidCommand, "no token \(id)") }
        guard record.revokedAt == nil else { throw DomainError(.invalidCommand, "token \(id) is already revoked") }
        let now = Timestamp.now()
        if !lastAdmin, record.role == .admin, Self.refusal(record, now: now) == nil,
            !records.values.contains(where: { $0.id != id && $0.role == .admin && Self.refusal($0, now: now) == nil })
        {
            throw DomainError(
                .invalidCommand,
                "token \(id) is the last admin token that lets anyone in: revoked, nobody could make tokens or run admin requests until the node "
                    + "is restarted with --admin-token-file. Make another admin token first (docket token create --role admin), "
                    + "or say it is meant (--last-admin; lastAdmin: true)")
        }
        let event = try ProposedEvent(type: try EventType("TokenRevoked"), actor: principal.subject, data: .object([("id", .string(id))]))
        let result = try await ledger.store.append(to: Self.stream, events: [event])
        ledger.heads.advance(to: result.lastSequence)
    }

    /// Why `record`'s token no longer lets anyone in at `now`: revoked or expired (nil: it does).
    public static func refusal(_ record: Record, now: Timestamp) -> Refused? {
        if let revoked = record.revokedAt { return Refused(code: "token-revoked", message: "token \(record.id) was revoked at \(revoked)") }
        if let expires = record.expiresAt, expires <= now { return Refused(code: "token-expired", message: "token \(record.id) expired at \(expires)") }
        return nil
    }

    /// The principal a presented token stands for, checked against `records` (the log's, read
    /// now, by default).
    public func authenticate(_ token: String, records: [String: Record]? = nil, now: Timestamp = .now()) throws -> Principal {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "dkt", parts[1].utf8.count == 12, parts[2].utf8.count == 64 else {
            throw Refused(code: "bad-token", message: "that is not a Docket token (dkt_<id>_<secret>)")
        }
        let id = String(parts[1])
        guard let record = try (records ?? self.records())[id] else { throw Refused.unknown(id) }
        let presented = Array(SHA256.hash(data: Array(parts[2].utf8)))
        guard Self.constantTimeEqual(presented, record.secretHash) else { throw Refused.unknown(id) }
        if let refused = Self.refusal(record, now: now) { throw refused }
        return Principal(role: record.role, project: record.project, subject: record.subject, tokenID: id, standby: record.standby)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
