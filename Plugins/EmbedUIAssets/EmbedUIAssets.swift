import Foundation
import PackagePlugin

/// Embeds a target's `Assets/` folder (the web UI) in its Swift sources at build time, so the binaries
/// carry the UI and the repository holds each file once. SwiftPM's `embedInCode` resources would do
/// it too, as `[UInt8]` array literals the compiler type-checks element by element (about 20 s per
/// 100 KB); string literals compile at once.
@main struct EmbedUIAssets: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let assets = target.directoryURL.appending(path: "Assets")
        let files = (FileManager.default.enumerator(at: assets, includingPropertiesForKeys: [.isRegularFileKey])?.allObjects ?? [])
            .compactMap { $0 as? URL }
            .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
        let output = context.pluginWorkDirectoryURL.appending(path: "UIAssetFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) web UI files in \(target.name)",
                executable: try context.tool(named: "UIAssetEmbedder").url,
                arguments: [assets.path(percentEncoded: false), output.path(percentEncoded: false)],
                inputFiles: files, outputFiles: [output])
        ]
    }
}
