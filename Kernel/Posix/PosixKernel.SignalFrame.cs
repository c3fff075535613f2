using System.Buffers.Binary;
using System.Numerics;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.Signals;

namespace Lab.Kernel.Posix;

// The signals family, part two: delivery. On its way back to user mode a process takes its pending
// signals that are not blocked (Linux: exit_to_user_mode -> arch_do_signal_or_restart): the default
// action (ignore, stop, terminate), or its handler on a Linux rt_sigframe built on the user stack;
// rt_sigreturn takes the frame down again. A system call the signal interrupted returns -EINTR or,
// with SA_RESTART, runs again after the handler (a blocked call here sits on its `syscall`
// instruction, so restarting it is leaving it there).
public sealed partial class PosixKernel
{
    // struct rt_sigframe (arch/x86/include/asm/sigframe.h) as offsets from its start:
    //   0 pretcode (the return address: sa_restorer)   8 struct ucontext   312 struct siginfo (128)
    // struct ucontext: 8 uc_flags, 16 uc_link, 24 uc_stack (sp, flags, size), 48 uc_mcontext
    // (struct sigcontext, 256 bytes), 304 uc_sigmask. The fxsave area (fpstate) follows, 64-aligned.
    private const int UcOffset = 8, StackOffset = 24, McOffset = 48, MaskOffset = 304, InfoOffset = 312, FrameSize = 440;
    private const int FpStateSize = 512;
    /// <summary>struct sigcontext's general registers in Linux's order (r8..r15, rdi, rsi, rbp, rbx,
    /// rdx, rax, rcx, rsp): glibc's REG_R8 .. REG_RSP.</summary>
    private static readonly Register[] SigcontextOrder =
    [
        Register.R8, Register.R9, Register.R10, Register.R11, Register.R12, Register.R13, Register.R14, Register.R15,
        Register.Rdi, Register.Rsi, Register.Rbp, Register.Rbx, Register.Rdx, Register.Rax, Register.Rcx, Register.Rsp,
    ];
    /// <summary>The flags rt_sigreturn takes from the frame (Linux's FIX_EFLAGS): CF PF AF ZF SF TF DF OF AC RF.</summary>
    private const ulong FixEflags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x1_0000;

    /// <summary>System calls a handler never restarts, SA_RESTART or not (they return -EINTR):
    /// sleeps and waits for signals, poll and select.</summary>
    private static bool NeverRestarted(ulong nr) => nr is 7 or 23 or 34 or 35 or 128 or 130 or 230 or 232 or 270 or 271 or 281;

    /// <summary>
    /// Delivers <paramref name="p"/>'s pending signals that are not blocked, lowest number first:
    /// ignored ones vanish, a stop signal stops it, a terminating one ends it, a caught one gets a
    /// handler frame (several nest, the last one runs first). True when <paramref name="p"/> may go
    /// on running; false when it stopped or ended.
    /// </summary>
    private bool DeliverSignals(PProcess p)
    {
        while (p.State != PState.Zombie && !p.Stopped)
        {
            ulong ready = p.SigPending & ~p.SigMask;
            if (ready == 0) return p.State == PState.Runnable;
            int sig = BitOperations.TrailingZeroCount(ready) + 1;
            p.SigPending &= ~Bit(sig);
            var info = p.PendingInfo![sig - 1];
            var act = ActionOf(p, sig);
            if (act.Handler == SIG_IGN) continue;
            if (act.Handler == SIG_DFL)
            {
                if (IgnoredByDefault(sig)) continue;
                if (Stops(sig)) { Stop(p, sig); return false; }
                TerminateBySignal(p, sig);
                return false;
            }
            p.State = PState.Runnable;
            if (p.Restarting) InterruptSyscall(p, act);
            if (!SetUpFrame(p, sig, info, act))
            {
                TerminateBySignal(p, SIGSEGV);   // no room for the frame: Linux forces SIGSEGV
                return false;
            }
        }
        return false;
    }

    /// <summary>A handler is about to run while <paramref name="p"/> sat in a blocking call: it
    /// restarts after the handler (SA_RESTART, for calls that may) or returns -EINTR now; an
    /// interrupted nanosleep writes the time left to its rem.</summary>
    private void InterruptSyscall(PProcess p, SigAction act)
    {
        ulong nr = p.Regs[(int)Register.Rax];
        if ((act.Flags & SA_RESTART) != 0 && !NeverRestarted(nr)) return;
        p.Rip += 2;
        p.Restarting = false;
        UserPtr rem = nr == 35 ? new UserPtr(p.Regs[(int)Register.Rsi]) : nr == 230 && (p.Regs[(int)Register.Rsi] & 1) == 0 ? new UserPtr(p.Regs[(int)Register.R10]) : default;
        if (!rem.IsNull && p.WakeAt > _m.Clock)
        {
            ulong left = p.WakeAt - _m.Clock;
            Span<byte> ts = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(ts, left / 1_000_000_000);
            BinaryPrimitives.WriteUInt64LittleEndian(ts[8..], left % 1_000_000_000);
            CopyOut(p, rem, ts);
        }
        p.WakeAt = 0;
        p.TtyWait = false;
        p.WaitSet = 0;
        p.Regs[(int)Register.Rax] = unchecked((ulong)-EINTR);
        Report(p, nr, nr < (ulong)ByNumber.Length ? ByNumber[(int)nr] : null, p.Regs[(int)Register.Rdi], -EINTR);
    }

    /// <summary>siginfo_t for <paramref name="sig"/> (128 bytes): signo, errno, code, then the
    /// union: pid and uid for a sender, plus status for SIGCHLD; the address for a fault.</summary>
    private static byte[] SigInfoBytes(int sig, SigInfo info)
    {
        var b = new byte[128];
        BinaryPrimitives.WriteInt32LittleEndian(b, sig);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), info.Code);
        if (sig is SIGSEGV or SIGBUS or SIGILL or SIGFPE or SIGTRAP && info.Code > 0)
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), info.Addr);
        else
        {
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), info.Pid);
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(20), info.Pid == 0 ? 0 : (int)Identity.Uid);
            if (sig == SIGCHLD) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(24), info.Status);
        }
        return b;
    }

    /// <summary>
    /// setup_rt_frame: builds the rt_sigframe for <paramref name="sig"/> below <paramref name="p"/>'s
    /// stack (past the 128-byte red zone, or at the top of the alternate stack for SA_ONSTACK), saves
    /// every register, the XMM state and the mask to restore in it, and points the registers at the
    /// handler: rdi = sig, rsi = &amp;siginfo, rdx = &amp;ucontext, rsp = the frame (whose first word,
    /// the return address, is sa_restorer, which calls rt_sigreturn). The handler runs with its
    /// sa_mask and the signal itself blocked (not with SA_NODEFER); SA_RESETHAND puts SIG_DFL back.
    /// False when the frame could not be written (or there is no restorer).
    /// </summary>
    private bool SetUpFrame(PProcess p, int sig, SigInfo info, SigAction act)
    {
        if ((act.Flags & SA_RESTORER) == 0 || act.Restorer == 0) return false;
        FlushFpState();
        ulong sp = p.Regs[(int)Register.Rsp];
        bool onAlt = OnAltStack(p, sp);
        if ((act.Flags & SA_ONSTACK) != 0 && p.AltStackFlags != SS_DISABLE && !onAlt) sp = p.AltStackSp + p.AltStackSize;
        else sp -= 128;
        ulong fp = (sp - FpStateSize) & ~63UL;
        ulong frame = ((fp - FrameSize) & ~15UL) - 8;
        if (frame >= UserLimit || frame < Page) return false;
        var b = new byte[(int)(fp + FpStateSize - frame)];
        var s = b.AsSpan();
        ulong saved = p.Suspended ? p.SuspendMask : p.SigMask;
        BinaryPrimitives.WriteUInt64LittleEndian(s, act.Restorer);
        // uc_stack
        BinaryPrimitives.WriteUInt64LittleEndian(s[StackOffset..], p.AltStackSp);
        BinaryPrimitives.WriteInt32LittleEndian(s[(StackOffset + 8)..], onAlt ? SS_ONSTACK : p.AltStackFlags);
        BinaryPrimitives.WriteUInt64LittleEndian(s[(StackOffset + 16)..], p.AltStackSize);
        // uc_mcontext: the registers, then rip, eflags, cs/gs/fs/ss, err, trapno, oldmask, cr2, fpstate
        for (int i = 0; i < SigcontextOrder.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(s[(McOffset + 8 * i)..], p.Regs[(int)SigcontextOrder[i]]);
        BinaryPrimitives.WriteUInt64LittleEndian(s[(McOffset + 128)..], p.Rip);
        BinaryPrimitives.WriteUInt64LittleEndian(s[(McOffset + 136)..], p.RFlags);
        BinaryPrimitives.WriteUInt64LittleEndian(s[(McOffset + 144)..], 0x002B_0000_0000_0033UL);   // cs 0x33, ss 0x2b
        BinaryPrimitives.WriteUInt64LittleEndian(s[(McOffset + 168)..], saved);
        if (sig == SIGSEGV) BinaryPrimitives.WriteUInt64LittleEndian(s[(McOffset + 176)..], info.Addr);
        BinaryPrimitives.WriteUInt64LittleEndian(s[(McOffset + 184)..], fp);
        BinaryPrimitives.WriteUInt64LittleEndian(s[MaskOffset..], saved);
        SigInfoBytes(sig, info).CopyTo(s[InfoOffset..]);
        // fpstate: the interrupted code's x87, MXCSR and XMM registers, the fxsave image Linux saves
        p.FpState.AsSpan().CopyTo(s[(int)(fp - frame)..]);
        if (!CopyOut(p, new UserPtr(frame), b)) return false;

        p.Regs[(int)Register.Rdi] = (ulong)sig;
        p.Regs[(int)Register.Rsi] = frame + InfoOffset;
        p.Regs[(int)Register.Rdx] = frame + UcOffset;
        p.Regs[(int)Register.Rax] = 0;
        p.Regs[(int)Register.Rsp] = frame;
        p.Rip = act.Handler;
        p.RFlags &= ~(0x100UL | 0x400UL);                     // TF and DF clear, as the ABI wants
        p.SigMask = (p.SigMask | act.Mask | ((act.Flags & SA_NODEFER) != 0 ? 0 : Bit(sig))) & ~Uncatchable;
        p.Suspended = false;
        if ((act.Flags & SA_RESETHAND) != 0 && p.SigActions is { } acts) acts[sig - 1] = default;
        return true;
    }

    /// <summary>
    /// rt_sigreturn(): the restorer's call at the end of a handler. The frame is just above rsp (the
    /// handler's `ret` popped pretcode): every register, rip, the user flags, the x87/SSE state (when the
    /// frame's fpstate pointer is set) and the blocked mask come back from it, so the interrupted code
    /// goes on as if nothing happened (or with what the handler changed in the ucontext). Returns the
    /// restored rax. Linux: rt_sigreturn(2). A frame that cannot be read ends the process (SIGSEGV).
    /// </summary>
    private long RtSigreturn(PProcess p)
    {
        ulong frame = p.Regs[(int)Register.Rsp] - 8;
        Span<byte> uc = stackalloc byte[MaskOffset + 8];
        if (!CopyIn(p, new UserPtr(frame), uc))
        {
            TerminateBySignal(p, SIGSEGV);
            return 0;
        }
        ulong fpstate = BinaryPrimitives.ReadUInt64LittleEndian(uc[(McOffset + 184)..]);
        if (fpstate != 0)
        {
            Span<byte> f = stackalloc byte[FpStateSize];
            if (!CopyIn(p, new UserPtr(fpstate), f))
            {
                TerminateBySignal(p, SIGSEGV);
                return 0;
            }
            f.CopyTo(p.FpState);
            FpStateChanged(p);
        }
        for (int i = 0; i < SigcontextOrder.Length; i++)
            p.Regs[(int)SigcontextOrder[i]] = BinaryPrimitives.ReadUInt64LittleEndian(uc[(McOffset + 8 * i)..]);
        p.Rip = BinaryPrimitives.ReadUInt64LittleEndian(uc[(McOffset + 128)..]);
        ulong flags = BinaryPrimitives.ReadUInt64LittleEndian(uc[(McOffset + 136)..]);
        p.RFlags = (p.RFlags & ~FixEflags) | (flags & FixEflags);
        p.SigMask = BinaryPrimitives.ReadUInt64LittleEndian(uc[MaskOffset..]) & ~Uncatchable;
        return (long)p.Regs[(int)Register.Rax];
    }
}
