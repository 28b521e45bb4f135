import CompressNIO
import Crypto
import NIOCore

/// The web UI's files, ready to serve: each with its content type, an entity tag and a gzip copy, under
/// one version that names them all. Built once at start-up from the generated literals.
public struct UIAssets: Sendable {
    public struct Asset: Sendable {
        public let contentType: String
        public let body: ByteBuffer
        /// nil where compressing does not make the file smaller.
        public let gzipped: ByteBuffer?
        public let entityTag: String
    }

    /// A digest of every file: the path segment under which they are served, so a browser can keep them
    /// forever and a new build is fetched in full.
    public let version: String
    /// Files by path under Assets/ (`app.js`, `views/trace.js`), the page shell excluded.
    let files: [String: Asset]
    /// `index.html` with the version and the server's settings filled in.
    let page: Asset

    /// The files that hold what every screen needs, preloaded with the page so the browser does not
    /// discover them one import at a time.
    static let preloaded = ["app.js", "api.js", "dom.js", "router.js", "shell.js", "format.js", "session.js"]

    public init(authEnabled: Bool) {
        var digest = SHA256()
        for file in UIAssetFiles.files {
            digest.update(data: Array(file.path.utf8))
            digest.update(data: [0])
            digest.update(data: Array(file.text.utf8))
        }
        let version = String(Self.hex(digest.finalize()).prefix(16))
        self.version = version

        var files: [String: Asset] = [:]
        var template = ""
        for file in UIAssetFiles.files {
            if file.path == "index.html" {
                template = file.text
            } else {
                files[file.path] = Self.asset(file.text, contentType: Self.contentType(of: file.path))
            }
        }
        self.files = files
        let preloads = Self.preloaded.map { #"<link rel="modulepreload" href="/assets/\#(version)/\#($0)">"# }.joined(separator: "\n    ")
        let html = template
            .replacingOccurrences(of: "{{version}}", with: version)
            .replacingOccurrences(of: "{{preloads}}", with: preloads)
            .replacingOccurrences(of: "{{auth}}", with: authEnabled ? "on" : "off")
        self.page = Self.asset(html, contentType: "text/html; charset=utf-8")
    }

    func file(_ path: String) -> Asset? { files[path] }

    static func asset(_ text: String, contentType: String) -> Asset {
        let body = ByteBuffer(string: text)
        var input = body
        let compressed = try? input.compress(with: .gzip())
        let tag = "\"" + String(hex(SHA256.hash(data: Array(text.utf8))).prefix(24)) + "\""
        return Asset(
            contentType: contentType, body: body,
            gzipped: compressed.flatMap { $0.readableBytes < body.readableBytes ? $0 : nil }, entityTag: tag)
    }

    static func contentType(of path: String) -> String {
        switch path.split(separator: ".").last {
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "json": "application/json"
        case "html": "text/html; charset=utf-8"
        default: "text/plain; charset=utf-8"
        }
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
