using System.Buffers.Binary;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.Signals;

namespace Lab.Kernel.Posix;

/// <summary>
/// The console's terminal state (Linux: struct tty_struct with its n_tty line discipline, much
/// reduced): the termios settings, the window size, the session and foreground process group, the
/// line being typed (canonical mode) and the input ready for read. Typed bytes come from the host
/// through <see cref="ConsoleIo"/>; the kernel runs them through the discipline
/// (<see cref="PosixKernel"/>.TtyInput).
/// </summary>
public sealed class Tty
{
    // c_iflag, c_oflag, c_lflag bits (asm-generic/termbits.h)
    public const uint ISTRIP = 0x20, INLCR = 0x40, IGNCR = 0x80, ICRNL = 0x100, IXON = 0x400;
    public const uint OPOST = 0x1, ONLCR = 0x4;
    public const uint ISIG = 0x1, ICANON = 0x2, ECHO = 0x8, ECHOE = 0x10, ECHOK = 0x20, ECHONL = 0x40,
        NOFLSH = 0x80, ECHOCTL = 0x200, ECHOKE = 0x800, IEXTEN = 0x8000;
    // c_cc indexes
    public const int VINTR = 0, VQUIT = 1, VERASE = 2, VKILL = 3, VEOF = 4, VTIME = 5, VMIN = 6, VSUSP = 10,
        VEOL = 11, VWERASE = 14, NCCS = 19;
    /// <summary>Canonical lines longer than this are handed to the reader in pieces (Linux's
    /// N_TTY_BUF_SIZE less one); input beyond <see cref="MaxReady"/> waits in the host queue.</summary>
    public const int MaxLine = 4095, MaxReady = 64 * 1024;

    public uint Iflag = ICRNL | IXON, Oflag = OPOST | ONLCR, Cflag = 0xBF /* B38400 CS8 CREAD */,
        Lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
    public byte Line;
    /// <summary>Linux's defaults: ^C ^\ DEL ^U ^D, VTIME 0, VMIN 1, ^Q ^S ^Z, ^R ^O ^W ^V.</summary>
    public readonly byte[] Cc = [3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0, 0];
    public ushort Rows = 25, Cols = 80, XPixel, YPixel;
    /// <summary>The session the console controls and its foreground process group (0: none yet).</summary>
    public int Session, ForegroundPgrp;
    /// <summary>The canonical line being typed (erase and kill edit it).</summary>
    public readonly List<byte> Edit = new();
    /// <summary>Input ready for read: canonical mode hands out one chunk (a line) per read; an empty
    /// chunk is an end of file (Ctrl-D on an empty line) for one read.</summary>
    public readonly Queue<byte[]> Ready = new();
    /// <summary>Bytes of the first ready chunk already read.</summary>
    public int HeadOffset;
    /// <summary>Bytes in <see cref="Ready"/> not yet read.</summary>
    public int ReadyBytes;

    public bool Canonical => (Lflag & ICANON) != 0;

    public void Push(byte[] chunk)
    {
        Ready.Enqueue(chunk);
        ReadyBytes += chunk.Length;
    }

    /// <summary>Throws away what was typed and not read (a signal key, TCSETSF, TCFLSH).</summary>
    public void FlushInput()
    {
        Edit.Clear();
        Ready.Clear();
        HeadOffset = ReadyBytes = 0;
    }
}

public sealed partial class ConsoleIo
{
    /// <summary>The console's input is typed by someone at a screen (a session): it goes through
    /// the terminal's line discipline (echo, line editing, Ctrl-C and the other special keys). Off
    /// (tui run, tests) the input is the host's data, as from a pipe: no byte has a special meaning,
    /// nothing is echoed (the output is exactly what programs wrote), and a canonical read returns
    /// at most one line of what has arrived.</summary>
    public bool Typed { get; set; }
}

// The console as a terminal: the line discipline (canonical line editing with erase, kill and
// word-erase, echo, Ctrl-C / Ctrl-\ / Ctrl-Z as SIGINT / SIGQUIT / SIGTSTP to the foreground process
// group, Ctrl-D as end of file for one read, CR to NL), raw mode (ICANON off: bytes one at a time,
// VMIN/VTIME), and the terminal ioctls (TCGETS, TCSETS*, TIOCGPGRP/TIOCSPGRP, TIOCGWINSZ/TIOCSWINSZ,
// TIOCSCTTY, TIOCNOTTY, TIOCGSID, FIONREAD, TCFLSH).
public sealed partial class PosixKernel
{
    public Tty Tty { get; } = new();

    /// <summary>Typed bytes not read yet: the host queue, the line being typed and the ready input
    /// (what a session counts as pending input).</summary>
    public int TtyPendingBytes => _ttyPending;
    private volatile int _ttyPending;

    /// <summary>The first program started makes the console its controlling terminal, its group
    /// the foreground.</summary>
    private void TtyAttach(PProcess p)
    {
        if (Tty.Session != 0 && _procs.Any(q => q.Sid == Tty.Session && q.State != PState.Zombie && q != p)) return;
        Tty.Session = p.Sid;
        Tty.ForegroundPgrp = p.Pgid;
    }

    /// <summary>Runs the typed bytes waiting in the host queue through the line discipline (until
    /// <see cref="Tty.MaxReady"/> bytes wait to be read: the rest stays queued, as flow control).</summary>
    private void TtyPump()
    {
        if (Console.Typed)
            while (Tty.ReadyBytes + Tty.Edit.Count < Tty.MaxReady && Console.TryDequeue(out byte b)) TtyInput(b);
        else
        {
            // host data: ready as it comes, one chunk per line (a canonical read returns one line)
            var chunk = new List<byte>();
            while (Tty.ReadyBytes + chunk.Count < Tty.MaxReady && Console.TryDequeue(out byte b))
            {
                chunk.Add(b);
                if (b == '\n') { Tty.Push(chunk.ToArray()); chunk.Clear(); }
            }
            if (chunk.Count > 0) Tty.Push(chunk.ToArray());
        }
        _ttyPending = Tty.ReadyBytes + Tty.Edit.Count;
    }

    /// <summary>True when a read of the console would not block: input ready, or its end.</summary>
    private bool TtyReadable() =>
        Tty.Ready.Count > 0 || (Console.InputClosed && !Console.HasInput);

    private void Echo(ReadOnlySpan<byte> bytes)
    {
        if ((Tty.Lflag & Tty.ECHO) != 0) Console.Write(1, bytes);
    }

    /// <summary>Echoes a typed byte: control characters as ^X with ECHOCTL (not tab or newline).</summary>
    private void EchoChar(byte c)
    {
        if (c < 0x20 && c != '\t' && c != '\n' && (Tty.Lflag & Tty.ECHOCTL) != 0) Echo([(byte)'^', (byte)(c + 0x40)]);
        else if (c == 0x7f && (Tty.Lflag & Tty.ECHOCTL) != 0) Echo("^?"u8);
        else Echo([c]);
    }

    /// <summary>Erases the last character of the line being typed (a whole UTF-8 sequence), visibly
    /// with ECHOE. False when the line was empty.</summary>
    private bool EraseChar()
    {
        var e = Tty.Edit;
        if (e.Count == 0) return false;
        int at = e.Count - 1;
        while (at > 0 && (e[at] & 0xC0) == 0x80) at--;
        bool control = e[at] < 0x20 && e[at] != '\t' && (Tty.Lflag & Tty.ECHOCTL) != 0;
        e.RemoveRange(at, e.Count - at);
        if ((Tty.Lflag & Tty.ECHOE) != 0) Echo(control ? "\b \b\b \b"u8 : "\b \b"u8);
        return true;
    }

    /// <summary>
    /// n_tty_receive_char: one typed byte. ISTRIP, IGNCR/ICRNL/INLCR first; with ISIG the interrupt,
    /// quit and suspend keys flush the input and signal the foreground group; in canonical mode
    /// erase, kill, word-erase and end-of-file edit the line, and newline (or a full line) hands it to
    /// readers; otherwise the byte is ready at once. Echo as ECHO, ECHOE, ECHOCTL, ECHONL say.
    /// </summary>
    private void TtyInput(byte c)
    {
        var t = Tty;
        if ((t.Iflag & Tty.ISTRIP) != 0) c &= 0x7f;
        if (c == '\r')
        {
            if ((t.Iflag & Tty.IGNCR) != 0) return;
            if ((t.Iflag & Tty.ICRNL) != 0) c = (byte)'\n';
        }
        else if (c == '\n' && (t.Iflag & Tty.INLCR) != 0) c = (byte)'\r';
        if ((t.Lflag & Tty.ISIG) != 0)
        {
            int sig = c == t.Cc[Tty.VINTR] ? SIGINT : c == t.Cc[Tty.VQUIT] ? SIGQUIT : c == t.Cc[Tty.VSUSP] ? SIGTSTP : 0;
            if (sig != 0 && c != 0)
            {
                if ((t.Lflag & Tty.NOFLSH) == 0) t.FlushInput();
                EchoChar(c);
                if (t.ForegroundPgrp > 0) SignalGroup(t.ForegroundPgrp, sig, new SigInfo(SI_KERNEL, 0, 0, 0));
                return;
            }
        }
        if (!t.Canonical)
        {
            t.Push([c]);
            EchoChar(c);
            return;
        }
        if (c == t.Cc[Tty.VERASE] && c != 0) { EraseChar(); return; }
        if (c == t.Cc[Tty.VKILL] && c != 0)
        {
            if ((t.Lflag & (Tty.ECHOK | Tty.ECHOKE)) != 0) while (EraseChar()) { }
            t.Edit.Clear();
            return;
        }
        if (c == t.Cc[Tty.VWERASE] && c != 0 && (t.Lflag & Tty.IEXTEN) != 0)
        {
            while (t.Edit.Count > 0 && t.Edit[^1] is (byte)' ' or (byte)'\t') EraseChar();
            while (t.Edit.Count > 0 && t.Edit[^1] is not ((byte)' ' or (byte)'\t')) EraseChar();
            return;
        }
        if (c == t.Cc[Tty.VEOF] && c != 0)
        {
            t.Push(t.Edit.ToArray());           // the line so far, without a newline; empty: end of file
            t.Edit.Clear();
            return;
        }
        t.Edit.Add(c);
        if (c == '\n' || (c == t.Cc[Tty.VEOL] && c != 0))
        {
            if ((t.Lflag & Tty.ECHO) != 0 || (t.Lflag & Tty.ECHONL) != 0)
                Console.Write(1, "\n"u8);
            t.Push(t.Edit.ToArray());
            t.Edit.Clear();
            return;
        }
        EchoChar(c);
        if (t.Edit.Count >= Tty.MaxLine) { t.Push(t.Edit.ToArray()); t.Edit.Clear(); }
    }

    /// <summary>
    /// read on the console: canonical mode returns at most one line (0 once for a Ctrl-D on an empty
    /// line), raw mode the bytes ready, waiting for VMIN of them (VMIN 0: never waits; VTIME then
    /// is a timeout in tenths of a second). Blocks while nothing is ready; 0 when the host closed the
    /// input and everything was read. -EFAULT loses the input taken, as on a tty.
    /// </summary>
    private long ReadConsole(PProcess p, UserPtr buf, int n)
    {
        TtyPump();
        var t = Tty;
        if (t.Ready.Count == 0 && Console.InputClosed && !Console.HasInput && t.Edit.Count > 0)
        {
            t.Push(t.Edit.ToArray());          // the host closed the input part way through a line
            t.Edit.Clear();
        }
        int vmin = t.Canonical ? 1 : Math.Min((int)t.Cc[Tty.VMIN], n);
        bool closed = Console.InputClosed && !Console.HasInput;
        if (t.Ready.Count == 0 || (!t.Canonical && t.ReadyBytes < vmin && !closed))
        {
            if (closed) return 0;
            if (!t.Canonical && vmin == 0)
            {
                if (t.Cc[Tty.VTIME] == 0 || (p.WakeAt != 0 && _m.Clock >= p.WakeAt)) { p.WakeAt = 0; return 0; }
                if (p.WakeAt == 0) p.WakeAt = _m.Clock + t.Cc[Tty.VTIME] * 100_000_000UL;
            }
            p.TtyWait = true;
            Block(p);
            return 0;
        }
        p.WakeAt = 0;
        var data = new List<byte>(Math.Min(n, t.ReadyBytes));
        while (data.Count < n && t.Ready.Count > 0)
        {
            var head = t.Ready.Peek();
            if (head.Length == 0)
            {
                if (data.Count > 0) break;       // end of file: its own read
                t.Ready.Dequeue();
                t.HeadOffset = 0;
                break;
            }
            int k = Math.Min(n - data.Count, head.Length - t.HeadOffset);
            data.AddRange(head.AsSpan(t.HeadOffset, k));
            t.HeadOffset += k;
            t.ReadyBytes -= k;
            if (t.HeadOffset == head.Length) { t.Ready.Dequeue(); t.HeadOffset = 0; }
            if (t.Canonical) break;              // one line per read
        }
        _ttyPending = t.ReadyBytes + t.Edit.Count;
        var bytes = data.ToArray();
        if (bytes.Length > 0 && !CopyOut(p, buf, bytes)) return -EFAULT;
        return bytes.Length;
    }

    // ioctl request numbers (asm-generic/ioctls.h)
    private const ulong TCGETS = 0x5401, TCSETS = 0x5402, TCSETSW = 0x5403, TCSETSF = 0x5404, TCSBRK = 0x5409,
        TCXONC = 0x540A, TCFLSH = 0x540B, TIOCSCTTY = 0x540E, TIOCGPGRP = 0x540F, TIOCSPGRP = 0x5410,
        TIOCOUTQ = 0x5411, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414, FIONREAD = 0x541B, TIOCNOTTY = 0x5422,
        TIOCGSID = 0x5429;

    /// <summary>
    /// ioctl on the console (ioctl_tty(2), ioctl_console): TCGETS / TCSETS / TCSETSW / TCSETSF (the
    /// struct termios the discipline follows; TCSETSF also flushes typed input), TIOCGPGRP /
    /// TIOCSPGRP (the foreground process group, one of the caller's session), TIOCGWINSZ /
    /// TIOCSWINSZ (a change sends SIGWINCH to the foreground), TIOCSCTTY (a session leader takes the
    /// console), TIOCNOTTY, TIOCGSID, FIONREAD, TIOCOUTQ, TCFLSH, TCSBRK and TCXONC (output is never
    /// held back). Fails: -ENOTTY (another request), -EFAULT, -EINVAL, -EPERM (a group of another
    /// session, TIOCSCTTY by a non-leader), -ESRCH.
    /// </summary>
    private long TtyIoctl(PProcess p, ulong request, UserPtr arg)
    {
        var t = Tty;
        Span<byte> b = stackalloc byte[36];
        switch (request & 0xffff_ffff)
        {
            case TCGETS:
                BinaryPrimitives.WriteUInt32LittleEndian(b, t.Iflag);
                BinaryPrimitives.WriteUInt32LittleEndian(b[4..], t.Oflag);
                BinaryPrimitives.WriteUInt32LittleEndian(b[8..], t.Cflag);
                BinaryPrimitives.WriteUInt32LittleEndian(b[12..], t.Lflag);
                b[16] = t.Line;
                t.Cc.CopyTo(b[17..]);
                return CopyOut(p, arg, b) ? 0 : -EFAULT;
            case TCSETS or TCSETSW or TCSETSF:
                if (!CopyIn(p, arg, b)) return -EFAULT;
                TtyPump();
                bool wasCanonical = t.Canonical;
                t.Iflag = BinaryPrimitives.ReadUInt32LittleEndian(b);
                t.Oflag = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
                t.Cflag = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
                t.Lflag = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
                t.Line = b[16];
                b.Slice(17, Tty.NCCS).CopyTo(t.Cc);
                if ((request & 0xffff_ffff) == TCSETSF) t.FlushInput();
                if (wasCanonical && !t.Canonical && t.Edit.Count > 0) { t.Push(t.Edit.ToArray()); t.Edit.Clear(); }
                WakeTtyReaders();
                return 0;
            case TIOCGPGRP:
                BinaryPrimitives.WriteInt32LittleEndian(b, t.ForegroundPgrp);
                return CopyOut(p, arg, b[..4]) ? 0 : -EFAULT;
            case TIOCSPGRP:
                {
                    if (!CopyIn(p, arg, b[..4])) return -EFAULT;
                    int pgrp = BinaryPrimitives.ReadInt32LittleEndian(b);
                    if (pgrp < 0) return -EINVAL;
                    if (p.Sid != t.Session) return -ENOTTY;
                    // zombies still hold their group (a pipeline's first command may have exited already)
                    if (!_procs.Any(q => q.Pgid == pgrp)) return -ESRCH;
                    if (!_procs.Any(q => q.Pgid == pgrp && q.Sid == p.Sid)) return -EPERM;
                    t.ForegroundPgrp = pgrp;
                    return 0;
                }
            case TIOCGWINSZ:
                BinaryPrimitives.WriteUInt16LittleEndian(b, t.Rows);
                BinaryPrimitives.WriteUInt16LittleEndian(b[2..], t.Cols);
                BinaryPrimitives.WriteUInt16LittleEndian(b[4..], t.XPixel);
                BinaryPrimitives.WriteUInt16LittleEndian(b[6..], t.YPixel);
                return CopyOut(p, arg, b[..8]) ? 0 : -EFAULT;
            case TIOCSWINSZ:
                {
                    if (!CopyIn(p, arg, b[..8])) return -EFAULT;
                    ushort rows = BinaryPrimitives.ReadUInt16LittleEndian(b), cols = BinaryPrimitives.ReadUInt16LittleEndian(b[2..]);
                    bool changed = rows != t.Rows || cols != t.Cols;
                    (t.Rows, t.Cols) = (rows, cols);
                    t.XPixel = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]);
                    t.YPixel = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]);
                    if (changed && t.ForegroundPgrp > 0) SignalGroup(t.ForegroundPgrp, SIGWINCH, new SigInfo(SI_KERNEL, 0, 0, 0));
                    return 0;
                }
            case TIOCSCTTY:
                if (p.Sid != p.Pid) return -EPERM;
                if (t.Session == p.Sid) return 0;
                if (t.Session != 0 && _procs.Any(q => q.Sid == t.Session && q.State != PState.Zombie) && arg.Value != 1) return -EPERM;
                t.Session = p.Sid;
                t.ForegroundPgrp = p.Pgid;
                return 0;
            case TIOCNOTTY:
                if (p.Sid != t.Session) return -ENOTTY;
                if (p.Sid == p.Pid) { t.Session = 0; t.ForegroundPgrp = 0; }
                return 0;
            case TIOCGSID:
                if (t.Session == 0 || p.Sid != t.Session) return -ENOTTY;
                BinaryPrimitives.WriteInt32LittleEndian(b, t.Session);
                return CopyOut(p, arg, b[..4]) ? 0 : -EFAULT;
            case FIONREAD or TIOCOUTQ:
                TtyPump();
                BinaryPrimitives.WriteInt32LittleEndian(b, (request & 0xffff_ffff) == FIONREAD ? t.ReadyBytes : 0);
                return CopyOut(p, arg, b[..4]) ? 0 : -EFAULT;
            case TCFLSH:
                if (arg.Value > 2) return -EINVAL;
                if (arg.Value != 1) { TtyPump(); t.FlushInput(); }
                return 0;
            case TCSBRK or TCXONC:
                return 0;
            default:
                return -ENOTTY;
        }
    }

    /// <summary>Console readers look again (the mode changed: what they wait for may be there).</summary>
    private void WakeTtyReaders()
    {
        foreach (var q in _procs) if (q.State == PState.Blocked && q.TtyWait) { q.State = PState.Runnable; q.TtyWait = false; }
    }

    // snapshots: the terminal (version 5 on)
    private void SaveTty(BinaryWriter w)
    {
        var t = Tty;
        w.Write(t.Iflag); w.Write(t.Oflag); w.Write(t.Cflag); w.Write(t.Lflag); w.Write(t.Line); w.Write(t.Cc);
        w.Write(t.Rows); w.Write(t.Cols); w.Write(t.XPixel); w.Write(t.YPixel);
        w.Write(t.Session); w.Write(t.ForegroundPgrp);
        w.Write(t.Edit.Count); w.Write(t.Edit.ToArray());
        w.Write(t.Ready.Count);
        foreach (var chunk in t.Ready) { w.Write(chunk.Length); w.Write(chunk); }
        w.Write(t.HeadOffset);
    }

    /// <summary>Reads what <see cref="SaveTty"/> wrote into a new <see cref="Tty"/> (checked; the
    /// live one changes only in <see cref="RestoreTty"/>).</summary>
    private static Tty LoadTty(BinaryReader r)
    {
        var t = new Tty
        {
            Iflag = r.ReadUInt32(), Oflag = r.ReadUInt32(), Cflag = r.ReadUInt32(), Lflag = r.ReadUInt32(), Line = r.ReadByte(),
        };
        r.ReadBytes(Tty.NCCS).CopyTo(t.Cc, 0);
        t.Rows = r.ReadUInt16(); t.Cols = r.ReadUInt16(); t.XPixel = r.ReadUInt16(); t.YPixel = r.ReadUInt16();
        t.Session = r.ReadInt32(); t.ForegroundPgrp = r.ReadInt32();
        int edit = r.ReadInt32();
        if (edit is < 0 or > Tty.MaxReady) throw new InvalidDataException("bad terminal line");
        t.Edit.AddRange(r.ReadBytes(edit));
        int chunks = r.ReadInt32();
        if (chunks is < 0 or > Tty.MaxReady * 2) throw new InvalidDataException("bad terminal input");
        for (int i = 0; i < chunks; i++)
        {
            int len = r.ReadInt32();
            if (len is < 0 or > Tty.MaxReady * 2) throw new InvalidDataException("bad terminal input");
            t.Push(r.ReadBytes(len));
        }
        t.HeadOffset = r.ReadInt32();
        if (t.HeadOffset < 0 || (t.Ready.Count > 0 ? t.HeadOffset > t.Ready.Peek().Length : t.HeadOffset != 0))
            throw new InvalidDataException("bad terminal input offset");
        t.ReadyBytes -= t.HeadOffset;
        return t;
    }

    private void RestoreTty(Tty from)
    {
        var t = Tty;
        (t.Iflag, t.Oflag, t.Cflag, t.Lflag, t.Line) = (from.Iflag, from.Oflag, from.Cflag, from.Lflag, from.Line);
        from.Cc.CopyTo(t.Cc, 0);
        (t.Rows, t.Cols, t.XPixel, t.YPixel) = (from.Rows, from.Cols, from.XPixel, from.YPixel);
        (t.Session, t.ForegroundPgrp) = (from.Session, from.ForegroundPgrp);
        t.FlushInput();
        t.Edit.AddRange(from.Edit);
        foreach (var c in from.Ready) t.Push(c);
        t.HeadOffset = from.HeadOffset;
        t.ReadyBytes = from.ReadyBytes;
        _ttyPending = t.ReadyBytes + t.Edit.Count;
    }
}
