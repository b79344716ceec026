public import Foundation

/// The package's root directory, found from this file's path (`Sources/DocketTestSupport/…`).
public let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Sources/DocketTestSupport
    .deletingLastPathComponent()  // Sources
    .deletingLastPathComponent()  // package root

/// `relative` under the shared directory beside the package (`../shared`: the design, the seed
/// policies and the published vector files), or under `DOCKET_SHARED_DIR` when it is set.
public func sharedFile(_ relative: String) -> URL {
    if let shared = ProcessInfo.processInfo.environment["DOCKET_SHARED_DIR"], !shared.isEmpty {
        return URL(fileURLWithPath: shared).appendingPathComponent(relative)
    }
    return packageRoot.appendingPathComponent("../shared/" + relative).standardizedFileURL
}
