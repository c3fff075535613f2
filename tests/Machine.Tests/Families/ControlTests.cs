using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.Families;

/// <summary>Branches, calls, the stack, string instructions, SSE and the trapping instructions.</summary>
public class ControlTests
{
    [Fact]
    public void CallsReturnsRecursionAndStackFrames()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            var fact = a.CreateLabel(); var done = a.CreateLabel(); var end = a.CreateLabel();
            a.mov(edi, 10); a.call(fact); a.jmp(end);
            a.Label(ref fact);
            a.push(rbp); a.mov(rbp, rsp); a.sub(rsp, 16);
            a.mov(eax, 1); a.cmp(edi, 1); a.jle(done);
            a.mov(__qword_ptr[rbp - 8], rdi); a.dec(edi); a.call(fact);
            a.imul(rax, __qword_ptr[rbp - 8]);
            a.Label(ref done);
            a.leave(); a.ret();
            a.Label(ref end);
            a.enter(32, 0); a.leave();
        });
        f.RunToEnd();
        Assert.Equal(3628800UL, f[R.Rax]);
        Assert.Equal(CpuFixture.StackTop, f[R.Rsp]);
    }

    /// <summary>User mode (no segment descriptors): an fs: or gs: memory operand adds the FS or GS
    /// base (what arch_prctl sets; thread-local storage at %fs:OFFSET), for loads, stores, read-modify-
    /// write and string instructions, while lea and unprefixed operands do not.</summary>
    [Fact]
    public void FsAndGsOverridesAddTheirBasesInUserMode()
    {
        using var f = new CpuFixture();
        const ulong fsBase = CpuFixture.DataBase + 0x1000, gsBase = CpuFixture.DataBase + 0x2000;
        f.Cpu.FsBase = fsBase;
        f.Cpu.GsBase = gsBase;
        f.Machine.Memory.WriteU64(CpuFixture.DataPhys + 0x1010, 0x1122334455667788);
        f.Machine.Memory.WriteU64(CpuFixture.DataPhys + 0x10, 0xDEAD);
        f.Load(a =>
        {
            a.mov(rax, __qword_ptr.fs[0x10]);                 // the TLS load glibc's errno uses
            a.mov(rbx, 0xABCDEF);
            a.mov(__qword_ptr.gs[8], rbx);
            a.mov(edi, 0x10);
            a.add(__qword_ptr.fs[rdi], 1);                    // read-modify-write through fs
            a.mov(rcx, __qword_ptr.fs[rdi]);
            a.mov(rdx, __qword_ptr[CpuFixture.DataBase + 0x10]);   // no override: no base
            a.lea(rsi, __qword_ptr.fs[0x10]);                 // lea computes the offset only
            a.mov(rdi, CpuFixture.DataBase + 0x3000);
            a.mov(esi, 0x10);
            a.db(0x64, 0x48, 0xA5);                            // fs movsq: the string source through fs
        });
        f.RunToEnd();
        Assert.Equal(0x1122334455667788UL, f[R.Rax]);
        Assert.Equal(0xABCDEFUL, f.Machine.Memory.ReadU64(CpuFixture.DataPhys + 0x2008));
        Assert.Equal(0x1122334455667789UL, f[R.Rcx]);
        Assert.Equal(0xDEADUL, f[R.Rdx]);
        Assert.Equal(0x10UL, f[R.Rsi] - 8);
        Assert.Equal(0x1122334455667789UL, f.Machine.Memory.ReadU64(CpuFixture.DataPhys + 0x3000));
    }

    [Fact]
    public void IndirectJumpThroughJumpTableAndIndirectCall()
    {
        using var f = new CpuFixture();
        // gcc's -fno-pie jump tables hold absolute case addresses; the table is patched after assembly.
        LoadJumpTableProgram(f);
        f.RunToEnd();
        Assert.Equal(1102UL, f[R.Rax]);
    }

    private static void LoadJumpTableProgram(CpuFixture f)
    {
        var a = new Assembler(64);
        var c0 = a.CreateLabel(); var c1 = a.CreateLabel(); var c2 = a.CreateLabel();
        var join = a.CreateLabel(); var fn = a.CreateLabel(); var after = a.CreateLabel(); var table = a.CreateLabel();
        a.mov(ecx, 2);
        a.lea(rdx, __[table]);
        a.jmp(__qword_ptr[rdx + rcx * 8]);
        a.Label(ref c0); a.mov(eax, 100); a.jmp(join);
        a.Label(ref c1); a.mov(eax, 101); a.jmp(join);
        a.Label(ref c2); a.mov(eax, 102); a.jmp(join);
        a.Label(ref join);
        a.lea(r8, __[fn]); a.call(r8);
        a.jmp(after);
        a.Label(ref fn); a.add(eax, 1000); a.ret();
        a.Label(ref table); a.dq(0); a.dq(0); a.dq(0);
        a.Label(ref after);
        a.int3();
        var ms = new MemoryStream();
        var result = a.Assemble(new StreamCodeWriter(ms), CpuFixture.CodeBase, BlockEncoderOptions.ReturnNewInstructionOffsets);
        byte[] bytes = ms.ToArray();
        ulong tableAddr = result.GetLabelRIP(table) - CpuFixture.CodeBase;
        ulong[] cases = [result.GetLabelRIP(c0), result.GetLabelRIP(c1), result.GetLabelRIP(c2)];
        for (int i = 0; i < 3; i++) BitConverter.TryWriteBytes(bytes.AsSpan((int)tableAddr + 8 * i), cases[i]);
        f.LoadBytes(bytes);
    }

    [Fact]
    public void RepStringInstructionsCopyFillCompareAndScan()
    {
        using var f = new CpuFixture();
        for (ulong i = 0; i < 64; i++) f.Machine.Memory.WriteU8(CpuFixture.DataPhys + i, (byte)(i + 1));
        f.Load(a =>
        {
            a.cld();
            a.mov(rsi, CpuFixture.DataBase); a.mov(rdi, CpuFixture.DataBase + 0x100); a.mov(ecx, 64);
            a.rep.movsb();
            a.mov(rdi, CpuFixture.DataBase + 0x200); a.mov(eax, 0x41414141); a.mov(ecx, 4); a.rep.stosd();
            a.mov(rsi, CpuFixture.DataBase); a.mov(rdi, CpuFixture.DataBase + 0x100); a.mov(ecx, 64);
            a.repe.cmpsb(); a.mov(r8, rcx); a.setz(r9b);
            a.mov(rdi, CpuFixture.DataBase); a.mov(al, 10); a.mov(ecx, 64); a.repne.scasb();
            a.mov(r10, rdi);
            a.std(); a.mov(rsi, CpuFixture.DataBase + 7); a.lodsb(); a.cld(); a.mov(r11, rsi);
        });
        f.RunToEnd();
        for (ulong i = 0; i < 64; i++) Assert.Equal((byte)(i + 1), f.Machine.Memory.ReadU8(CpuFixture.DataPhys + 0x100 + i));
        Assert.Equal(0x4141414141414141UL, f.ReadData64(0x200));
        Assert.Equal(0x4141414141414141UL, f.ReadData64(0x208));
        Assert.Equal(0UL, f[R.R8]);
        Assert.Equal(1UL, f[R.R9] & 0xFF);
        Assert.Equal(CpuFixture.DataBase + 10, f[R.R10]);   // byte 10 is at offset 9; rdi points past it
        Assert.Equal(8UL, f[R.Rax] & 0xFF);
        Assert.Equal(CpuFixture.DataBase + 6, f[R.R11]);
        // Each rep instruction retires once, however many iterations it runs: 26 instructions in all.
        Assert.Equal(26UL, f.Machine.InstructionsRetired);
    }

    [Fact]
    public void HugeRepCountYieldsToTheTimerWithoutLosingProgress()
    {
        using var f = new CpuFixture();
        f.Machine.TimerInterval = 1000;
        f.Machine.ResetTimer();
        f.Load(a => { a.mov(rdi, CpuFixture.DataBase); a.xor(eax, eax); a.mov(ecx, 0x8000); a.rep.stosb(); });
        int timers = 0;
        Trap t;
        do
        {
            t = f.Run();
            if (t.Kind == TrapKind.Timer) timers++;
        } while (t.Kind == TrapKind.Timer);
        Assert.Equal(TrapKind.Breakpoint, t.Kind);
        Assert.Equal(0UL, f[R.Rcx]);
        Assert.Equal(CpuFixture.DataBase + 0x8000, f[R.Rdi]);
        Assert.Equal(5UL, f.Machine.InstructionsRetired);   // mov, xor, mov, rep stosb, int3
    }

    [Fact]
    public void SseIntegerLoopsAndDataMovement()
    {
        using var f = new CpuFixture();
        for (ulong i = 0; i < 8; i++) f.Machine.Memory.WriteU32(CpuFixture.DataPhys + i * 4, (uint)(i + 1));
        f.Load(a =>
        {
            a.mov(rdi, CpuFixture.DataBase);
            a.movdqa(xmm0, __xmmword_ptr[rdi]); a.movdqu(xmm1, __xmmword_ptr[rdi + 16]);
            a.paddd(xmm0, xmm1);                        // 6 8 10 12
            a.pshufd(xmm2, xmm0, 0x1B);                 // reversed
            a.movdqa(__xmmword_ptr[rdi + 32], xmm2);
            a.pxor(xmm3, xmm3); a.pcmpeqb(xmm3, xmm3);  // all ones
            a.pmovmskb(eax, xmm3);
            a.movq(rbx, xmm0);
            a.punpckldq(xmm0, xmm1);
            a.movq(__qword_ptr[rdi + 48], xmm0);
        });
        f.RunToEnd();
        Assert.Equal(12U, f.Machine.Memory.ReadU32(CpuFixture.DataPhys + 32));
        Assert.Equal(6U, f.Machine.Memory.ReadU32(CpuFixture.DataPhys + 44));
        Assert.Equal(0xFFFFUL, f[R.Rax]);
        Assert.Equal((8UL << 32) | 6, f[R.Rbx]);
        Assert.Equal((5UL << 32) | 6, f.ReadData64(48));
    }

    [Fact]
    public void MisalignedMovdqaRaisesGeneralProtection()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(rdi, CpuFixture.DataBase + 8); a.movdqa(xmm0, __xmmword_ptr[rdi]); });
        Assert.Equal(TrapKind.GeneralProtection, f.Run().Kind);
    }

    [Fact]
    public void SyscallSetsRcxAndR11AndResumesAfterIt()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(eax, 39); a.stc(); a.syscall(); a.mov(ebx, 7); });
        var t = f.Run();
        Assert.Equal(TrapKind.Syscall, t.Kind);
        Assert.Equal(f.Cpu.Rip, f[R.Rcx]);
        Assert.Equal(t.InstructionAddress.Value + 2, f.Cpu.Rip);
        Assert.Equal(1UL, f[R.R11] & 1);           // r11 holds RFLAGS (CF set)
        Assert.Equal(0x200UL, f[R.R11] & 0x200);   // IF
        f.RunToEnd();
        Assert.Equal(7UL, f[R.Rbx]);
    }

    [Fact]
    public void SoftwareInterruptsBreakpointHaltAndInvalidOpcode()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.@int(48); a.hlt(); a.nop(); a.pause(); a.endbr64(); a.ud2(); });
        var t = f.Run();
        Assert.Equal(TrapKind.SoftwareInterrupt, t.Kind);
        Assert.Equal(48, t.Vector);
        Assert.Equal(TrapKind.Halt, f.Run().Kind);
        t = f.Run();
        Assert.Equal(TrapKind.InvalidOpcode, t.Kind);
        Assert.Contains("ud2", t.Detail);
        Assert.Equal(t.InstructionAddress.Value, f.Cpu.Rip);
    }

    [Fact]
    public void UnsupportedInstructionNamesItself()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.nop(); a.emms(); });
        var t = f.Run();
        Assert.Equal(TrapKind.InvalidOpcode, t.Kind);
        Assert.Contains("emms", t.Detail);
        Assert.Equal(1UL, f.Machine.InstructionsRetired);
    }

    [Fact]
    public void PrivilegedInstructionsRaiseGeneralProtection()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.cli(); });
        Assert.Equal(TrapKind.GeneralProtection, f.Run().Kind);
        f.Load(a => { a.mov(rax, cr3); });
        Assert.Equal(TrapKind.GeneralProtection, f.Run().Kind);
    }

    [Fact]
    public void CpuidAndRdtscAreDeterministic()
    {
        ulong Run()
        {
            using var f = new CpuFixture();
            f.Load(a => { a.xor(eax, eax); a.cpuid(); a.rdtsc(); a.shl(rdx, 32); a.or(rax, rdx); });
            f.RunToEnd();
            return f[R.Rax] ^ (f[R.Rbx] << 1);
        }
        Assert.Equal(Run(), Run());
    }
}
