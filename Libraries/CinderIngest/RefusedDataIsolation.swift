import CinderModel

/// What both ingestion paths do when the database refuses a batch's data (rather than failing to be
/// reached): write each part on its own, so that only the parts it refuses fail and the rest is stored.
public enum RefusedDataIsolation {
    public struct Outcome: Sendable {
        /// Rows inserted, over all parts.
        public var inserted: Int
        /// The refused parts, by position, with the database's reason.
        public var refused: [Int: CinderError]
    }

    /// Writes `parts` in one call of `write`; if that is refused as `.unprocessable`, writes each part
    /// alone. Other errors (transient ones) are thrown, from the batch or from any part.
    public static func write<Part: Sendable>(_ parts: [Part], _ write: @Sendable ([Part]) async throws -> Int) async throws -> Outcome {
        do {
            return Outcome(inserted: try await write(parts), refused: [:])
        } catch let error as CinderError where error.code == .unprocessable {
            guard parts.count > 1 else { return Outcome(inserted: 0, refused: parts.isEmpty ? [:] : [0: error]) }
            var outcome = Outcome(inserted: 0, refused: [:])
            for (index, part) in parts.enumerated() {
                do {
                    outcome.inserted += try await write([part])
                } catch let error as CinderError where error.code == .unprocessable {
                    outcome.refused[index] = error
                }
            }
            return outcome
        }
    }
}
