import CinderModel

/// What a piece of code may use while it runs.
public struct SandboxLimits: Sendable, Hashable {
    /// CPU time, enforced by the kernel (the process is killed when it is spent).
    public var cpuSeconds: Int
    /// Address space: allocations beyond it fail (Python raises MemoryError).
    public var memoryBytes: Int
    /// From start to answer, sleeping included: the sandbox is killed when it is up.
    public var wallClock: Duration
    /// Bytes of answer kept; a longer answer is an error, not a truncated result.
    public var outputBytes: Int
    /// Processes (and threads) of the sandbox's user at once: a fork bomb stops there, and with the
    /// memory limit (per process) it bounds what one call can take.
    public var processes: Int

    public init(
        cpuSeconds: Int = 2, memoryBytes: Int = 256 << 20, wallClock: Duration = .seconds(5), outputBytes: Int = 64 << 10, processes: Int = 16
    ) {
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.wallClock = wallClock
        self.outputBytes = outputBytes
        self.processes = processes
    }
}

/// Why sandboxed code gave no answer, in words for the person who wrote it.
public struct SandboxFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The code raised, or does not compile, or does not define what it must.
        case codeError
        case cpuLimit, memoryLimit, wallClock, outputLimit
        /// The sandbox itself could not run (not installed, refused by the kernel).
        case unavailable
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// The seam to isolated execution of code users wrote: a function called with JSON arguments that
/// answers JSON, with no network, no files of the host, and the limits given.
public protocol CodeSandbox: Sendable {
    /// Why code cannot run here (nil when it can), found by a trial call made once.
    func unavailableReason() async -> String?

    /// Calls `function` defined by `source` with `arguments` (by parameter name) and returns its result.
    func call(source: String, function: String, arguments: [String: JSONValue], limits: SandboxLimits) async -> Result<JSONValue, SandboxFailure>
}
