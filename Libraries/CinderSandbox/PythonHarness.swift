import CinderModel

/// The Python that runs inside the sandbox around a user's code: it sets the limits the kernel
/// enforces, reads the arguments (a Python literal) and the source from standard input, calls the
/// function with the arguments its parameters name, and writes `{"ok": result}` or `{"error": why}` as
/// JSON. It imports nothing but `posix` and `resource`: interpreter start-up is most of a trivial call's cost, and
/// `json` alone would double it.
enum PythonHarness {
    static let separator = "\n\u{0}\n"

    static let source = #"""
import posix, resource, sys
# Nothing of the server's but standard input, output and error: whatever else it had open (database and
# client connections among them, which no namespace takes away once open) is closed before any user code.
posix.closerange(3, 1 << 20)
_pid = posix.getpid()
_answer = posix.dup(1)
# What the code prints (or writes to descriptor 1) goes to standard error, not into the answer.
posix.dup2(2, 1)
sys.stdout = sys.stderr
def _limit(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass
_cpu, _mem, _procs = (int(a) for a in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_CPU, (_cpu, _cpu))
_limit(resource.RLIMIT_AS, _mem)
_limit(resource.RLIMIT_NPROC, _procs)
_limit(resource.RLIMIT_FSIZE, 1 << 20)
_limit(resource.RLIMIT_CORE, 0)

def _enc(v, depth=0):
    if depth > 64: return '"<nested too deep>"'
    if v is None: return "null"
    if v is True: return "true"
    if v is False: return "false"
    if isinstance(v, int): return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else "null"
    if isinstance(v, str):
        out = ['"']
        for ch in v:
            o = ord(ch)
            if ch == '"': out.append('\\"')
            elif ch == "\\": out.append("\\\\")
            elif o < 0x20 or 0xD800 <= o <= 0xDFFF: out.append("\\u%04x" % o)
            else: out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(v, (list, tuple)): return "[" + ",".join(_enc(x, depth + 1) for x in v) + "]"
    if isinstance(v, dict): return "{" + ",".join(_enc(str(k)) + ":" + _enc(x, depth + 1) for k, x in v.items()) + "}"
    return _enc(str(v))

def _where(tb):
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<evaluator>": line = tb.tb_lineno
        tb = tb.tb_next
    return " (line %d)" % line if line else ""

def _main():
    data = sys.stdin.read()
    literal, _, code = data.partition("\n\x00\n")
    try:
        arguments = eval(literal, {"__builtins__": {}})
    except BaseException as e:
        return {"error": "The evaluator's inputs could not be read (%s): are they nested too deep?" % type(e).__name__}
    name = sys.argv[4]
    scope = {"__name__": "evaluator"}
    try:
        exec(compile(code, "<evaluator>", "exec"), scope)
    except SyntaxError as e:
        return {"error": "SyntaxError: %s (line %s)" % (e.msg, e.lineno)}
    except BaseException as e:
        return {"error": "%s: %s%s" % (type(e).__name__, e, _where(e.__traceback__))}
    fn = scope.get(name)
    if not callable(fn):
        return {"error": "The code defines no function named %s" % name}
    code_object = getattr(fn, "__code__", None)
    if code_object is None:
        return {"error": "%s is not a Python function" % name}
    names = code_object.co_varnames[:code_object.co_argcount + code_object.co_kwonlyargcount]
    defaults = len(fn.__defaults__ or ())
    required = names[:code_object.co_argcount - defaults]
    missing = [n for n in required if n not in arguments and n not in (fn.__kwdefaults__ or {})]
    if missing:
        return {"error": "%s() needs %s, which the inputs do not have (they have %s)" % (name, ", ".join(missing), ", ".join(sorted(arguments)) or "nothing")}
    given = {n: arguments[n] for n in names if n in arguments}
    try:
        return {"ok": fn(**given)}
    except MemoryError:
        return {"error": "MemoryError: the evaluator used more memory than it may (%d MB)" % (_mem >> 20)}
    except RecursionError as e:
        return {"error": "RecursionError: %s%s" % (e, _where(e.__traceback__))}
    except BaseException as e:
        return {"error": "%s: %s%s" % (type(e).__name__, e, _where(e.__traceback__))}

try:
    _out = _enc(_main())
except MemoryError:
    _out = '{"error": "MemoryError: the evaluator used more memory than it may"}'
except BaseException as e:
    try:
        _out = _enc({"error": "The evaluator's answer cannot be sent back: %s: %s" % (type(e).__name__, e)})
    except BaseException:
        _out = '{"error": "The evaluator\'s answer cannot be sent back"}'
if posix.getpid() != _pid:
    # A process the code forked got here too: only the first one answers.
    posix._exit(0)
_data = _out.encode("utf-8", "replace")
while _data:
    _data = _data[posix.write(_answer, _data):]
"""#

    /// JSON as a Python literal (what the harness evaluates with no builtins): JSON's string and number
    /// syntax is Python's; only `true`, `false` and `null` differ.
    static func literal(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int, .double, .string: out += value.jsonString
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                literal(item, into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                out += JSONValue.string(key).jsonString + ":"
                literal(members[key]!, into: &out)
            }
            out += "}"
        }
    }
}
