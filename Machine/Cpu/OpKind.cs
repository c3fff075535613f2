namespace Lab.Machine.Cpu;

/// <summary>
/// Interpreter handler kinds: one per instruction family and operand form, plus specialised forms for
/// the hottest instructions. The dispatch switch in <c>Cpu.Execute</c> switches on this.
/// </summary>
internal enum OpKind : ushort
{
    // --- traps and the unsupported -------------------------------------------------------------
    Invalid = 0,        // #UD; Imm indexes the block's text table
    Privileged,         // #GP(0): instruction needs CPL 0
    Nop,
    Syscall, Int, Int3, Hlt, Cpuid, Rdtsc,

    // --- data movement (DataMove.cs) ----------------------------------------------------------
    MovRR64, MovRR32, MovRM64, MovRM32, MovMR64, MovMR32, MovRI64, MovRI32,
    Mov,                // generic: any size/form
    MovMI, MovMR, MovRM,   // plain memory forms of any size (RM of 1/2 bytes merges into the register)
    Movzx, Movsx,       // Size = dst size, Size2 = src size (movsxd is Movsx 8<-4)
    MovzxRR, MovzxRM, MovsxRR, MovsxRM,   // 32/64-bit destinations
    Lea,
    Xchg, Bswap,
    Cbw,                // cbw/cwde/cdqe (Size = dst size)
    Cwd,                // cwd/cdq/cqo
    Push, Pop, PushR64, PopR64, Leave, Enter,
    Cmov, Setcc,

    // --- integer arithmetic (Arith.cs) --------------------------------------------------------
    Alu,                // Cond = AluOp; generic form
    AddRR64, AddRI64, SubRI64, CmpRR64, CmpRR32, CmpRI64, CmpRI32, CmpRM32, CmpRM64,
    AddRR32, AddRI32, SubRR64, SubRR32, XorRR32, AndRI32, TestRR64, TestRR32, AddRM64,
    AluRR64, AluRR32, AluRI64, AluRI32, AluRM64, AluRM32,     // any AluOp, register destination
    IncDecR64, IncDecR32,                                       // Cond 0 inc, 1 dec
    ShiftRI64, ShiftRI32,                                       // shl/shr/sar by a non-zero immediate
    Inc, Dec, Neg, Not,
    Cmpxchg, Xadd,

    // --- shifts and rotates (Shift.cs) --------------------------------------------------------
    Shift,              // Cond = ShiftOp; count from Imm (HasImm) or CL
    Shld, Shrd,

    // --- bit instructions (Bits.cs) -----------------------------------------------------------
    Bt,                 // Cond: 0 bt, 1 bts, 2 btr, 3 btc
    Bsf, Bsr, Tzcnt, Lzcnt, Popcnt,

    // --- multiply and divide (MulDiv.cs) ------------------------------------------------------
    Mul1, Imul1, Imul2, Imul3, Div, Idiv,

    // --- control transfer (Control.cs) ---------------------------------------------------------
    Jmp, JmpIndirect, Jcc, Call, CallIndirect, Ret, Jrcxz, Loop,

    // --- flags (FlagOps.cs) --------------------------------------------------------------------
    Clc, Stc, Cmc, Cld, Std, Lahf, Sahf, Pushf, Popf,

    // --- string instructions (StringOps.cs) ------------------------------------------------------
    Movs, Stos, Lods, Cmps, Scas,

    // --- SSE/SSE2 (Sse.cs) ---------------------------------------------------------------------
    SseMov,             // 128-bit load/store/copy; Cond bit 0 = alignment required
    SseMovq,            // movq xmm, xmm/m64 (zero upper); store form writes m64
    SseMovdToXmm,       // movd/movq xmm, r/m32|64 (zero upper)
    SseMovdFromXmm,     // movd/movq r/m32|64, xmm
    SseMovLowHigh,      // movlps/movhps/movlpd/movhpd/movlhps/movhlps; Cond selects
    SseBinary,          // xmm op= xmm/m128; Cond = SseOp
    SseShiftImm,        // psllw/d/q, psrlw/d/q, psraw/d, pslldq, psrldq by imm; Cond = SseOp
    SseShuffle,         // pshufd/pshuflw/pshufhw/shufps with imm8; Cond selects
    Pmovmskb,
    Pextrw, Pinsrw,
    // --- SSE floating point (SseFloat.cs) ---
    SseFloat,           // xmm op= xmm/m (Size = memory bytes 4/8/16, Size2 = 1 aligned); Cond = FpOp, Imm = cmp predicate
    SseComi,            // (u)comisd/(u)comiss: EFLAGS from a compare; Cond bit 0 = double
    SseCvtIntToFp,      // cvtsi2sd/ss xmm, r/m32|64; Size = integer size; Cond bit 0 = double
    SseCvtFpToInt,      // cvt(t)sd2si/cvt(t)ss2si r32|64, xmm/m; Size = destination size; Size2 = memory bytes; Cond bit 0 double, bit 1 truncate

    // --- x87 (X87.cs, X87Arith.cs, X87Env.cs; X87Translator.cs decodes them) ------------------------
    X87Load,            // fld m32/m64/m80/st(i), fild m16/m32/m64 (Size2 = 1), constants (Form None, Cond = which)
    X87Store,           // fst(p) m32/m64/m80/st(i), fist(p) (Size2 = 1), fisttp (Size2 = 2); Cond bit 0 = pop
    X87Arith,           // Cond = X87ArithOp; Form M: st0 op= mem; R: Imm bit 0 st(i) is the destination, bit 1 pop
    X87Compare,         // Cond bits 0-1 pops, 2 unordered, 3 to EFLAGS; Form M, R (st(i)) or None (ftst)
    X87Special,         // Cond = X87Fn: fchs, fabs, fsqrt, frndint, fxam, fscale, fxtract, fprem(1), transcendentals
    X87Stack,           // fxch (0), ffree (1), fincstp (2), fdecstp (3), fcmovcc (4, Imm = cc), fninit (5), fnclex (6)
    X87Control,         // fnstcw m16 (0), fldcw m16 (1), fnstsw ax (2), fnstsw m16 (3), fwait (4)
    X87Env,             // Cond = X87EnvOp: fnstenv, fldenv, fnsave, frstor, fxsave(64), fxrstor(64)

    // --- system mode only (Ops/System.cs, Ops/Segments.cs; SystemTranslator.cs decodes them) --------
    Cli, Sti, HltSystem, PopfSystem, SyscallSystem,
    UnsupportedSystem,  // a privileged instruction we do not implement: #GP at CPL 3, #UD (Imm = text) at CPL 0
    InPort, OutPort,    // Size = 1/2/4; Cond bit 0: port in dx, else Imm
    MovFromCr, MovToCr, // Cond = CR number; R0 = destination / R1 = source
    Clts, CacheControl, Invlpg,
    LoadTableRegister, StoreTableRegister,   // Cond 0 GDTR, 1 IDTR
    Lldt, Ltr, StoreSystemSelector,          // StoreSystemSelector: Cond 0 sldt, 1 str
    Rdmsr, Wrmsr, Swapgs,
    MovToSreg, MovFromSreg, PushSreg, PopSreg,   // Cond = SegmentRegister
    Iret, Retf, JmpFar, Sysret,              // Size = operand size; Retf: Imm = bytes to release
}

/// <summary>Sub-operation of <see cref="OpKind.Alu"/>, in the order of the x86 /r encoding, plus test.</summary>
internal enum AluOp : byte { Add = 0, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test }

/// <summary>Sub-operation of <see cref="OpKind.Shift"/>, in the order of the x86 /r encoding.</summary>
internal enum ShiftOp : byte { Rol = 0, Ror, Rcl, Rcr, Shl, Shr, Sal, Sar }
