#if canImport(Glibc)
import Glibc
#endif
import CinderEvaluators
import CinderModel
import CinderSandbox
import Foundation
import Testing

/// The code evaluators' sandbox against the hostile evaluators it exists for: each fails with a clear
/// error, leaves nothing running, and the sandbox serves the next call as before.
@Suite(.serialized) struct SandboxTests {
    static let sandbox = Task { BubblewrapSandbox() }
    let limits = SandboxLimits(cpuSeconds: 1, memoryBytes: 128 << 20, wallClock: .seconds(2), outputBytes: 4096, processes: 32)

    func call(_ source: String, _ arguments: [String: JSONValue] = [:]) async -> Result<JSONValue, SandboxFailure> {
        await Self.sandbox.value.call(source: source, function: "evaluate", arguments: arguments, limits: limits)
    }

    /// The sandbox still answers, and nothing of the sandbox's user is left running.
    func expectHealthy() async throws {
        #expect(try await call("def evaluate(output):\n    return output == 'ok'\n", ["output": "ok"]).get() == .bool(true))
        // Killed processes take a moment to be reaped.
        let deadline = ContinuousClock.now + .seconds(3)
        while Self.processesOfNobody() > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(Self.processesOfNobody() == 0)
    }

    static func processesOfNobody() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.filter { pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
            return status.split(separator: "\n").contains { $0.hasPrefix("Uid:") && $0.split(separator: "\t").dropFirst().first == "65534" }
        }.count
    }

    func expectFailure(_ result: Result<JSONValue, SandboxFailure>, _ kind: SandboxFailure.Kind, containing text: String) {
        guard case .failure(let failure) = result else {
            Issue.record("expected a \(kind) failure, got \(result)")
            return
        }
        #expect(failure.kind == kind, "\(failure)")
        #expect(failure.description.contains(text), "\(failure.description)")
    }

    @Test func theSandboxIsAvailable() async {
        #expect(await Self.sandbox.value.unavailableReason() == nil)
    }

    @Test func argumentsGoInByNameAndResultsComeBackAsJSON() async throws {
        let source = """
            def evaluate(output, expected, metadata=None):
                return {"score": 1.0 if output == expected["answer"] else 0.0, "label": "é\\n\\"q\\"", "explanation": [1, 2.5, None, True],
                        "metadata": metadata}
            """
        let result = try await call(source, ["output": "Paris", "expected": ["answer": "Paris"], "input": "ignored", "metadata": ["k": [1, nil]]]).get()
        #expect(result == ["score": 1.0, "label": "é\n\"q\"", "explanation": [1, 2.5, nil, true], "metadata": ["k": [1, nil]]])
        expectFailure(await call("def evaluate(output, reference):\n    return 1\n", ["output": "x"]), .codeError, containing: "needs reference")
        expectFailure(await call("def evaluate(:\n", [:]), .codeError, containing: "SyntaxError")
        expectFailure(await call("def score(output):\n    return 1\n", [:]), .codeError, containing: "no function named evaluate")
        expectFailure(await call("def evaluate():\n    return 1 / 0\n"), .codeError, containing: "ZeroDivisionError: division by zero (line 2)")
    }

    @Test func anInfiniteLoopIsStoppedByItsCPULimit() async throws {
        // A wall clock far away: under load a second of CPU can take several, and the CPU limit must be what stops it.
        let loop = await Self.sandbox.value.call(
            source: "def evaluate():\n    while True:\n        pass\n", function: "evaluate", arguments: [:],
            limits: SandboxLimits(cpuSeconds: 1, wallClock: .seconds(60)))
        expectFailure(loop, .cpuLimit, containing: "more than 1 s of CPU time")
        try await expectHealthy()
    }

    @Test func sleepingIsStoppedByTheWallClock() async throws {
        expectFailure(await call("import time\ndef evaluate():\n    time.sleep(60)\n"), .wallClock, containing: "did not finish within 2")
        try await expectHealthy()
    }

    @Test func aMemoryBombFailsWithMemoryError() async throws {
        expectFailure(await call("def evaluate():\n    return len(bytearray(4 << 30))\n"), .memoryLimit, containing: "MemoryError")
        expectFailure(await call("def evaluate():\n    x = []\n    while True:\n        x.append('a' * 1000000)\n"), .memoryLimit, containing: "MemoryError")
        try await expectHealthy()
    }

    @Test func aForkBombStopsAtTheProcessLimitAndLeavesNothing() async throws {
        // Every process forks again, and each that fails to answers: only the first may.
        let bomb = "import os\ndef evaluate():\n    while True:\n        os.fork()\n"
        expectFailure(await call(bomb), .codeError, containing: "Resource temporarily unavailable")
        let sleepers = """
            import os, time
            def evaluate():
                while True:
                    if os.fork() == 0:
                        time.sleep(30)
            """
        expectFailure(await call(sleepers), .codeError, containing: "Resource temporarily unavailable")
        try await expectHealthy()
    }

    @Test func theHostsFilesAndNetworkAreOutOfReach() async throws {
        expectFailure(await call("def evaluate():\n    return open('/etc/passwd').read()\n"), .codeError, containing: "FileNotFoundError")
        let here = FileManager.default.currentDirectoryPath
        expectFailure(await call("def evaluate():\n    return open(\(JSONValue.string(here + "/Package.swift").jsonString)).read()\n"), .codeError, containing: "FileNotFoundError")
        // A private scratch /tmp, small: filling it fails.
        #expect(try await call("def evaluate():\n    return open('/tmp/x', 'w').write('x' * 10)\n").get() == .int(10))
        expectFailure(await call("def evaluate():\n    open('/tmp/x', 'w').write('x' * (4 << 20))\n"), .codeError, containing: "OSError")
        // Nothing of the host's environment (keys, database URLs) is inside.
        let environment = try await call("import os\ndef evaluate():\n    return sorted(os.environ)\n").get()
        // (PWD is bubblewrap's, LC_CTYPE Python's own.)
        #expect(environment == ["LC_CTYPE", "PWD", "PYTHONDONTWRITEBYTECODE"], "\(environment)")
        let socket = """
            import socket
            def evaluate():
                socket.create_connection(("1.1.1.1", 443), timeout=1)
            """
        expectFailure(await call(socket), .codeError, containing: "OSError")
        let local = """
            import socket
            def evaluate():
                socket.create_connection(("127.0.0.1", 5432), timeout=1)
            """
        expectFailure(await call(local), .codeError, containing: "Error")
        try await expectHealthy()
    }

    @Test func theServersOpenDescriptorsAreNotInside() async throws {
        // A descriptor this process holds without close-on-exec (as SwiftNIO's sockets are).
        let file = open("/proc/self/status", O_RDONLY)
        #expect(file >= 0)
        #expect(dup2(file, 200) == 200)
        defer {
            close(file)
            close(200)
        }
        let listed = try await call("import os\ndef evaluate():\n    return sorted(os.listdir('/proc/self/fd'))\n").get()
        guard case .array(let descriptors) = listed else { throw SandboxFailure(.codeError, "\(listed)") }
        // 0–2, the harness's copy of its answer, and the listing's own.
        #expect(descriptors.count <= 5 && !descriptors.contains("200"), "\(descriptors)")
        for path in ["/x", "/dev/x", "/usr/x"] {
            expectFailure(await call("def evaluate():\n    open('\(path)', 'w').write('x')\n"), .codeError, containing: "Read-only file system")
        }
        expectFailure(await call("def evaluate():\n    open('/dev/shm/x', 'w').write('x')\n"), .codeError, containing: "FileNotFoundError")
        #expect(try await call("import os\ndef evaluate():\n    return sorted(os.listdir('/dev')) + [len(os.urandom(8))]\n").get()
            == ["null", "random", "urandom", "zero", 8])
        // What the code prints is not its answer.
        #expect(try await call("import os\ndef evaluate():\n    print('noise')\n    os.write(1, b'more')\n    return 7\n").get() == 7)
        try await expectHealthy()
    }

    /// The regular expression built-in, whose patterns are user input, in the sandbox.
    @Test func theRegexBuiltInRunsInTheSandbox() async throws {
        let regex = try #require(BuiltInEvaluator.named("regex"))
        func verdict(_ literals: [String: JSONValue]) async throws -> Verdict {
            let arguments = try regex.arguments(mapping: InputMapping(literalMapping: literals), context: ["output": "call 555-1234 now"])
            let returned = try await Self.sandbox.value.call(
                source: try #require(regex.sandboxedSource), function: "evaluate", arguments: arguments, limits: SandboxLimits()).get()
            return try regex.verdict(fromSandboxed: returned)
        }
        #expect(try await verdict(["pattern": "\\d{3}-\\d{4}"]) == Verdict(label: "true", score: 1, explanation: "The text matches /\\d{3}-\\d{4}/", metadata: ["match": "555-1234"]))
        #expect(try await verdict(["pattern": "\\d{3}-\\d{4}", "full_match": true]).score == 0)
        #expect(try await verdict(["pattern": "^[A-Z][a-z]+$", "text": "Paris", "full_match": "true"]).label == "true")
        let invalid = try regex.arguments(mapping: InputMapping(literalMapping: ["pattern": "(unclosed"]), context: ["output": "x"])
        expectFailure(
            await Self.sandbox.value.call(source: regex.sandboxedSource!, function: "evaluate", arguments: invalid, limits: limits), .codeError,
            containing: "Invalid regular expression '(unclosed'")
        // A pattern that backtracks exponentially is stopped by the CPU limit, not left spinning.
        let catastrophic = try regex.arguments(
            mapping: InputMapping(literalMapping: ["pattern": "^(a+)+$", "text": .string(String(repeating: "a", count: 40) + "b")]), context: [:])
        expectFailure(
            await Self.sandbox.value.call(
                source: regex.sandboxedSource!, function: "evaluate", arguments: catastrophic, limits: SandboxLimits(cpuSeconds: 1, wallClock: .seconds(60))),
            .cpuLimit, containing: "CPU time")
        try await expectHealthy()
    }

    @Test func aHugeAnswerIsRefused() async throws {
        expectFailure(await call("def evaluate():\n    return 'x' * 100000\n"), .outputLimit, containing: "larger than 4096 bytes")
        try await expectHealthy()
    }
}
