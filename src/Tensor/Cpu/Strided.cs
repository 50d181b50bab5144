using System.Runtime.CompilerServices;

namespace Ttt.Cpu;

/// <summary>Index arithmetic for strided tensors on the CPU.</summary>
internal static class Strided
{
    /// <summary>Storage offset of the element with row-major linear index <paramref name="linear"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long OffsetOf(Tensor t, long linear)
    {
        var shape = t.ShapeRef;
        var strides = t.StridesRef;
        long off = t.Offset;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            int n = shape[d];
            long i = linear % n;
            linear /= n;
            off += i * strides[d];
        }
        return off;
    }

    /// <summary>Unravels a linear index into coordinates.</summary>
    public static void Unravel(ReadOnlySpan<int> shape, long linear, Span<int> coords)
    {
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            coords[d] = (int)(linear % shape[d]);
            linear /= shape[d];
        }
    }

    /// <summary>Storage offset of given coordinates.</summary>
    public static long OffsetOf(Tensor t, ReadOnlySpan<int> coords)
    {
        long off = t.Offset;
        var strides = t.StridesRef;
        for (int d = 0; d < coords.Length; d++) off += coords[d] * strides[d];
        return off;
    }

    /// <summary>Reads element at a storage offset as double (float types, and int64 within 2^53).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Get(CpuStorage s, long off) => s.DType switch
    {
        DType.Float32 => Unsafe.Add(ref s.Ref<float>(), (nint)off),
        DType.Float64 => Unsafe.Add(ref s.Ref<double>(), (nint)off),
        _ => Unsafe.Add(ref s.Ref<long>(), (nint)off),
    };

    /// <summary>Writes a double at a storage offset, rounding to the storage's dtype.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(CpuStorage s, long off, double v)
    {
        switch (s.DType)
        {
            case DType.Float32: Unsafe.Add(ref s.Ref<float>(), (nint)off) = (float)v; break;
            case DType.Float64: Unsafe.Add(ref s.Ref<double>(), (nint)off) = v; break;
            default: Unsafe.Add(ref s.Ref<long>(), (nint)off) = checked((long)v); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long GetLong(CpuStorage s, long off) => Unsafe.Add(ref s.Ref<long>(), (nint)off);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetLong(CpuStorage s, long off, long v) => Unsafe.Add(ref s.Ref<long>(), (nint)off) = v;

    public static CpuStorage Cpu(this Tensor t) => t.Storage as CpuStorage
        ?? throw new InvalidOperationException($"expected a CPU tensor, got one on {t.Device}");
}
