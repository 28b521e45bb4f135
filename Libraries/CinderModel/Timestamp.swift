/// ISO-8601 formatting and parsing for API timestamps, without Foundation's formatters (hot path on reads).
public enum Timestamp {
    /// `2024-05-01T12:00:00.123456+00:00`: UTC, microsecond precision, as Phoenix (Python's
    /// `isoformat`) serves timestamps; the fraction is left out when it is zero.
    public static func iso8601(nanos: UnixNanos) -> String {
        iso8601(micros: nanos >= 0 ? nanos / 1000 : (nanos - 999) / 1000)
    }

    public static func iso8601(micros: Int64) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        writeISO8601(micros: micros, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `iso8601(micros:)` appended to a byte buffer, for writers of JSON that hold thousands of them.
    public static func writeISO8601(micros: Int64, to out: inout [UInt8]) {
        let secondsTotal = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let micro = micros - secondsTotal * 1_000_000
        let days = secondsTotal >= 0 ? secondsTotal / 86_400 : (secondsTotal - 86_399) / 86_400
        let secondOfDay = secondsTotal - days * 86_400
        let (y, m, d) = civilFromDays(days)
        pad(y, 4, &out)
        out.append(UInt8(ascii: "-"))
        pad(m, 2, &out)
        out.append(UInt8(ascii: "-"))
        pad(d, 2, &out)
        out.append(UInt8(ascii: "T"))
        pad(secondOfDay / 3600, 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(secondOfDay / 60 % 60, 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(secondOfDay % 60, 2, &out)
        if micro != 0 {
            out.append(UInt8(ascii: "."))
            pad(micro, 6, &out)
        }
        out.append(contentsOf: "+00:00".utf8)
    }

    /// Parses ISO-8601 date-times as FastAPI/pydantic accept them: `YYYY-MM-DD[T| ]HH:MM[:SS[.f+]][Z|±HH[:MM]]`,
    /// or a bare date. A value without an offset is UTC (Phoenix's rule for naive datetimes).
    /// Returns microseconds since the epoch.
    public static func parseMicros(_ text: some StringProtocol) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ digits: Int) -> Int64? {
            guard i + digits <= b.count else { return nil }
            var v: Int64 = 0
            for _ in 0..<digits {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
                i += 1
            }
            return v
        }
        func consume(_ c: Character) -> Bool {
            if i < b.count, b[i] == c.asciiValue! { i += 1; return true }
            return false
        }
        guard let year = number(4), consume("-"), let month = number(2), consume("-"), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, micro: Int64 = 0, offsetSeconds: Int64 = 0
        if i < b.count {
            guard consume("T") || consume("t") || consume(" ") else { return nil }
            guard let h = number(2), consume(":"), let mi = number(2), h < 24, mi < 60 else { return nil }
            hour = h
            minute = mi
            if consume(":") {
                guard let s = number(2), s < 61 else { return nil }
                second = min(s, 59)
                if consume(".") || consume(",") {
                    var digits = 0
                    while i < b.count, b[i] >= 48, b[i] <= 57 {
                        if digits < 6 { micro = micro * 10 + Int64(b[i] - 48) }
                        digits += 1
                        i += 1
                    }
                    guard digits > 0 else { return nil }
                    for _ in digits..<max(digits, 6) { micro *= 10 }
                }
            }
            if i < b.count {
                if consume("Z") || consume("z") {
                } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                    let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
                    i += 1
                    guard let oh = number(2) else { return nil }
                    var om: Int64 = 0
                    if consume(":") {
                        guard let m = number(2) else { return nil }
                        om = m
                    } else if i < b.count {
                        guard let m = number(2) else { return nil }
                        om = m
                    }
                    offsetSeconds = sign * (oh * 3600 + om * 60)
                } else {
                    return nil
                }
            }
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micro
    }

    /// Zero-padded to `width` digits; wider values (and signs) are written in full.
    private static func pad(_ value: Int64, _ width: Int, _ out: inout [UInt8]) {
        guard value >= 0, value < 1_000_000 else {
            let text = String(value)
            if text.utf8.count < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - text.utf8.count)) }
            return out.append(contentsOf: text.utf8)
        }
        var digits = 1
        var limit: Int64 = 10
        while value >= limit { digits += 1; limit *= 10 }
        if digits < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits)) }
        var divisor = limit / 10
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    // Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
