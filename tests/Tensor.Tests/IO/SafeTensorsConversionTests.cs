using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Ttt.IO;
using Xunit;

namespace Ttt.Tests;

/// <summary>
/// Stored types the engine lacks (F16, BF16, small integers, BOOL) widen exactly; requested conversions and the
/// finiteness check behave as documented; the portable little-endian decoder used on big-endian hosts agrees with
/// the direct copy used here.
/// </summary>
public sealed class SafeTensorsConversionTests
{
    [Fact]
    public void EveryHalfPrecisionBitPatternWidensExactly()
    {
        byte[] data = AllPatterns16();
        var loaded = SafeTensorFile.Read(File("h", "F16", [65536], data), "f16");
        var values = loaded["h"];
        Assert.Equal(DType.Float32, values.DType);
        var floats = values.ToFloatArray();
        for (int bits = 0; bits < 65536; bits++)
        {
            var half = BitConverter.UInt16BitsToHalf((ushort)bits);
            if (Half.IsNaN(half))
            {
                Assert.True(float.IsNaN(floats[bits]), $"F16 0x{bits:X4} is NaN");
                continue;
            }
            // Widening then narrowing is the identity on every non-NaN half exactly when widening is exact.
            Assert.Equal(bits, BitConverter.HalfToUInt16Bits((Half)floats[bits]));
        }
        // Values fixed by IEEE 754 binary16: sign, 5 exponent bits (bias 15), 10 fraction bits.
        Assert.Equal(1.0f, floats[0x3C00]);
        Assert.Equal(-2.0f, floats[0xC000]);
        Assert.Equal(65504f, floats[0x7BFF]);
        Assert.Equal(MathF.Pow(2, -24), floats[0x0001]); // smallest subnormal
        Assert.Equal(MathF.Pow(2, -14), floats[0x0400]); // smallest normal
        Assert.Equal(float.PositiveInfinity, floats[0x7C00]);
        Assert.Equal(unchecked((int)0x8000_0000), BitConverter.SingleToInt32Bits(floats[0x8000])); // -0
    }

    [Fact]
    public void EveryBFloat16BitPatternWidensToTheFloat32WithThoseUpperBits()
    {
        // bfloat16 is by definition the upper 16 bits of a float32, so the exact widening is bits << 16, NaN
        // payloads included.
        var floats = SafeTensorFile.Read(File("b", "BF16", [65536], AllPatterns16()), "bf16")["b"].ToFloatArray();
        for (int bits = 0; bits < 65536; bits++)
            Assert.Equal(bits << 16, BitConverter.SingleToInt32Bits(floats[bits]));
        Assert.Equal(1.0f, floats[0x3F80]);
        Assert.Equal(3.140625f, floats[0x4049]); // 1.5703125 · 2
        Assert.Equal(float.NegativeInfinity, floats[0xFF80]);
    }

    [Fact]
    public void HalfAndBFloat16ConvertToFloat64Exactly()
    {
        byte[] data = AllPatterns16();
        var f16 = SafeTensorFile.Read(File("h", "F16", [65536], data), "f16", DType.Float64)["h"];
        var bf16 = SafeTensorFile.Read(File("b", "BF16", [65536], data), "bf16", DType.Float64)["b"];
        Assert.Equal(DType.Float64, f16.DType);
        Assert.Equal(DType.Float64, bf16.DType);
        var asFloat16 = SafeTensorFile.Read(File("h", "F16", [65536], data), "f16")["h"].ToFloatArray();
        var asBFloat16 = SafeTensorFile.Read(File("b", "BF16", [65536], data), "bf16")["b"].ToFloatArray();
        // float → double is exact, so the float64 load must equal the widened float32 load everywhere.
        Assert.Equal(asFloat16.Select(v => (double)v), f16.ToDoubleArray());
        Assert.Equal(asBFloat16.Select(v => (double)v), bf16.ToDoubleArray());
    }

    [Fact]
    public void SmallIntegerTypesWidenToInt64()
    {
        byte[] bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        Assert.Equal(bytes.Select(b => (long)(sbyte)b), Load("I8", [256], bytes).ToLongArray());
        Assert.Equal(bytes.Select(b => (long)b), Load("U8", [16, 16], bytes).ToLongArray());

        short[] shorts = [short.MinValue, -1, 0, 1, short.MaxValue];
        Assert.Equal(shorts.Select(v => (long)v), Load("I16", [5], LittleEndian(shorts, BinaryPrimitives.WriteInt16LittleEndian)).ToLongArray());
        ushort[] ushorts = [0, 1, 0x8000, ushort.MaxValue];
        Assert.Equal(ushorts.Select(v => (long)v), Load("U16", [4], LittleEndian(ushorts, BinaryPrimitives.WriteUInt16LittleEndian)).ToLongArray());
        int[] ints = [int.MinValue, -1, 0, 1, int.MaxValue];
        Assert.Equal(ints.Select(v => (long)v), Load("I32", [5], LittleEndian(ints, BinaryPrimitives.WriteInt32LittleEndian)).ToLongArray());
        uint[] uints = [0, 1, 0x8000_0000, uint.MaxValue];
        Assert.Equal(uints.Select(v => (long)v), Load("U32", [2, 2], LittleEndian(uints, BinaryPrimitives.WriteUInt32LittleEndian)).ToLongArray());

        var flags = Load("BOOL", [4], [0, 1, 1, 0]);
        Assert.Equal(DType.Int64, flags.DType);
        Assert.Equal([0L, 1, 1, 0], flags.ToLongArray());
    }

    [Fact]
    public void BoolBytesOtherThanZeroAndOneAreRejected()
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => Load("BOOL", [3], [0, 1, 2]));
        Assert.Equal("mask", error.TensorName);
        Assert.Contains("0x02 at element 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConvertToFloat32RoundsFloat64AndLeavesIntegersAlone()
    {
        double[] values = [Math.PI, 1e-50, 1e300, -0.1, double.NaN];
        string header = RawSafeTensors.Header(RawSafeTensors.Entry("d", "F64", [5], 0, 40), RawSafeTensors.Entry("i", "I64", [1], 40, 48));
        byte[] data = [.. LittleEndian(values, BinaryPrimitives.WriteDoubleLittleEndian), .. LittleEndian(new[] { 42L }, BinaryPrimitives.WriteInt64LittleEndian)];
        var loaded = SafeTensorFile.Read(RawSafeTensors.Build(header, data), "mixed", DType.Float32);
        Assert.Equal(DType.Float32, loaded["d"].DType);
        Assert.Equal(values.Select(v => (float)v), loaded["d"].ToFloatArray());
        Assert.Equal(DType.Int64, loaded["i"].DType);
        Assert.Equal([42L], loaded["i"].ToLongArray());
    }

    [Fact]
    public void ConvertToInt64IsRefused()
    {
        byte[] file = File("x", "F32", [1], new byte[4]);
        Assert.Throws<ArgumentException>(() => SafeTensorFile.Read(file, "x", DType.Int64));
    }

    [Theory]
    [InlineData("F32", float.NaN, "NaN")]
    [InlineData("F32", float.PositiveInfinity, "+Inf")]
    [InlineData("F64", double.NegativeInfinity, "-Inf")]
    [InlineData("BF16", float.NegativeInfinity, "-Inf")]
    [InlineData("F16", float.NaN, "NaN")]
    public void CheckFiniteNamesTheTensorAndTheFirstBadElement(string dtype, double bad, string shown)
    {
        // A [2, 3] tensor with the bad value at flat element 4 (index [1, 1]) and again at element 5.
        double[] values = [0, 1, 2, 3, bad, bad];
        byte[] data = Encode(dtype, values);
        byte[] file = RawSafeTensors.Build(RawSafeTensors.Header(RawSafeTensors.Entry("w", dtype, [2, 3], 0, data.Length)), data);

        var loaded = SafeTensorFile.Read(file, "weights.safetensors"); // off by default: loads as is
        Assert.False(double.IsFinite(loaded["w"].ToDoubleArray()[4]));

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(file, "weights.safetensors", checkFinite: true));
        Assert.Equal("w", error.TensorName);
        Assert.StartsWith("weights.safetensors: tensor 'w' [2, 3] holds 2 non-finite values", error.Message, StringComparison.Ordinal);
        Assert.Contains($"first: {shown} at element 4, index [1, 1]", error.Message, StringComparison.Ordinal);
        Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(file, "weights.safetensors", DType.Float64, checkFinite: true));
    }

    [Fact]
    public void CheckFiniteFailsOnlyWhenTheBadTensorIsReadLazily()
    {
        using var folder = new TempFolder();
        string path = folder.File("mixed.safetensors");
        SafeTensorFile.Save(path, new Dictionary<string, Tensor>
        {
            ["good"] = Tensor.FromArray([1f, 2f]),
            ["bad"] = Tensor.FromArray([1f, float.NaN]),
            ["ids"] = Tensor.FromArray([long.MaxValue]),
        });
        using var lazy = SafeTensorFile.Open(path, checkFinite: true);
        Assert.Equal([1f, 2f], lazy["good"].ToFloatArray());
        Assert.Equal([long.MaxValue], lazy["ids"].ToLongArray());
        Assert.Equal("bad", Assert.Throws<SafeTensorsFormatException>(() => lazy["bad"]).TensorName);
        Assert.Equal("bad", Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Load(path, checkFinite: true)).TensorName);
    }

    [Fact]
    public void PortableDecoderAgreesWithTheDirectCopy()
    {
        // Big-endian hosts decode same-type data through the portable decoder; check it here against the direct
        // copy that little-endian hosts use, on random bit patterns (NaN payloads included).
        var random = new Random(5);
        byte[] bytes = new byte[8 * 1000];
        random.NextBytes(bytes);
        var floats = new float[2000];
        Assert.Equal(-1, SafeTensorDecoder.Decode<float>(SafeTensorDType.F32, bytes, floats));
        Assert.Equal(LittleEndianView<int>(bytes), floats.Select(BitConverter.SingleToInt32Bits));
        var doubles = new double[1000];
        Assert.Equal(-1, SafeTensorDecoder.Decode<double>(SafeTensorDType.F64, bytes, doubles));
        Assert.Equal(LittleEndianView<long>(bytes), doubles.Select(BitConverter.DoubleToInt64Bits));
        var longs = new long[1000];
        Assert.Equal(-1, SafeTensorDecoder.Decode<long>(SafeTensorDType.I64, bytes, longs));
        Assert.Equal(LittleEndianView<long>(bytes), longs);
    }

    [Fact]
    public void UnravelGivesRowMajorCoordinates()
    {
        int[] shape = [2, 3, 4];
        for (int flat = 0; flat < 24; flat++)
            Assert.Equal([flat / 12, flat / 4 % 3, flat % 4], SafeTensorDecoder.Unravel(flat, shape));
        Assert.Empty(SafeTensorDecoder.Unravel(0, []));
    }

    private static T[] LittleEndianView<T>(byte[] bytes) where T : unmanaged
    {
        Assert.True(BitConverter.IsLittleEndian, "this comparison reads the bytes in host order");
        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    private static byte[] AllPatterns16()
    {
        var data = new byte[2 * 65536];
        for (int bits = 0; bits < 65536; bits++) BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(2 * bits), (ushort)bits);
        return data;
    }

    private static byte[] Encode(string dtype, double[] values) => dtype switch
    {
        "F32" => LittleEndian(values.Select(v => (float)v).ToArray(), BinaryPrimitives.WriteSingleLittleEndian),
        "F64" => LittleEndian(values, BinaryPrimitives.WriteDoubleLittleEndian),
        "F16" => LittleEndian(values.Select(v => (Half)v).ToArray(), BinaryPrimitives.WriteHalfLittleEndian),
        "BF16" => LittleEndian(values.Select(v => (ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)).ToArray(), BinaryPrimitives.WriteUInt16LittleEndian),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    private delegate void Writer<T>(Span<byte> destination, T value);

    private static byte[] LittleEndian<T>(T[] values, Writer<T> write) where T : unmanaged
    {
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++) write(bytes.AsSpan(i * size), values[i]);
        return bytes;
    }

    private static byte[] File(string name, string dtype, int[] shape, byte[] data) =>
        RawSafeTensors.Build(RawSafeTensors.Header(RawSafeTensors.Entry(name, dtype, shape, 0, data.Length)), data);

    private static Tensor Load(string dtype, int[] shape, byte[] data) =>
        SafeTensorFile.Read(File(dtype == "BOOL" ? "mask" : "v", dtype, shape, data), dtype)[dtype == "BOOL" ? "mask" : "v"];
}
