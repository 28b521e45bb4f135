import Foundation

// UIAssetEmbedder ASSETS_DIR OUTPUT.swift — writes every file under ASSETS_DIR (UTF-8 text) as
// `UIAssetFiles.files`, path and text, in path order. Run by the EmbedUIAssets build plugin.

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: UIAssetEmbedder ASSETS_DIR OUTPUT.swift\n".utf8))
    exit(2)
}
let root = URL(fileURLWithPath: arguments[1]).standardizedFileURL
let output = URL(fileURLWithPath: arguments[2])

/// A raw multi-line literal of `text`: enough `#` that neither its closing delimiter nor an escape
/// can occur inside. The newline before the closing delimiter is not part of the literal.
func literal(_ text: String) -> String {
    var hashes = "#"
    while text.contains("\"" + hashes) || text.contains("\\" + hashes) { hashes += "#" }
    return hashes + "\"\"\"\n" + text + "\n\"\"\"" + hashes
}

var files: [(path: String, text: String)] = []
let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
while let url = walker?.nextObject() as? URL {
    guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
    let path = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
    guard let text = try? String(contentsOf: url, encoding: .utf8) else {
        FileHandle.standardError.write(Data("error: \(path) is not UTF-8 text\n".utf8))
        exit(1)
    }
    files.append((path, text))
}
files.sort { $0.path < $1.path }

var swift = """
    // Generated at build time by UIAssetEmbedder from the target's Assets/ folder.

    /// The web UI's files by path under Assets/, as written.
    enum UIAssetFiles {
        static let files: [(path: String, text: String)] = [

    """
for file in files {
    swift += "        (\"\(file.path)\", \(literal(file.text))),\n"
}
swift += "    ]\n}\n"
do {
    try swift.write(to: output, atomically: true, encoding: .utf8)
} catch {
    FileHandle.standardError.write(Data("error: cannot write \(output.path): \(error)\n".utf8))
    exit(1)
}
