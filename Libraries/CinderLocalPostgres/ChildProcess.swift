#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// posix_spawn + waitpid. Foundation's `Process` can miss the exit of a child whose own child keeps
/// running (as `pg_ctl start` leaves the server behind), leaving the caller waiting forever.
enum ChildProcess {
    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    struct SpawnFailure: Error, CustomStringConvertible {
        let description: String
    }

    static func run(_ command: [String], workingDirectory: String) throws -> Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cinder-\(UUID().uuidString).out").path
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("cinder-\(UUID().uuidString).err").path
        defer {
            unlink(out)
            unlink(err)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Files, not pipes: a daemon left behind by the child would hold a pipe open forever.
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // `env -C` changes directory in the child (posix_spawn's chdir action is not in Glibc's overlay).
        let command = ["/usr/bin/env", "-C", workingDirectory] + command
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw SpawnFailure(description: "cannot start \(command[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw SpawnFailure(description: "waitpid failed: \(String(cString: strerror(errno)))") }
        }
        let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(
            status: exitCode,
            standardOutput: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}
