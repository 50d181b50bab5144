using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using Ttt.Cpu;

namespace Ttt.IO;

/// <summary>
/// Turns the little-endian bytes of one validated entry into a CPU tensor. Same-type data on a little-endian host
/// is read straight into the tensor's memory; every other case (widening F16/BF16/small integers, narrowing on
/// request, big-endian hosts) goes through the portable decoders below one bounded chunk at a time, so the only
/// allocation proportional to the data is the tensor itself.
/// </summary>
internal static class SafeTensorDecoder
{
    // Scratch size for converted reads; large enough to amortise a read call, small enough to stay in cache.
    private const int ChunkBytes = 1 << 16;

    // Same-type reads go straight into the tensor, in slices that keep a Span<byte> under 2 GiB.
    private const int DirectSliceBytes = 1 << 28;

    /// <summary>Reads <paramref name="entry"/> (data section at <paramref name="dataStart"/>) as a new tensor of <paramref name="target"/>.</summary>
    public static Tensor ReadTensor(ByteSource source, long dataStart, SafeTensorEntry entry, DType target, bool checkFinite)
    {
        var tensor = Tensor.Empty(entry.Shape, target, Device.Cpu);
        var storage = (CpuStorage)tensor.Storage;
        long first = dataStart + entry.DataBegin;
        switch (target)
        {
            case DType.Float32:
                Fill(source, first, entry, storage.Span<float>());
                if (checkFinite) CheckFinite(source.Name, entry, storage.Span<float>());
                break;
            case DType.Float64:
                Fill(source, first, entry, storage.Span<double>());
                if (checkFinite) CheckFinite(source.Name, entry, storage.Span<double>());
                break;
            case DType.Int64:
                Fill(source, first, entry, storage.Span<long>());
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(target), target, "no decoder for this dtype");
        }
        tensor.Name = entry.Name;
        return tensor;
    }

    private static void Fill<T>(ByteSource source, long first, SafeTensorEntry entry, Span<T> destination) where T : unmanaged
    {
        if (IsSameType<T>(entry.DType))
        {
            int sliceElements = DirectSliceBytes / entry.DType.ElementSize();
            for (int i = 0; i < destination.Length; i += sliceElements)
            {
                var slice = destination.Slice(i, Math.Min(sliceElements, destination.Length - i));
                source.ReadExactly(first + (long)i * entry.DType.ElementSize(), MemoryMarshal.AsBytes(slice));
                if (!BitConverter.IsLittleEndian) ReverseEndianness(slice);
            }
            return;
        }

        int size = entry.DType.ElementSize();
        int chunkElements = ChunkBytes / size;
        byte[] scratch = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            for (int i = 0; i < destination.Length; i += chunkElements)
            {
                int count = Math.Min(chunkElements, destination.Length - i);
                var bytes = scratch.AsSpan(0, count * size);
                source.ReadExactly(first + (long)i * size, bytes);
                int bad = Decode(entry.DType, bytes, destination.Slice(i, count));
                if (bad >= 0)
                {
                    throw new SafeTensorsFormatException(source.Name,
                        $"tensor '{entry.Name}' (BOOL) holds the byte 0x{bytes[bad]:X2} at element {i + bad}; a BOOL byte must be 0 or 1",
                        entry.Name);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static bool IsSameType<T>(SafeTensorDType stored) =>
        (typeof(T) == typeof(float) && stored == SafeTensorDType.F32)
        || (typeof(T) == typeof(double) && stored == SafeTensorDType.F64)
        || (typeof(T) == typeof(long) && stored == SafeTensorDType.I64);

    private static void ReverseEndianness<T>(Span<T> values) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<T, int>(values), MemoryMarshal.Cast<T, int>(values));
        else BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<T, long>(values), MemoryMarshal.Cast<T, long>(values));
    }

    /// <summary>
    /// Portable decoder: little-endian elements of <paramref name="stored"/> into <paramref name="destination"/>
    /// (float, double or long). Returns the index of the first invalid BOOL byte, or -1.
    /// </summary>
    internal static int Decode<T>(SafeTensorDType stored, ReadOnlySpan<byte> source, Span<T> destination) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            DecodeToSingle(stored, source, MemoryMarshal.Cast<T, float>(destination));
            return -1;
        }
        if (typeof(T) == typeof(double))
        {
            DecodeToDouble(stored, source, MemoryMarshal.Cast<T, double>(destination));
            return -1;
        }
        return DecodeToInt64(stored, source, MemoryMarshal.Cast<T, long>(destination));
    }

    /// <summary>bfloat16 is the upper 16 bits of a float32, so widening is a shift: exact for every value, NaN payloads included.</summary>
    internal static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    private static void DecodeToSingle(SafeTensorDType stored, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (stored)
        {
            case SafeTensorDType.F32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case SafeTensorDType.F64:
                // Only reached when float32 is requested explicitly: rounds to nearest, as a cast does.
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]);
                break;
            case SafeTensorDType.F16:
                // Every half is a float (fewer exponent and mantissa bits), so the conversion is exact.
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case SafeTensorDType.BF16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(stored), stored, "not a floating-point safetensors dtype");
        }
    }

    private static void DecodeToDouble(SafeTensorDType stored, ReadOnlySpan<byte> src, Span<double> dst)
    {
        switch (stored)
        {
            case SafeTensorDType.F64:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]);
                break;
            case SafeTensorDType.F32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case SafeTensorDType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = (double)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case SafeTensorDType.BF16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(stored), stored, "not a floating-point safetensors dtype");
        }
    }

    private static int DecodeToInt64(SafeTensorDType stored, ReadOnlySpan<byte> src, Span<long> dst)
    {
        switch (stored)
        {
            case SafeTensorDType.I64:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(8 * i)..]);
                break;
            case SafeTensorDType.I32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src[(4 * i)..]);
                break;
            case SafeTensorDType.U32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadUInt32LittleEndian(src[(4 * i)..]);
                break;
            case SafeTensorDType.I16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]);
                break;
            case SafeTensorDType.U16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]);
                break;
            case SafeTensorDType.I8:
                for (int i = 0; i < dst.Length; i++) dst[i] = (sbyte)src[i];
                break;
            case SafeTensorDType.U8:
                for (int i = 0; i < dst.Length; i++) dst[i] = src[i];
                break;
            case SafeTensorDType.Bool:
                // PyTorch treats any other byte as undefined behaviour; reject it rather than guess.
                for (int i = 0; i < dst.Length; i++)
                {
                    if (src[i] > 1) return i;
                    dst[i] = src[i];
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(stored), stored, "not an integer safetensors dtype");
        }
        return -1;
    }

    private static void CheckFinite(string sourceName, SafeTensorEntry entry, ReadOnlySpan<float> values)
    {
        int first = -1, count = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsFinite(values[i])) continue;
            if (first < 0) first = i;
            count++;
        }
        if (first >= 0) ThrowNonFinite(sourceName, entry, count, first, values[first]);
    }

    private static void CheckFinite(string sourceName, SafeTensorEntry entry, ReadOnlySpan<double> values)
    {
        int first = -1, count = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (double.IsFinite(values[i])) continue;
            if (first < 0) first = i;
            count++;
        }
        if (first >= 0) ThrowNonFinite(sourceName, entry, count, first, values[first]);
    }

    private static void ThrowNonFinite(string sourceName, SafeTensorEntry entry, int count, int first, double value)
    {
        string what = double.IsNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf";
        throw new SafeTensorsFormatException(sourceName,
            string.Create(CultureInfo.InvariantCulture,
                $"tensor '{entry.Name}' {ShapeUtil.Format(entry.Shape)} holds {count} non-finite value{(count == 1 ? "" : "s")} (first: {what} at element {first}, index {ShapeUtil.Format(Unravel(first, entry.Shape))}); finite values were required"),
            entry.Name);
    }

    /// <summary>Row-major coordinates of a flat element index.</summary>
    internal static int[] Unravel(long flat, ReadOnlySpan<int> shape)
    {
        var index = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = (int)(flat % shape[d]);
            flat /= shape[d];
        }
        return index;
    }
}
