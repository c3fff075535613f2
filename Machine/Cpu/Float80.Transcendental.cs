namespace Lab.Machine.Cpu;

internal readonly partial struct Float80
{
    public static bool TryReduceTrig(Float80 a, out int q) { q = 0; return true; }
    public static Float80 Sin(Float80 a, FpRound rc, ref ushort fl) => throw new NotImplementedException();
    public static Float80 Cos(Float80 a, FpRound rc, ref ushort fl) => throw new NotImplementedException();
    public static Float80 Tan(Float80 a, FpRound rc, ref ushort fl) => throw new NotImplementedException();
    public static Float80 Exp2M1(Float80 a, FpRound rc, ref ushort fl) => throw new NotImplementedException();
    public static Float80 YLog2X(Float80 y, Float80 x, FpRound rc, ref ushort fl) => throw new NotImplementedException();
    public static Float80 YLog2XP1(Float80 y, Float80 x, FpRound rc, ref ushort fl) => throw new NotImplementedException();
    public static Float80 Atan2(Float80 y, Float80 x, FpRound rc, ref ushort fl) => throw new NotImplementedException();
}
