import Foundation

/// A fresh directory under the system temporary directory, removed when `body` returns: every
/// test gets its own, so tests run in parallel without sharing a data directory.
public func withTemporaryDirectory<T>(
    _ label: String = "docket-test", _ body: (String) async throws -> T
) async rethrows -> T {
    let path = makeTemporaryDirectory(label)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Creates a fresh, empty temporary directory and returns its path; the caller removes it.
public func makeTemporaryDirectory(_ label: String = "docket-test") -> String {
    var template = Array((NSTemporaryDirectory() + "/\(label).XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "cannot create a temporary directory: errno \(errno)")
    return String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
}
