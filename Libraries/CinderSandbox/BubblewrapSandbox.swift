#if canImport(Glibc)
import Glibc
#endif
import CinderModel
import CinderResilience
import Dispatch
import Foundation
import Synchronization

/// Python code in a bubblewrap sandbox, one process per call: new user, PID, network, IPC and mount
/// namespaces (no network at all, only `/usr` of the host, read-only, and nothing of the host's
/// environment; a private 1 MB /tmp), the kernel's limits on CPU time, memory, processes and file size, and a wall clock
/// after which the whole sandbox is killed. The PID namespace dies with its first process, so nothing
/// the code started outlives the call. Run as root, the sandbox first drops to `nobody`, as the
/// kernel does not count root's processes against a process limit.
///
/// Why not WebAssembly: it needs a Python (or JavaScript) interpreter compiled to WASI, which no
/// package available to this project provides; bubblewrap isolates the Python users write
/// evaluators in, at about 15 ms a call.
public final class BubblewrapSandbox: CodeSandbox {
    public struct Configuration: Sendable {
        public var bubblewrap: String
        public var python: String
        /// Sandboxes running at once in this process; more calls wait their turn (before their wall
        /// clock starts), so a burst of evaluations cannot start hundreds of processes.
        public var concurrentCalls: Int

        public init(
            bubblewrap: String = "/usr/bin/bwrap", python: String = "/usr/bin/python3",
            concurrentCalls: Int = max(2, ProcessInfo.processInfo.activeProcessorCount * 2)
        ) {
            self.bubblewrap = bubblewrap
            self.python = python
            self.concurrentCalls = concurrentCalls
        }
    }

    /// A small private /tmp (Python's own libraries need none; code may use it as scratch).
    static let scratchBytes = 1 << 20

    let prefix: [String]
    let python: String
    let configuration: Configuration
    let slots: Permits
    /// The trial call, made once, on first use: nil when it answered.
    private let probe = Mutex<Task<String?, Never>?>(nil)

    public init(_ configuration: Configuration = .init()) {
        self.configuration = configuration
        self.slots = Permits(configuration.concurrentCalls)
        self.python = configuration.python
        var prefix: [String] = []
        if geteuid() == 0 { prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] }
        prefix += [configuration.bubblewrap, "--ro-bind", "/usr", "/usr"]
        // Merged-/usr systems link these into /usr; others have them as directories of their own.
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: top) {
                prefix += ["--symlink", target, top]
            } else if FileManager.default.fileExists(atPath: top) {
                prefix += ["--ro-bind", top, top]
            }
        }
        prefix += [
            // The code runs as the namespace's first process (no reaper of bubblewrap's in between): when
            // it ends, the kernel kills whatever it started, and no process is left for anyone to reap.
            // Four devices, not a whole /dev (a millisecond less a call, and nothing more to reach); everything
            // but the small /tmp is read-only, as bubblewrap's own root is an in-memory file system code
            // could otherwise fill.
            "--proc", "/proc", "--dir", "/dev", "--dev-bind", "/dev/null", "/dev/null", "--dev-bind", "/dev/zero", "/dev/zero",
            "--dev-bind", "/dev/urandom", "/dev/urandom", "--dev-bind", "/dev/random", "/dev/random",
            "--size", String(Self.scratchBytes), "--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", "/tmp", "--unshare-all", "--as-pid-1",
            "--die-with-parent", "--new-session",
            "--clearenv", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
        ]
        self.prefix = prefix
    }

    public func unavailableReason() async -> String? {
        let task = probe.withLock { current in
            if let current { return current }
            let started = Task { await self.tryOnce() }
            current = started
            return started
        }
        return await task.value
    }

    private func tryOnce() async -> String? {
        for path in [configuration.bubblewrap, configuration.python] where access(path, X_OK) != 0 {
            return "\(path) is not installed"
        }
        switch await run(source: "def probe():\n    return 1\n", function: "probe", arguments: [:], limits: SandboxLimits()) {
        case .success(.int(1)): return nil
        case .success(let other): return "the sandbox answered \(other.jsonString) to a trial call"
        case .failure(let failure): return failure.description
        }
    }

    public func call(source: String, function: String, arguments: [String: JSONValue], limits: SandboxLimits) async -> Result<JSONValue, SandboxFailure> {
        if let reason = await unavailableReason() { return .failure(SandboxFailure(.unavailable, "Code evaluators cannot run here: \(reason)")) }
        return await run(source: source, function: function, arguments: arguments, limits: limits)
    }

    func run(source: String, function: String, arguments: [String: JSONValue], limits: SandboxLimits) async -> Result<JSONValue, SandboxFailure> {
        var stdin = ""
        PythonHarness.literal(.object(arguments), into: &stdin)
        stdin += PythonHarness.separator + source
        let command =
            prefix + [
                python, "-I", "-S", "-c", PythonHarness.source, String(limits.cpuSeconds), String(limits.memoryBytes), String(limits.processes), function,
            ]
        let input = Array(stdin.utf8)
        await slots.acquire()
        // The call blocks a thread (spawn, poll, wait): not one of the cooperative pool's.
        let exit = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: SandboxProcess.run(command, input: input, limits: limits)) }
        }
        await slots.release()
        return Self.interpret(exit, limits: limits)
    }

    static func interpret(_ exit: SandboxProcess.Exit, limits: SandboxLimits) -> Result<JSONValue, SandboxFailure> {
        if exit.timedOut {
            return .failure(SandboxFailure(.wallClock, "The evaluator did not finish within \(limits.wallClock) and was stopped"))
        }
        if exit.outputExceeded {
            return .failure(SandboxFailure(.outputLimit, "The evaluator's answer is larger than \(limits.outputBytes) bytes"))
        }
        // The kernel's SIGKILL at the CPU limit (the first process of a namespace ignores SIGXCPU);
        // bubblewrap exits with 128 + the signal.
        if exit.status == 128 + SIGXCPU || exit.status == 128 + SIGKILL {
            return .failure(SandboxFailure(.cpuLimit, "The evaluator used more than \(limits.cpuSeconds) s of CPU time and was stopped"))
        }
        guard exit.status == 0, let answer = try? JSONValue(parsing: exit.output) else {
            let detail = exit.errorTail.split(separator: "\n").last.map(String.init) ?? "no detail"
            if exit.status == 128 + SIGSEGV || detail.contains("MemoryError") || detail.contains("Cannot allocate memory") {
                return .failure(SandboxFailure(.memoryLimit, "The evaluator used more memory than it may (\(limits.memoryBytes >> 20) MB)"))
            }
            return .failure(SandboxFailure(exit.status == 127 || exit.status == 1 && exit.output.isEmpty ? .unavailable : .codeError,
                "The evaluator's sandbox ended with status \(exit.status): \(detail)"))
        }
        if let error = answer["error"]?.stringValue {
            return .failure(SandboxFailure(error.hasPrefix("MemoryError") ? .memoryLimit : .codeError, error))
        }
        return .success(answer["ok"] ?? .null)
    }
}

/// One sandboxed process: spawned with pipes, fed its input, read until it ends or a limit is hit.
enum SandboxProcess {
    struct Exit {
        var status: Int32 = -1
        var output: [UInt8] = []
        var errorTail = ""
        var timedOut = false
        var outputExceeded = false
    }

    static let environment = ["PATH=/usr/bin:/bin"]
    static let spawnLock = NSLock()

    static func run(_ command: [String], input: [UInt8], limits: SandboxLimits) -> Exit {
        var exit = Exit()
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        var pid: pid_t = 0
        // Pipes are made close-on-exec and the child spawned under one lock: a call spawning meanwhile
        // must not inherit this call's pipe ends (its child would hold them open, and this call would
        // wait for that one to end).
        let failure: String? = spawnLock.withLock {
            guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
                return "cannot create pipes: \(String(cString: strerror(errno)))"
            }
            for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
            let argv = command.map { strdup($0) } + [nil]
            let envp = environment.map { strdup($0) } + [nil]
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            // The child starts with no signal blocked or ignored: this process's mask (the runtime
            // blocks some) would otherwise keep the CPU limit's SIGXCPU from stopping the code.
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var empty = sigset_t()
            sigemptyset(&empty)
            var all = sigset_t()
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attributes, &empty)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            let spawned = posix_spawn(&pid, command[0], &actions, &attributes, argv, envp)
            return spawned == 0 ? nil : "cannot start \(command[0]): \(String(cString: strerror(spawned)))"
        }
        for fd in [inPipe[0], outPipe[1], errPipe[1]] where fd >= 0 { close(fd) }
        if let failure {
            for fd in [inPipe[1], outPipe[0], errPipe[0]] where fd >= 0 { close(fd) }
            exit.errorTail = failure
            exit.status = 127
            return exit
        }
        var stdinFD = inPipe[1]
        for fd in [stdinFD, outPipe[0], errPipe[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        var written = 0
        var open = (out: true, err: true)
        var errors: [UInt8] = []
        let deadline = ContinuousClock.now + limits.wallClock
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while open.out || open.err {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                exit.timedOut = true
                break
            }
            var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
            if !open.out { fds[0].fd = -1 }
            if !open.err { fds[1].fd = -1 }
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            let millis = Int32(min(1000, max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
            if poll(&fds, nfds_t(fds.count), millis) < 0, errno != EINTR { break }
            if stdinFD >= 0, fds.count == 3, fds[2].revents != 0 {
                let n = input.withUnsafeBytes { raw in Glibc.write(stdinFD, raw.baseAddress! + written, input.count - written) }
                if n > 0 { written += n }
                if n < 0, errno != EAGAIN, errno != EINTR { written = input.count }
                if written >= input.count {
                    close(stdinFD)
                    stdinFD = -1
                }
            }
            if open.out, fds[0].revents != 0 {
                let n = read(outPipe[0], &buffer, buffer.count)
                if n > 0 {
                    exit.output += buffer[0..<n]
                    if exit.output.count > limits.outputBytes {
                        exit.outputExceeded = true
                        break
                    }
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    open.out = false
                }
            }
            if open.err, fds[1].revents != 0 {
                let n = read(errPipe[0], &buffer, buffer.count)
                if n > 0 {
                    errors += buffer[0..<n]
                    if errors.count > 8192 { errors.removeFirst(errors.count - 4096) }
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    open.err = false
                }
            }
        }
        if exit.timedOut || exit.outputExceeded || open.out || open.err { stop(pid) }
        if stdinFD >= 0 { close(stdinFD) }
        close(outPipe[0])
        close(errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        exit.status = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        exit.errorTail = String(decoding: errors, as: UTF8.self)
        return exit
    }

    /// Stops a sandbox from outside. Its code is killed first — the namespace's first process, whose
    /// end takes everything it started with it — so that bubblewrap sees it end, reaps it and exits: killed
    /// first, bubblewrap would leave the code's process to whoever adopts orphans (a container's first
    /// process, often this server), never to be reaped.
    static func stop(_ pid: pid_t) {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        let inner = children.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        for child in inner { kill(child, SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(1)
        while !inner.isEmpty, ContinuousClock.now < deadline {
            // Ended and waiting to be reaped (by the caller): state Z in /proc/<pid>/stat, after the name.
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            if let end = stat.lastIndex(of: ")"), stat[end...].dropFirst(2).first == "Z" { return }
            usleep(2000)
        }
        kill(pid, SIGKILL)
    }
}
