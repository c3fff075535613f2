using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

/// <summary>
/// Untrusted input fails with a MsgPackException of a precise kind, never another exception, and never
/// allocates for sizes that the bytes present cannot back (PROTOCOL-NOTES §1.6).
/// </summary>
public class HostileInputTests
{
    private static MsgPackException DecodeFails(string hex, MsgPackLimits? limits = null) =>
        Assert.Throws<MsgPackException>(() => MsgPackValue.Decode(Hex.Bytes(hex), limits));

    // One valid value of each family, used for truncation at every prefix.
    public static TheoryData<string> ValidValues() => new()
    {
        "cd 01 2c", "ce 00 01 11 70", "cf 00 00 00 02 00 00 00 00", "d0 df", "d1 ff 38", "d2 ff ff 7f ff",
        "d3 80 00 00 00 00 00 00 00", "ca 3f c0 00 00", "cb 3f f8 00 00 00 00 00 00",
        "a2 68 69", "d9 02 68 69", "da 00 02 68 69", "db 00 00 00 02 68 69",
        "c4 02 01 02", "c5 00 02 01 02", "c6 00 00 00 02 01 02",
        "92 01 02", "dc 00 02 01 02", "dd 00 00 00 02 01 02",
        "81 a1 61 01", "de 00 01 a1 61 01", "df 00 00 00 01 a1 61 01",
        "d4 01 aa", "d5 01 aa aa", "d6 ff 00 00 00 00", "d7 ff 00 00 00 00 00 00 00 00", "d8 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        "c7 03 01 aa aa aa", "c8 00 01 01 aa", "c9 00 00 00 01 01 aa",
        "93 81 a1 61 92 c4 01 ff d6 ff 00 00 00 01 c0 2a",
    };

    [Theory]
    [MemberData(nameof(ValidValues))]
    public void Every_truncation_fails_as_truncated(string hex)
    {
        var bytes = Hex.Bytes(hex);
        MsgPackValue.Decode(bytes); // the whole value is fine
        for (int length = 0; length < bytes.Length; length++)
        {
            var ex = Assert.Throws<MsgPackException>(() => MsgPackValue.Decode(bytes.AsSpan(0, length)));
            Assert.Equal(MsgPackErrorKind.Truncated, ex.Kind);
        }
    }

    [Theory]
    [InlineData("dd ff ff ff ff")] // array of 2^32−1 elements, no bytes behind it
    [InlineData("df ff ff ff ff")] // map of 2^32−1 pairs
    [InlineData("db ff ff ff ff")] // str of 4 GB
    [InlineData("c6 ff ff ff ff")] // bin of 4 GB
    [InlineData("c9 ff ff ff ff 01")] // ext of 4 GB
    public void Huge_declared_lengths_fail_before_allocating(string hex)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = DecodeFails(hex);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(MsgPackErrorKind.LimitExceeded, ex.Kind);
        Assert.True(allocated < 64 * 1024, $"allocated {allocated} bytes");
    }

    [Theory]
    [InlineData("dd 00 0f ff ff 01")] // 1 M elements declared, 1 present: within the count limit, but not backed by bytes
    [InlineData("df 00 08 00 00 01 02")]
    [InlineData("dc ff ff 01")]
    [InlineData("da ff ff 61")]
    [InlineData("c5 ff ff 00")]
    [InlineData("c8 ff ff 01 00")]
    public void Declared_sizes_beyond_the_bytes_left_are_truncated(string hex)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(MsgPackErrorKind.Truncated, DecodeFails(hex).Kind);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 * 1024);
    }

    [Fact]
    public void Configured_limits_are_enforced()
    {
        var tight = new MsgPackLimits { MaxStringBytes = 3, MaxBinaryBytes = 2, MaxCollectionLength = 2, MaxDepth = 2, MaxMessageBytes = 16 };
        Assert.Equal("abc", MsgPackValue.Decode(Hex.Bytes("a3 61 62 63"), tight).AsString());
        Assert.Equal(MsgPackErrorKind.LimitExceeded, DecodeFails("a4 61 62 63 64", tight).Kind);
        Assert.Equal(MsgPackErrorKind.LimitExceeded, DecodeFails("c4 03 01 02 03", tight).Kind);
        Assert.Equal(MsgPackErrorKind.LimitExceeded, DecodeFails("d4 01 00", tight with { MaxBinaryBytes = 0 }).Kind);
        Assert.Equal(MsgPackErrorKind.LimitExceeded, DecodeFails("93 01 02 03", tight).Kind);
        Assert.Equal(MsgPackErrorKind.LimitExceeded, DecodeFails("83 01 01 02 02 03 03", tight).Kind);
        MsgPackValue.Decode(Hex.Bytes("91 91 01"), tight);
        Assert.Equal(MsgPackErrorKind.LimitExceeded, DecodeFails("91 91 91 01", tight).Kind);
        Assert.Equal(MsgPackErrorKind.LimitExceeded, DecodeFails(string.Concat(Enumerable.Repeat("c0 ", 17)), tight).Kind);
    }

    [Fact]
    public void Deep_nesting_fails_at_the_depth_limit_not_with_a_stack_overflow()
    {
        // 100 000 nested one-element arrays (and maps): far past any stack if decoded blindly.
        var arrays = Enumerable.Repeat((byte)0x91, 100_000).Append((byte)0x01).ToArray();
        var ex = Assert.Throws<MsgPackException>(() => MsgPackValue.Decode(arrays));
        Assert.Equal(MsgPackErrorKind.LimitExceeded, ex.Kind);
        Assert.Contains("nesting", ex.Message);

        var maps = Enumerable.Range(0, 50_000).SelectMany(_ => new byte[] { 0x81, 0x01 }).Append((byte)0x01).ToArray();
        Assert.Equal(MsgPackErrorKind.LimitExceeded, Assert.Throws<MsgPackException>(() => MsgPackValue.Decode(maps)).Kind);

        var skip = new MsgPackReader(arrays);
        try
        {
            skip.Skip();
            Assert.Fail("Skip should fail");
        }
        catch (MsgPackException e)
        {
            Assert.Equal(MsgPackErrorKind.LimitExceeded, e.Kind);
        }
    }

    [Fact]
    public void Depth_exactly_at_the_limit_is_accepted()
    {
        int max = MsgPackLimits.Default.MaxDepth;
        var bytes = Enumerable.Repeat((byte)0x91, max).Append((byte)0x01).ToArray();
        Assert.Equal(MsgPackType.Array, MsgPackValue.Decode(bytes).Type);
        var deeper = Enumerable.Repeat((byte)0x91, max + 1).Append((byte)0x01).ToArray();
        Assert.Equal(MsgPackErrorKind.LimitExceeded, Assert.Throws<MsgPackException>(() => MsgPackValue.Decode(deeper)).Kind);
    }

    [Theory]
    [InlineData("c1")]
    [InlineData("91 c1")]
    [InlineData("81 c1 01")]
    public void The_never_used_code_is_invalid(string hex) =>
        Assert.Equal(MsgPackErrorKind.InvalidCode, DecodeFails(hex).Kind);

    [Fact]
    public void Wrong_types_are_reported_with_both_names_and_the_offset()
    {
        var bytes = Hex.Bytes("92 01 a1 78");
        var ex = Assert.Throws<MsgPackException>(() =>
        {
            var reader = new MsgPackReader(bytes);
            reader.ReadArrayHeader();
            reader.ReadInt32();
            reader.ReadInt32();
        });
        Assert.Equal(MsgPackErrorKind.TypeMismatch, ex.Kind);
        Assert.Equal(2, ex.Offset);
        Assert.Contains("fixstr", ex.Message);
        Assert.Contains("Int32", ex.Message);
    }

    [Fact]
    public void Trailing_bytes_after_a_whole_value_are_rejected_by_Decode() =>
        Assert.Equal(MsgPackErrorKind.InvalidValue, DecodeFails("01 02").Kind);

    [Fact]
    public void Random_garbage_only_ever_raises_MsgPackException()
    {
        // Seeded, so a failure is reproducible. Every outcome must be a value or a MsgPackException.
        var random = new Random(12345);
        var limits = MsgPackLimits.Default with { MaxDepth = 32 };
        for (int i = 0; i < 20_000; i++)
        {
            var bytes = new byte[random.Next(1, 40)];
            random.NextBytes(bytes);
            try
            {
                MsgPackValue.Decode(bytes, limits);
            }
            catch (MsgPackException)
            {
            }
        }
    }

    [Fact]
    public void Mutated_valid_values_only_ever_raise_MsgPackException()
    {
        var random = new Random(777);
        var sample = MsgPackValue.Array(1, -300, "hello", new byte[] { 1, 2, 3 }, 1.5, 2.5f,
            MsgPackValue.Map(("k", MsgPackValue.Array(true, MsgPackValue.Nil))),
            MsgPackValue.Timestamp(new MsgPackTimestamp(-5, 7))).Encode();
        for (int i = 0; i < 20_000; i++)
        {
            var bytes = (byte[])sample.Clone();
            for (int flips = random.Next(1, 4); flips > 0; flips--)
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            try
            {
                MsgPackValue.Decode(bytes.AsSpan(0, random.Next(1, bytes.Length + 1)));
            }
            catch (MsgPackException)
            {
            }
        }
    }
}
