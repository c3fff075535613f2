using System.Text;
using Lab.Kernel.Common;
using Lab.Kernel.Posix;
using Lab.Machine;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>
/// A session running the POSIX profile: its console drawn as an 80×25 text screen in place of the
/// CGA screen, keys going to the kernel's terminal (its line discipline echoes and edits lines,
/// Ctrl-C interrupts the foreground, Ctrl-D ends one read, raw-mode programs get keys one by one),
/// physical pages in the wide form (pids beyond a byte, many MiB), and virtual maps that send only
/// the rows a process maps.
/// </summary>
public sealed class PosixSessionMachine : SessionMachine
{
    /// <summary>At most this many 64-page rows in a virtual map (a 64 MiB heap is 256 rows).</summary>
    private const int MaxVirtualRows = 1024;

    private readonly PosixMachine _m;
    private ConsoleScreen _screen = new();
    /// <summary>The text typed since the last Enter, for the event log only (the kernel's terminal
    /// holds the line itself).</summary>
    private readonly StringBuilder _line = new();
    private readonly string _program;
    private string? _startError;
    private string? _invariantFailure;

    public override string? PlaceFile(string path, byte[] bytes) => _m.Fs.Place(path, bytes);

    public PosixSessionMachine(SessionSettings settings, ExecutionTier? tier = null)
    {
        _m = new PosixMachine(new PosixOptions { MemorySize = (ulong)settings.MemoryMiB << 20, Tier = tier });
        _m.Console.CaptureOutput = false;           // a session runs for days: output goes to the screen only
        _m.Console.Typed = true;                    // someone types at this console: the terminal's discipline applies
        _m.Console.Output = (_, data) => _screen.Write(data.Span);
        var words = SessionSettings.CommandWords(settings.Program) ?? [];   // settings were validated
        _program = words.Length > 0 ? words[0] : "sh";
        foreach (var (path, bytes) in settings.StartFiles ?? new Dictionary<string, byte[]>())
            _startError ??= _m.Fs.Place(path, bytes) is { } placeError ? $"{path}: {placeError}" : null;
        if (SessionSettings.HostProgramPath(_program) is { } hostPath && _m.Fs.Lookup("/bin/" + _program) is null)
            _startError ??= _m.Fs.Place("/bin/" + _program, File.ReadAllBytes(hostPath)) is { } placeError ? $"{hostPath}: {placeError}" : null;
        _startError ??= _m.Start(_program, words.Skip(1).ToArray());
        if (_startError != null) _screen.Write($"cannot start {settings.Program}: {_startError}\n");
    }

    public override X64Machine Machine => _m.Machine;
    public override ulong Ticks => _m.Kernel.Ticks;
    public override ulong InstructionsPerTick => _m.Machine.TimerInterval;
    public override int CurrentPid => _m.Kernel.CurrentPid;
    public override Action<KernelEvent>? Observer { set => _m.Kernel.Observer = value; }

    public override string? HaltReason =>
        _startError is { } start ? $"cannot start {_program}: {start}"
        : _m.Kernel.KernelError is { } error ? $"kernel error: {error.Split('\n')[0]}"
        : _invariantFailure is { } inv ? $"invariant failed: {inv}"
        : _m.Kernel.AllExited ? $"{_program} exited{ExitText()}; every process has ended (reboot to start again)"
        : null;

    private string ExitText() => _m.ExitCode is int code ? $" with status {code}" : "";

    // Bytes handed to the console since its input was last seen empty: an upper bound of what the
    // programs have not read yet (exact whenever they read everything, as a shell does).
    private int _fed;

    /// <summary>The console's unread input: keys not yet taken by the terminal (bounded from above,
    /// see _fed) plus what the terminal holds unread (the line being edited, lines ready).</summary>
    public override int PendingInput
    {
        get
        {
            if (!_m.Console.HasInput) _fed = 0;
            return _fed + _m.Kernel.TtyPendingBytes;
        }
    }

    private void Feed(string text)
    {
        _m.Console.Feed(text);
        _fed += Encoding.UTF8.GetByteCount(text);
    }

    public override bool WaitingForInput =>
        _m.Kernel.IdleWaitingForInput && !_m.Console.HasInput && !_m.Console.InputClosed;

    public override RunResult Run(ulong budget) =>
        Halted ? new RunResult(RunExit.Stopped, default, 0) : _m.Machine.Run(budget);

    /// <summary>
    /// A key typed at the console goes to the kernel's terminal as the byte a terminal sends: Enter
    /// as CR (the terminal makes it a newline), Backspace as DEL (the erase character), Ctrl-C as
    /// ETX (SIGINT to the foreground process group), Ctrl-D as EOT (end of file for one read), other
    /// characters as their UTF-8 bytes. Echo and line editing happen in the kernel, as in Linux.
    /// Returns the event-log text, or null for keys not worth a log line (letters of a line).
    /// </summary>
    public override string? PressKey(char key)
    {
        switch (key)
        {
            case '\r' or '\n':
                {
                    string line = _line.ToString();
                    _line.Clear();
                    Feed("\r");
                    return $"typed \"{line}\"";
                }
            case '\b' or '\x7f':
                if (_line.Length > 0) _line.Length--;
                Feed("\x7f");
                return null;
            case '\x03':
                _line.Clear();
                Feed("\x03");
                return "pressed Ctrl+C (SIGINT to the foreground)";
            case '\x04':
                {
                    Feed("\x04");
                    bool empty = _line.Length == 0;
                    _line.Clear();
                    return empty ? "pressed Ctrl+D (end of input)" : "pressed Ctrl+D";
                }
            case >= ' ' and < '\x7f':
                if (_line.Length < 4096) _line.Append(key);
                Feed(key.ToString());
                return null;
            case '\x1b':
                Feed("\x1b");                          // the start of a cursor key's escape sequence: not worth a log line
                return null;
            default:
                Feed(key.ToString());
                return $"pressed {SessionText.Printable(key)}";
        }
    }

    public override void CopyScreen(Span<ushort> cells) => _screen.CopyTo(cells);

    public override bool WidePages => true;

    // The last page map handed out and a scratch buffer: an unchanged map (most publishes) costs a
    // pass over the pages but no allocation, even for a 1 GiB machine's 262,144 pages.
    private byte[] _pages = [], _scratch = [];

    public override byte[] Pages(Dictionary<int, int> ownedByPid)
    {
        var kernel = _m.Kernel;
        int count = kernel.PageCount;
        if (_scratch.Length != count * FrameCodec.WidePageSize) _scratch = new byte[count * FrameCodec.WidePageSize];
        var pages = _scratch;
        for (int p = 0; p < count; p++)
        {
            int owner = kernel.PageOwner(p), refs = kernel.PageRefcount(p);
            FrameCodec.WriteWidePage(pages, p, owner, refs);
            if (refs > 0 && owner > 0) ownedByPid[owner] = ownedByPid.GetValueOrDefault(owner) + 1;
        }
        if (pages.AsSpan().SequenceEqual(_pages)) return _pages;
        // Published arrays are never written again (senders diff against them): hand out the scratch
        // buffer and start a new one next time.
        (_pages, _scratch) = (pages, []);
        return _pages;
    }

    public override ProcessRow[] Processes(IReadOnlyDictionary<int, int> ownedByPid)
    {
        int current = CurrentPid;
        return _m.Kernel.ProcessList()
            .Select(p => new ProcessRow(p.Pid, p.Parent, p.Pid == current ? "running" : p.State.ToString().ToLowerInvariant(), p.Name, ownedByPid.GetValueOrDefault(p.Pid)))
            .ToArray();
    }

    /// <summary>The rows of 64 pages that hold at least one mapping, in address order, in the wide form.</summary>
    public override VirtualMap? VirtualMap(int pid)
    {
        var kernel = _m.Kernel;
        var pages = new List<(ulong Va, int Page, byte Perm)>();
        if (!kernel.VisitUserPages(pid, (va, page, perm) => pages.Add((va, page, perm)))) return null;
        const ulong rowBytes = Lab.Shared.Wire.VirtualMap.PagesPerRow * 4096UL;
        var rows = new List<ulong>();
        foreach (var (va, _, _) in pages)
        {
            ulong start = va & ~(rowBytes - 1);
            if (rows.Count == 0 || rows[^1] != start)
            {
                if (rows.Count == MaxVirtualRows) break;
                rows.Add(start);
            }
        }
        var entries = new byte[rows.Count * Lab.Shared.Wire.VirtualMap.PagesPerRow * Lab.Shared.Wire.VirtualMap.WideBytesPerPage];
        int row = 0;
        foreach (var (va, page, perm) in pages)
        {
            ulong start = va & ~(rowBytes - 1);
            while (row < rows.Count && rows[row] < start) row++;
            if (row == rows.Count) break;
            int index = row * Lab.Shared.Wire.VirtualMap.PagesPerRow + (int)((va - start) / 4096);
            Lab.Shared.Wire.VirtualMap.WriteWide(entries, index, kernel.PageOwner(page), kernel.PageRefcount(page), perm);
        }
        return new VirtualMap(pid, entries, RowStarts: rows.ToArray(), EntrySize: Lab.Shared.Wire.VirtualMap.WideBytesPerPage);
    }

    public override string[] ProcessListing()
    {
        var lines = new List<string> { "  PID PARENT  STATE      CR3         RIP               NAME" };
        int current = CurrentPid;
        foreach (var p in _m.Kernel.ProcessList())
            lines.Add($"{p.Pid,5} {p.Parent,6}  {p.State.ToString().ToLowerInvariant(),-9}  {p.Root,-10}  0x{p.Rip:x14}  {p.Name}{(p.Pid == current ? "  <- current" : "")}");
        return lines.ToArray();
    }

    public override string SyscallBreakName(string text) =>
        PosixKernel.SyscallNumber(text.ToLowerInvariant()) is { } nr
            ? PosixKernel.SyscallName(nr)
            : throw new ArgumentException($"unknown syscall '{text}' (a Linux name such as read, write, fork, execve, wait4, exit_group, or a number)");

    public override string? CheckInvariants()
    {
        if (_invariantFailure == null && _m.Kernel.KernelError == null) _invariantFailure = _m.Kernel.CheckInvariants();
        return _invariantFailure;
    }

    // Session state = the console screen and the line being typed, then the machine and kernel, which
    // run to the end (streamed straight into the file). The first format length-prefixed the machine.
    private const uint StateMagic = 0x3253_4C42;            // "BLS2"
    private const uint LengthPrefixedStateMagic = 0x5053_4C42;   // "BLSP" (still read)

    public override void SaveState(Stream output)
    {
        using (var w = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(StateMagic);
            _screen.Save(w);
            w.Write(_line.ToString());
        }
        _m.SaveState(output);
    }

    public override void RestoreState(Stream input)
    {
        var screen = new ConsoleScreen();
        string line;
        using (var r = new BinaryReader(input, Encoding.UTF8, leaveOpen: true))
        {
            uint magic = r.ReadUInt32();
            if (magic is not (StateMagic or LengthPrefixedStateMagic)) throw new InvalidDataException("not a POSIX session state");
            screen.Restore(r);
            line = r.ReadString();
            if (magic == LengthPrefixedStateMagic && r.ReadInt32() != input.Length - input.Position)
                throw new InvalidDataException("machine state length out of range");
        }
        _m.RestoreState(input);
        _screen = screen;
        _line.Clear().Append(line);
        _startError = null;
    }

    public override void Dispose() => _m.Dispose();
}
