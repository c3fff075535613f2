namespace Lab.Machine.Cpu;

/// <summary>Control transfer and trapping instructions: indirect jmp/call, jrcxz, loop, syscall, int n, int3, hlt, cpuid, rdtsc, #UD, #GP.</summary>
public sealed unsafe partial class Cpu
{
    private bool RecordTrap(TrapKind kind, byte vector, bool retires)
    {
        _trapKind = kind;
        _trapVector = vector;
        _trapError = 0;
        _trapAddr = 0;
        _trapRetires = retires;
        return false;
    }

    private bool InvalidOpcode() => RecordTrap(TrapKind.InvalidOpcode, 6, retires: false);

    /// <summary>An instruction that needs CPL 0 raises #GP(0) in user mode.</summary>
    private bool Privileged() => RecordTrap(TrapKind.GeneralProtection, 13, retires: false);

    /// <summary>syscall: rcx = return rip, r11 = rflags, then the kernel runs (reported as a trap).</summary>
    private bool Syscall(ref Op op)
    {
        _regs[1] = op.NextIp;
        _regs[11] = RFlags;
        return RecordTrap(TrapKind.Syscall, 0, retires: true);
    }

    private bool SoftwareInterrupt(ref Op op) => RecordTrap(TrapKind.SoftwareInterrupt, (byte)op.Imm, retires: true);

    private bool Breakpoint() => RecordTrap(TrapKind.Breakpoint, 3, retires: true);

    private bool Halt() => RecordTrap(TrapKind.Halt, 0, retires: true);

    /// <summary>cpuid with fixed, deterministic answers describing what this CPU implements.</summary>
    private bool Cpuid()
    {
        uint leaf = (uint)_regs[0], a = 0, b = 0, c = 0, d = 0;
        switch (leaf)
        {
            case 0:
                a = 7;
                // "LabMachine64" in ebx, edx, ecx order.
                b = 0x4D62614C; d = 0x69686361; c = 0x3436656E;
                break;
            case 1:
                a = 0x00000F01;                       // family 15, model 0, stepping 1
                d = 1u | (1u << 4) | (1u << 8) | (1u << 15) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26); // FPU TSC CX8 CMOV MMX-bit FXSR SSE SSE2
                d &= ~(1u << 23);                     // no MMX registers
                c = 1u << 23;                         // POPCNT
                break;
            case 7:
                b = (uint)_regs[1] == 0 ? (1u << 3) : 0;   // subleaf 0: BMI1 (tzcnt)
                break;
            case 0x80000000:
                a = 0x80000001;
                break;
            case 0x80000001:
                c = (1u << 5);                        // ABM (lzcnt)
                d = (1u << 11) | (1u << 20) | (1u << 29); // SYSCALL, NX, long mode
                break;
        }
        _regs[0] = a; _regs[3] = b; _regs[1] = c; _regs[2] = d;
        return true;
    }

    /// <summary>rdtsc: the time-stamp counter is machine time, so runs stay deterministic.</summary>
    private bool Rdtsc()
    {
        ulong t = _retired + _extraTime;
        _regs[0] = (uint)t;
        _regs[2] = t >> 32;
        return true;
    }

    private bool JmpIndirect(ref Op op)
    {
        ulong target;
        if (op.Form == Form.R) target = GetReg(op.R0, op.Size);
        else if (!Read(EA(ref op), op.Size, out target)) return false;
        _rip = target;
        return true;
    }

    private bool CallIndirect(ref Op op)
    {
        ulong target;
        if (op.Form == Form.R) target = GetReg(op.R0, op.Size);
        else if (!Read(EA(ref op), op.Size, out target)) return false;
        if (!Push64(op.NextIp)) return false;
        _rip = target;
        return true;
    }

    private bool Jrcxz(ref Op op)
    {
        ulong count = op.Size == 8 ? _regs[1] : (uint)_regs[1];
        if (count == 0) _rip = op.Imm;
        return true;
    }

    /// <summary>loop / loope / loopne (Cond 0/1/2): decrement rcx (ecx with 0x67) without touching flags.</summary>
    private bool Loop(ref Op op)
    {
        ulong count;
        if (op.Size == 8) count = --_regs[1];
        else { count = (uint)(_regs[1] - 1); _regs[1] = count; }
        bool take = count != 0;
        if (op.Cond == 1) take &= Condition(4);
        else if (op.Cond == 2) take &= !Condition(4);
        if (take) _rip = op.Imm;
        return true;
    }
}
