import Foundation
import NIOCore
import Testing

@testable import CinderWebUI

@Suite struct UIAssetsTests {
    static let assetsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Libraries/CinderWebUI/Assets")

    /// The binary serves what the build plugin embedded: every file of Assets/, byte for byte.
    @Test func embeddedFilesAreTheAssetFiles() throws {
        var onDisk: [String: String] = [:]
        let root = Self.assetsDirectory.standardizedFileURL.path
        let walker = FileManager.default.enumerator(atPath: root)
        while let relative = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = root + "/" + relative
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            onDisk[relative] = try String(contentsOfFile: path, encoding: .utf8)
        }
        let embedded = Dictionary(uniqueKeysWithValues: UIAssetFiles.files.map { ($0.path, $0.text) })
        #expect(Set(embedded.keys) == Set(onDisk.keys))
        for (path, text) in onDisk {
            #expect(embedded[path] == text, "\(path) differs from what was embedded")
        }
    }

    /// Every relative import of every module names a file that is served, so no screen fails to load
    /// on a typo that only one path through the UI would reach.
    @Test func everyImportResolves() throws {
        let assets = UIAssets(authEnabled: false)
        let pattern = try Regex(#"(?:from|import)\s*\(?\s*'(\.{1,2}/[^']+)'"#)
        for file in UIAssetFiles.files where file.path.hasSuffix(".js") {
            let base = URL(fileURLWithPath: "/" + file.path).deletingLastPathComponent()
            for match in file.text.matches(of: pattern) {
                let target = String(match.output[1].substring ?? "")
                let resolved = String(base.appendingPathComponent(target).standardized.path.dropFirst())
                #expect(assets.file(resolved) != nil, "\(file.path) imports \(target), which is not served")
            }
        }
    }

    @Test func thePageNamesThisBuildsFilesAndTheAuthSetting() throws {
        let on = UIAssets(authEnabled: true)
        let page = String(buffer: on.page.body)
        #expect(page.contains(#"data-auth="on""#))
        #expect(page.contains("/assets/\(on.version)/app.js"))
        #expect(!page.contains("{{"))
        for name in UIAssets.preloaded {
            #expect(page.contains("/assets/\(on.version)/\(name)"))
            #expect(on.file(name) != nil, "preloaded \(name) is not served")
        }
        #expect(String(buffer: UIAssets(authEnabled: false).page.body).contains(#"data-auth="off""#))
        // Compressed copies exist for text and are smaller.
        let app = try #require(on.file("app.js"))
        let gzipped = try #require(app.gzipped)
        #expect(gzipped.readableBytes < app.body.readableBytes)
    }
}
