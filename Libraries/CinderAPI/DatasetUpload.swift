import CinderHTTPSupport
import CinderModel
import CinderOTLP
import CinderStorage
import Hummingbird
import NIOCore

/// `POST /v1/datasets/upload`: examples as JSON lists, or as a CSV or JSON Lines file in a multipart
/// form with the columns that make up input, output, metadata, splits, span ids and example ids.
struct DatasetUpload {
    let api: PhoenixAPI

    /// What an upload asks for, whichever the encoding.
    struct Upload {
        var name: String
        var description: String?
        var action: DatasetUploadAction
        var examples: [NewDatasetExample]
    }

    func add(to router: Router<CinderRequestContext>) {
        router.post("/v1/datasets/upload") { request, context in
            let sync = try QueryParameters(request).bool("sync", default: false)
            let contentType = request.headers[.contentType] ?? ""
            let upload: Upload
            if contentType.lowercased().hasPrefix("multipart/form-data") {
                guard let boundary = MultipartForm.boundary(contentType: contentType) else {
                    throw CinderError.unprocessable("Malformed multipart body: no boundary in the content type")
                }
                let body = try await request.body.collect(upTo: context.maxUploadSize)
                upload = try Self.parse(
                    form: try MultipartForm(parsing: Array(body.readableBytesView), boundary: boundary), maxBytes: context.maxUploadSize)
            } else {
                upload = try Self.parse(json: try await JSONBody.parse(request, context))
            }
            switch try await (try api.scope(context)).datasets.uploadDataset(
                name: upload.name, description: upload.description, action: upload.action, examples: upload.examples)
            {
            case .nameTaken:
                throw CinderError(.conflict, "Dataset with the same name already exists: name='\(upload.name)'")
            case .written(let datasetID, let versionID, let created, let updated, let deleted):
                // Phoenix answers an asynchronous upload before writing it, without a body.
                guard sync else { return jsonResponse(.null) }
                return jsonResponse([
                    "data": [
                        "dataset_id": .string(GlobalID(NodeType.dataset, datasetID).encoded),
                        "version_id": .string(GlobalID(NodeType.datasetVersion, versionID).encoded),
                        "num_created_examples": .int(Int64(created)), "num_updated_examples": .int(Int64(updated)),
                        "num_deleted_examples": .int(Int64(deleted)),
                    ]
                ])
            }
        }
    }

    static func action(_ text: String?) throws(CinderError) -> DatasetUploadAction {
        guard let text, !text.isEmpty else { return .create }
        guard let action = DatasetUploadAction(rawValue: text) else { throw CinderError.unprocessable("Invalid dataset action: \(text)") }
        return action
    }

    static func name(_ text: String?) throws(CinderError) -> String {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CinderError.unprocessable("Dataset name must not be empty")
        }
        return text
    }

    // MARK: JSON

    static func parse(json body: JSONValue) throws(CinderError) -> Upload {
        guard case .object(let object) = body else { throw CinderError.unprocessable("The request body must be a JSON object") }
        let name = try name(object["name"]?.stringValue)
        let action = try action(object["action"]?.stringValue)
        let description: String?
        switch object["description"] {
        case nil, .null?: description = nil
        case .string(let s)?: description = s
        default: throw CinderError.unprocessable("description must be a string")
        }
        let inputs = try objects(object["inputs"], "inputs", required: true)
        guard !inputs.isEmpty else { throw CinderError.unprocessable("inputs must be non-empty") }
        let outputs = try objects(object["outputs"], "outputs", required: false)
        let metadata = try objects(object["metadata"], "metadata", required: false)
        let splits = try column(object["splits"], "splits")
        let spanIDs = try column(object["span_ids"], "span_ids")
        let exampleIDs = try column(object["example_ids"], "example_ids")
        for (name, count) in [("outputs", outputs.count), ("metadata", metadata.count), ("splits", splits.count),
                              ("span_ids", spanIDs.count), ("example_ids", exampleIDs.count)] where count != 0 && count != inputs.count {
            throw CinderError.unprocessable("\(name) must have same length as inputs (\(count) != \(inputs.count))")
        }
        var examples: [NewDatasetExample] = []
        var seenIDs = Set<String>()
        for i in inputs.indices {
            let exampleID = try optionalString(exampleIDs.isEmpty ? nil : exampleIDs[i], "example_ids")
            if let exampleID, !seenIDs.insert(exampleID).inserted { throw CinderError.unprocessable("Duplicate example id: \(exampleID)") }
            examples.append(
                NewDatasetExample(
                    input: inputs[i], output: outputs.isEmpty ? [:] : outputs[i], metadata: metadata.isEmpty ? [:] : metadata[i],
                    splits: try splitNames(splits.isEmpty ? nil : splits[i]),
                    spanID: try optionalString(spanIDs.isEmpty ? nil : spanIDs[i], "span_ids"), externalID: exampleID))
        }
        return Upload(name: name, description: description, action: action, examples: examples)
    }

    static func objects(_ value: JSONValue?, _ name: String, required: Bool) throws(CinderError) -> [JSONValue] {
        switch value {
        case nil, .null?:
            if required { throw CinderError.unprocessable("\(name) is required") }
            return []
        case .array(let items)?:
            guard items.allSatisfy({ $0.objectValue != nil }) else { throw CinderError.unprocessable("\(name) must contain only dictionaries") }
            return items
        default: throw CinderError.unprocessable("\(name) must be a list of dictionaries")
        }
    }

    static func column(_ value: JSONValue?, _ name: String) throws(CinderError) -> [JSONValue] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?: return items
        default: throw CinderError.unprocessable("\(name) must be a list")
        }
    }

    static func optionalString(_ value: JSONValue?, _ name: String) throws(CinderError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let s)?: return s.isEmpty ? nil : s
        default: throw CinderError.unprocessable("\(name) must contain only strings or nulls")
        }
    }

    /// A split cell: a name, a list of names, or null.
    static func splitNames(_ value: JSONValue?) throws(CinderError) -> [String] {
        switch value {
        case nil, .null?: return []
        case .string(let s)?: return s.trimmingCharacters(in: .whitespaces).isEmpty ? [] : [s.trimmingCharacters(in: .whitespaces)]
        case .array(let items)?:
            var names: [String] = []
            for item in items {
                guard case .string = item else { throw CinderError.unprocessable("splits must be strings, lists of strings or null") }
                names += try splitNames(item)
            }
            return names
        default: throw CinderError.unprocessable("splits must be strings, lists of strings or null")
        }
    }

    // MARK: Multipart

    /// `maxBytes` bounds the file after decompression, as the request size bounds it before.
    static func parse(form: MultipartForm, maxBytes: Int) throws(CinderError) -> Upload {
        let name = try name(form.value("name"))
        let action = try action(form.value("action"))
        guard let file = form.file("file") else { throw CinderError.unprocessable("Malformed file in form data.") }
        var description = form.value("description")
        if description?.isEmpty ?? true { description = file.filename }
        let inputKeys = Set(form.values("input_keys[]"))
        let outputKeys = Set(form.values("output_keys[]"))
        let metadataKeys = Set(form.values("metadata_keys[]"))
        for (a, b, sets) in [("input_keys", "output_keys", (inputKeys, outputKeys)), ("input_keys", "metadata_keys", (inputKeys, metadataKeys)),
                             ("output_keys", "metadata_keys", (outputKeys, metadataKeys))] {
            let overlap = sets.0.intersection(sets.1)
            if !overlap.isEmpty { throw CinderError.unprocessable("\(a) and \(b) have overlap: \(overlap.sorted())") }
        }
        let splitKey = form.value("split_key").flatMap { $0.isEmpty ? nil : $0 }
        let splitKeys = form.values("split_keys[]").filter { !$0.isEmpty }
        let spanIDKey = form.value("span_id_key").flatMap { $0.isEmpty ? nil : $0 }
        let exampleIDKey = form.value("example_id_key").flatMap { $0.isEmpty ? nil : $0 }

        var content = ByteBuffer(bytes: file.body)
        if let encoding = file.headers["content-encoding"] {
            content = try OTLPBody.decompress(
                content, contentEncoding: encoding, limits: OTLPLimits(maxBodyBytes: Int.max, maxDecompressedBytes: maxBytes))
        }
        let mediaType =
            file.headers["content-type"].flatMap { $0.split(separator: ";").first }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            .flatMap { $0.isEmpty ? nil : $0 } ?? "text/csv"
        let (headers, rows) = try table(Array(content.readableBytesView), mediaType: mediaType)
        for (kind, keys) in [("input", inputKeys), ("output", outputKeys), ("metadata", metadataKeys),
                             ("split", Set(splitKeys + [splitKey].compactMap { $0 })),
                             ("span id", Set([spanIDKey].compactMap { $0 })), ("example id", Set([exampleIDKey].compactMap { $0 }))] {
            let missing = keys.subtracting(headers)
            if !missing.isEmpty { throw CinderError.unprocessable("\(kind) keys not found in column headers: \(missing.sorted())") }
        }
        guard !rows.isEmpty else { throw CinderError.unprocessable("The file has no examples") }
        var examples: [NewDatasetExample] = []
        var seenIDs = Set<String>()
        for row in rows {
            func pick(_ keys: Set<String>) -> JSONValue { .object(row.filter { keys.contains($0.key) }) }
            var splits: [String] = []
            if let splitKey, let cell = row[splitKey] {
                // A split cell is a name or a JSON list of names.
                if case .string(let text) = cell, text.hasPrefix("["), let list = try? JSONValue(parsing: text) {
                    splits = try splitNames(list)
                } else {
                    splits = try splitNames(cell)
                }
            }
            for key in splitKeys { splits += try splitNames(row[key]) }
            let exampleID = exampleIDKey.flatMap { row[$0]?.stringValue }.flatMap { $0.isEmpty ? nil : $0 }
            if let exampleID, !seenIDs.insert(exampleID).inserted { throw CinderError.unprocessable("Duplicate example id: \(exampleID)") }
            examples.append(
                NewDatasetExample(
                    input: pick(inputKeys), output: pick(outputKeys), metadata: pick(metadataKeys), splits: splits,
                    spanID: spanIDKey.flatMap { row[$0]?.stringValue }.flatMap { $0.isEmpty ? nil : $0 }, externalID: exampleID))
        }
        return Upload(name: name, description: description, action: action, examples: examples)
    }

    /// The file's column names and rows. CSV cells are strings; JSON Lines keep their JSON types.
    static func table(_ bytes: [UInt8], mediaType: String) throws(CinderError) -> (headers: Set<String>, rows: [[String: JSONValue]]) {
        switch mediaType {
        case "text/csv", "application/csv":
            let records = CSV.parse(String(decoding: bytes, as: UTF8.self))
            guard let header = records.first, !header.isEmpty else { throw CinderError.unprocessable("Missing CSV column header") }
            var seen = Set<String>()
            for column in header where !seen.insert(column).inserted {
                throw CinderError.unprocessable("Duplicated column header in CSV file: \(column)")
            }
            let rows = records.dropFirst().filter { $0 != [""] }.map { record in
                var row: [String: JSONValue] = [:]
                for (i, column) in header.enumerated() { row[column] = .string(i < record.count ? record[i] : "") }
                return row
            }
            return (seen, rows)
        case "application/jsonl", "application/x-jsonlines", "application/jsonlines", "application/x-ndjson", "application/json-lines":
            var headers = Set<String>()
            var rows: [[String: JSONValue]] = []
            for (number, line) in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated() {
                guard !line.allSatisfy(\.isWhitespace) else { continue }
                guard case .object(let object)? = try? JSONValue(parsing: line) else {
                    throw CinderError.unprocessable("Line \(number + 1) of the JSON Lines file is not a JSON object")
                }
                headers.formUnion(object.keys)
                rows.append(object)
            }
            return (headers, rows)
        case "application/x-pandas-pyarrow", "application/vnd.apache.arrow.stream":
            throw CinderError(.unsupportedMediaType, "Arrow IPC uploads are not supported: send the table as CSV or JSON Lines")
        default:
            throw CinderError.unprocessable("Invalid file content type: \(mediaType)")
        }
    }
}
