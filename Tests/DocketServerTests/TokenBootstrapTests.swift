import DocketCore
@testable import DocketServer
import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// The first admin token a node makes as it starts (`docket serve --admin-token-file`).
@Suite("admin token bootstrap")
struct TokenBootstrapTests {
    static func mode(of path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// `body` with a fresh ledger in `dir/data` and its tokens; `dir` is the test's own.
    static func withTokens(_ body: (String, EventStore, Tokens) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let store = try EventStore.open(directory: dir + "/data")
            defer { store.close() }
            try await body(dir, store, Tokens(ledger: Ledger(store: store, dataDir: dir + "/data")))
        }
    }

    @Test("made only while no admin token lets anyone in; its secret is written 0600 and works; a file is never overwritten")
    func bootstrap() async throws {
        try await Self.withTokens { dir, store, tokens in
            let file = dir + "/admin.token"
            // An auditor's token is not an admin's: it does not stop the bootstrap.
            _ = try await tokens.create(role: .auditor, project: nil, subject: "audit", expiresAt: nil, by: .local(actor: "t"))

            let made = try await tokens.bootstrapAdmin(secretFile: file, name: "alice")
            guard case .created(let id) = made else { Issue.record("expected a new token, got \(made)"); return }
            #expect(try Self.mode(of: file) == 0o600)
            let secret = try String(contentsOfFile: file, encoding: .utf8)
            #expect(secret.hasSuffix("\n") && secret.hasPrefix("dkt_\(id)_"))
            let principal = try tokens.authenticate(secret.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(principal.role == .admin && principal.subject == "alice" && principal.tokenID == id)
            #expect(store.head.sequence == 2)

            // A restart with the same option: the token is there, nothing is made or written.
            #expect(try await tokens.bootstrapAdmin(secretFile: file, name: "alice") == .adminExists(id: id))
            #expect(try await tokens.bootstrapAdmin(secretFile: dir + "/other.token", name: "bob") == .adminExists(id: id))
            #expect(!FileManager.default.fileExists(atPath: dir + "/other.token"))
            #expect(try String(contentsOfFile: file, encoding: .utf8) == secret)
            #expect(store.head.sequence == 2)

            // The last admin token is revoked only when that is said to be meant.
            let last = await #expect(throws: DomainError.self) { try await tokens.revoke(id: id, by: .local(actor: "t")) }
            #expect(last?.code == .invalidCommand && last?.message.contains("is the last admin token that lets anyone in") == true, "\(String(describing: last))")
            #expect(store.head.sequence == 2)
            // Once it is revoked there is none; the old file is not overwritten, and nothing is recorded.
            try await tokens.revoke(id: id, by: .local(actor: "t"), lastAdmin: true)
            let refused = await #expect(throws: ServerError.self) { try await tokens.bootstrapAdmin(secretFile: file, name: "alice") }
            #expect(refused?.message.contains("\(file) already exists") == true, "\(String(describing: refused))")
            #expect(try String(contentsOfFile: file, encoding: .utf8) == secret)
            #expect(store.head.sequence == 3)

            // Moved away, a new one is made.
            try FileManager.default.removeItem(atPath: file)
            guard case .created(let second) = try await tokens.bootstrapAdmin(secretFile: file, name: "alice") else {
                Issue.record("expected a second token"); return
            }
            #expect(second != id)
            #expect(try tokens.authenticate(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)).tokenID == second)
        }
    }

    @Test("an expired admin token lets no one in: a new one is made")
    func expired() async throws {
        try await Self.withTokens { dir, store, tokens in
            let now = Timestamp.now()
            let (old, _) = try await tokens.create(role: .admin, project: nil, subject: "old", expiresAt: now + .seconds(3600), by: .local(actor: "t"))
            #expect(try await tokens.bootstrapAdmin(secretFile: dir + "/a.token", name: "admin", now: now) == .adminExists(id: old.id))
            let later = try await tokens.bootstrapAdmin(secretFile: dir + "/a.token", name: "admin", now: now + .seconds(7200))
            guard case .created(let id) = later else { Issue.record("expected a new token, got \(later)"); return }
            #expect(id != old.id)
        }
    }

    @Test("a token holder's name, logged with their requests, cannot hold a line break or an escape sequence; nothing is recorded or written")
    func controlCharactersInNames() async throws {
        try await Self.withTokens { dir, store, tokens in
            for name in ["evil\n2026-12-02T00:00:00+0000 notice docket.node: FORGED", "x\u{1B}[2J", "a\rb"] {
                let refused = await #expect(throws: DomainError.self) {
                    _ = try await tokens.create(role: .maintainer, project: "p", subject: name, expiresAt: nil, by: .local(actor: "t"))
                }
                #expect(refused?.message.contains("--name holds a control character") == true, "\(String(describing: refused))")
                await #expect(throws: DomainError.self) { try await tokens.bootstrapAdmin(secretFile: dir + "/admin.token", name: name) }
                #expect(!FileManager.default.fileExists(atPath: dir + "/admin.token"))
            }
            // Nor an invisible character: a reporter's token name is the handle they submit under.
            for name in ["a\u{200B}da", "ada\u{00AD}"] {
                let refused = await #expect(throws: DomainError.self) {
                    _ = try await tokens.create(role: .reporter, project: nil, subject: name, expiresAt: nil, by: .local(actor: "t"))
                }
                #expect(refused?.message.hasPrefix("--name holds an invisible character (U+") == true, "\(String(describing: refused))")
            }
            // Nor a stack of combining marks, which would run over the lines around it where shown.
            let zalgo = "ada" + String(repeating: "\u{301}", count: 17)
            let stacked = await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .reporter, project: nil, subject: zalgo, expiresAt: nil, by: .local(actor: "t"))
            }
            #expect(stacked?.message.hasPrefix("--name has 17 combining marks stacked on one character (character 3)") == true, "\(String(describing: stacked))")
            let spaced = await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .reporter, project: nil, subject: "ada ", expiresAt: nil, by: .local(actor: "t"))
            }
            #expect(spaced?.message.hasPrefix(#"--name "ada " begins or ends with white space"#) == true, "\(String(describing: spaced))")
            #expect(store.head.sequence == 0)
            // A name recorded before names were checked is logged escaped.
            let principal = Principal(role: .maintainer, project: "p", subject: "evil\nFORGED", tokenID: "abc")
            #expect(principal.description == #"maintainer of p evil\nFORGED (token abc)"#)
        }
    }

    @Test("a reporter token whose handle differs from another's in use only in case is refused; one with the same handle is made, and the tokens sharing it are named")
    func reporterHandles() async throws {
        try await Self.withTokens { dir, store, tokens in
            let (ada, _) = try await tokens.create(role: .reporter, project: nil, subject: "ada", expiresAt: nil, by: .local(actor: "t"))
            #expect(try tokens.holders(ofHandleOf: ada).isEmpty)
            let before = store.head.sequence
            // Credits would take "Ada" for ada, while each token sees only its own handle's reports.
            let cased = await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .reporter, project: nil, subject: "Ada", expiresAt: nil, by: .local(actor: "t"))
            }
            #expect(cased?.message.hasPrefix(#"--name "Ada" is reporter token \#(ada.id)'s handle "ada" to credits and halls of fame"#) == true, "\(String(describing: cased))")
            #expect(cased?.message.hasSuffix("give --name ada exactly; for someone else, a handle of their own") == true, "\(String(describing: cased))")
            #expect(store.head.sequence == before)
            // A maintainer (or another role) of that name is someone else's business.
            _ = try await tokens.create(role: .maintainer, project: "p", subject: "Ada", expiresAt: nil, by: .local(actor: "t"))
            // A second token of ada's: made, and the first named as sharing her reports.
            let (again, _) = try await tokens.create(role: .reporter, project: nil, subject: "ada", expiresAt: nil, by: .local(actor: "t"))
            #expect(try tokens.holders(ofHandleOf: again) == Tokens.HandleHolders(inUse: [ada]))
            // A revoked token is a former holder (whoever holds the handle now sees what it
            // reported); its handle is still ada's to credits, so "Ada" is still refused.
            try await tokens.revoke(id: ada.id, by: .local(actor: "t"), lastAdmin: false)
            let revokedAda = try #require(try tokens.records()[ada.id])
            #expect(try tokens.holders(ofHandleOf: again) == Tokens.HandleHolders(former: [revokedAda]))
            try await tokens.revoke(id: again.id, by: .local(actor: "t"), lastAdmin: false)
            await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .reporter, project: nil, subject: "Ada", expiresAt: nil, by: .local(actor: "t"))
            }
        }
    }

    @Test("a reporter whose handle was taken before the rules of handles (\"@ada\") gets a new token under it, to see their own reports; \"ada\" beside it is refused")
    func legacyReporterHandle() async throws {
        try await Self.withTokens { dir, store, tokens in
            // A token recorded by a build before handles could not begin with @.
            let legacy = try ProposedEvent(
                type: try EventType("TokenCreated"), actor: "admin",
                data: ["id": "0123456789ab", "role": "reporter", "subject": "@ada", "sha256": .string(String(repeating: "0", count: 64))])
            _ = try await store.append(to: Tokens.stream, events: [legacy])
            let (renewed, _) = try await tokens.create(role: .reporter, project: nil, subject: "@ada", expiresAt: nil, by: .local(actor: "t"))
            #expect(try tokens.holders(ofHandleOf: renewed).inUse.map(\.id) == ["0123456789ab"])
            let variant = await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .reporter, project: nil, subject: "ada", expiresAt: nil, by: .local(actor: "t"))
            }
            #expect(variant?.message.hasPrefix(#"--name "ada" is reporter token 0123456789ab's handle "@ada" to credits"#) == true, "\(String(describing: variant))")
            // Another role's token is held to the rule.
            let maintainer = await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .maintainer, project: "p", subject: "@ada", expiresAt: nil, by: .local(actor: "t"))
            }
            #expect(maintainer?.message.hasPrefix(#"--name "@ada" begins with @"#) == true, "\(String(describing: maintainer))")
            // A reporter a maintainer filed reports for under "@zed", before the rule, with no
            // token: their first token takes that handle, or it would see none of their reports.
            let ledger = Ledger(store: store, dataDir: dir + "/data")
            _ = try await ledger.appendProjectEvent(
                .policyAdopted(PolicyAdopted(policyText: try Policy.parse(SyntheticReports.policyText, file: "p").encodeCanonical(), zone: .utc)),
                project: "p", as: .local(actor: "t"), at: nil)
            let legacySubmission = try DomainEvent.reportSubmitted(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: "@zed"))).proposed(actor: "m", occurredAt: nil)
            _ = try await store.append(to: try DomainStreams.report("Z-1"), expecting: .noStream, events: [legacySubmission])
            _ = try await tokens.create(role: .reporter, project: nil, subject: "@zed", expiresAt: nil, by: .local(actor: "t"))
            // So does one whose handle on record stacks more combining marks than are now taken.
            let stacked = "wu" + String(repeating: "\u{301}", count: 20)
            let stackedSubmission = try DomainEvent.reportSubmitted(ReportSubmitted(project: "p", title: "t", reporter: Reporter(handle: stacked))).proposed(actor: "m", occurredAt: nil)
            _ = try await store.append(to: try DomainStreams.report("Z-2"), expecting: .noStream, events: [stackedSubmission])
            _ = try await tokens.create(role: .reporter, project: nil, subject: stacked, expiresAt: nil, by: .local(actor: "t"))
            await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .maintainer, project: "p", subject: stacked, expiresAt: nil, by: .local(actor: "t"))
            }
            await #expect(throws: DomainError.self) {
                _ = try await tokens.create(role: .reporter, project: nil, subject: "@yan", expiresAt: nil, by: .local(actor: "t"))
            }
        }
    }

    @Test("a secret that cannot be written is never recorded")
    func unwritable() async throws {
        try await Self.withTokens { dir, store, tokens in
            let file = dir + "/missing/admin.token"
            let refused = await #expect(throws: ServerError.self) { try await tokens.bootstrapAdmin(secretFile: file, name: "admin") }
            #expect(refused?.message.contains("cannot write the admin token to \(file)") == true, "\(String(describing: refused))")
            #expect(store.head.sequence == 0)
            let recorded = try tokens.records()
            #expect(recorded.isEmpty)
        }
    }
}
