using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu.Fast;

/// <summary>
/// The vector operations the attention kernels need, for one vector width, as static abstract members. A kernel
/// written once as <c>Kernel&lt;T, TV, TS&gt;</c> (TS a struct implementing this interface for vector type TV) is
/// compiled by the JIT into a separate specialisation per width with every call inlined, so the same source runs
/// as AVX-512 (<see cref="Simd512{T}"/>), AVX2 (<see cref="Simd256{T}"/>) or 128-bit code (<see cref="Simd128{T}"/>).
/// </summary>
internal unsafe interface IAttentionSimd<TV, T>
    where TV : struct
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }

    /// <summary>All lanes zero.</summary>
    static abstract TV Zero { get; }

    /// <summary>All lanes <paramref name="value"/>.</summary>
    static abstract TV Splat(T value);

    /// <summary>Unaligned load of <see cref="Count"/> elements.</summary>
    static abstract TV Load(T* p);

    /// <summary>Unaligned store of <see cref="Count"/> elements.</summary>
    static abstract void Store(TV v, T* p);

    /// <summary>a·b + c, fused (one rounding).</summary>
    static abstract TV MulAdd(TV a, TV b, TV c);

    /// <summary>a + b.</summary>
    static abstract TV Add(TV a, TV b);

    /// <summary>a − b.</summary>
    static abstract TV Sub(TV a, TV b);

    /// <summary>a·b.</summary>
    static abstract TV Mul(TV a, TV b);

    /// <summary>Lane-wise maximum (hardware semantics: NaN handling unspecified, which the row maxima do not need).</summary>
    static abstract TV Max(TV a, TV b);

    /// <summary>Lane-wise minimum (hardware semantics).</summary>
    static abstract TV Min(TV a, TV b);

    /// <summary>All-ones lanes where a &lt; b, zero elsewhere.</summary>
    static abstract TV LessThan(TV a, TV b);

    /// <summary>All-ones lanes where a = b (false for NaN), zero elsewhere.</summary>
    static abstract TV EqualTo(TV a, TV b);

    /// <summary>mask ? a : b per lane (mask lanes all-ones or zero).</summary>
    static abstract TV Select(TV mask, TV a, TV b);

    /// <summary>
    /// 2ⁿ for lanes holding n + <see cref="AttentionExp.Magic{T}"/> (n integral and within the exponent range): the
    /// integer n sits in the low mantissa bits, so it is shifted into the exponent field.
    /// </summary>
    static abstract TV Pow2FromShifted(TV shifted);

    /// <summary>Sum of the lanes.</summary>
    static abstract T Sum(TV v);

    /// <summary>Largest lane.</summary>
    static abstract T MaxAcross(TV v);
}

/// <summary>512-bit vectors (AVX-512: 16 floats or 8 doubles).</summary>
internal readonly unsafe struct Simd512<T> : IAttentionSimd<Vector512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector512<T>.Count;
    public static Vector512<T> Zero => Vector512<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Splat(T value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Load(T* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Sub(Vector512<T> a, Vector512<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Max(Vector512<T> a, Vector512<T> b) => Vector512.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Min(Vector512<T> a, Vector512<T> b) => Vector512.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> LessThan(Vector512<T> a, Vector512<T> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> EqualTo(Vector512<T> a, Vector512<T> b) => Vector512.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Select(Vector512<T> mask, Vector512<T> a, Vector512<T> b) => Vector512.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector512<T> v) => Vector512.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Pow2FromShifted(Vector512<T> shifted) =>
        typeof(T) == typeof(float)
            ? Vector512.ShiftLeft(shifted.AsInt32() - Vector512.Create(AttentionExp.MagicBitsSingle - 127), 23).As<int, T>()
            : Vector512.ShiftLeft(shifted.AsInt64() - Vector512.Create(AttentionExp.MagicBitsDouble - 1023), 52).As<long, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> MulAdd(Vector512<T> a, Vector512<T> b, Vector512<T> c) =>
        typeof(T) == typeof(float)
            ? Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector512<T> v)
    {
        var m = Vector256.Max(v.GetLower(), v.GetUpper());
        return Simd256<T>.MaxAcross(m);
    }
}

/// <summary>256-bit vectors (AVX2: 8 floats or 4 doubles).</summary>
internal readonly unsafe struct Simd256<T> : IAttentionSimd<Vector256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector256<T>.Count;
    public static Vector256<T> Zero => Vector256<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Splat(T value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Load(T* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Sub(Vector256<T> a, Vector256<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Max(Vector256<T> a, Vector256<T> b) => Vector256.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Min(Vector256<T> a, Vector256<T> b) => Vector256.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> LessThan(Vector256<T> a, Vector256<T> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> EqualTo(Vector256<T> a, Vector256<T> b) => Vector256.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Select(Vector256<T> mask, Vector256<T> a, Vector256<T> b) => Vector256.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector256<T> v) => Vector256.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Pow2FromShifted(Vector256<T> shifted) =>
        typeof(T) == typeof(float)
            ? Vector256.ShiftLeft(shifted.AsInt32() - Vector256.Create(AttentionExp.MagicBitsSingle - 127), 23).As<int, T>()
            : Vector256.ShiftLeft(shifted.AsInt64() - Vector256.Create(AttentionExp.MagicBitsDouble - 1023), 52).As<long, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> MulAdd(Vector256<T> a, Vector256<T> b, Vector256<T> c) =>
        typeof(T) == typeof(float)
            ? Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector256<T> v) => Simd128<T>.MaxAcross(Vector128.Max(v.GetLower(), v.GetUpper()));
}

/// <summary>128-bit vectors (SSE/NEON: 4 floats or 2 doubles); also the portable fallback.</summary>
internal readonly unsafe struct Simd128<T> : IAttentionSimd<Vector128<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => Vector128<T>.Count;
    public static Vector128<T> Zero => Vector128<T>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Splat(T value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Load(T* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<T> v, T* p) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Add(Vector128<T> a, Vector128<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Sub(Vector128<T> a, Vector128<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Mul(Vector128<T> a, Vector128<T> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Max(Vector128<T> a, Vector128<T> b) => Vector128.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Min(Vector128<T> a, Vector128<T> b) => Vector128.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> LessThan(Vector128<T> a, Vector128<T> b) => Vector128.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> EqualTo(Vector128<T> a, Vector128<T> b) => Vector128.Equals(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Select(Vector128<T> mask, Vector128<T> a, Vector128<T> b) => Vector128.ConditionalSelect(mask, a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(Vector128<T> v) => Vector128.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Pow2FromShifted(Vector128<T> shifted) =>
        typeof(T) == typeof(float)
            ? Vector128.ShiftLeft(shifted.AsInt32() - Vector128.Create(AttentionExp.MagicBitsSingle - 127), 23).As<int, T>()
            : Vector128.ShiftLeft(shifted.AsInt64() - Vector128.Create(AttentionExp.MagicBitsDouble - 1023), 52).As<long, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> MulAdd(Vector128<T> a, Vector128<T> b, Vector128<T> c) =>
        typeof(T) == typeof(float)
            ? Vector128.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector128.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector128<T> v)
    {
        T m = v.GetElement(0);
        for (int i = 1; i < Vector128<T>.Count; i++) m = T.Max(m, v.GetElement(i));
        return m;
    }
}

/// <summary>
/// Vector eˣ for the attention kernels. The BCL's <c>Vector512.Exp</c> costs ~100 cycles per vector here, as much as
/// the 64-term dot products around it, so the kernels use this one: Cody–Waite reduction x = n·ln2 + r with
/// |r| ≤ ln2/2 (n rounded with the 1.5·2ᵐ magic-number trick, which also leaves n in the low mantissa bits for the
/// 2ⁿ scaling), then e^r by a polynomial: Cephes' degree-5 minimax for float (≤ 1 ulp), the degree-13 Taylor
/// polynomial for double (truncation 4e-18 relative, so rounding-limited). Inputs below the normal range give 0
/// (the kernels feed −∞ for masked scores), NaN gives NaN.
/// </summary>
internal static class AttentionExp
{
    /// <summary>Bits of 1.5·2²³ as float.</summary>
    public const int MagicBitsSingle = 0x4B400000;

    /// <summary>Bits of 1.5·2⁵² as double.</summary>
    public const long MagicBitsDouble = 0x4338000000000000;

    /// <summary>1.5·2ᵐ (m = mantissa bits): adding it rounds a value of magnitude &lt; 2ᵐ⁻¹ to an integer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Magic<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? T.CreateTruncating(12582912.0) : T.CreateTruncating(6755399441055744.0);

    /// <summary>eˣ per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<T, TV, TS>(TV x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        bool single = typeof(T) == typeof(float);
        // Bounds keep n inside the normal exponent range; below the lower bound the result is 0.
        TV lo = TS.Splat(T.CreateTruncating(single ? -87.3 : -708.3)), hi = TS.Splat(T.CreateTruncating(single ? 88.3 : 709.0));
        TV xc = TS.Min(TS.Max(x, lo), hi);
        TV magic = TS.Splat(Magic<T>());
        TV shifted = TS.MulAdd(xc, TS.Splat(T.CreateTruncating(1.4426950408889634)), magic); // x·log₂e + magic
        TV n = TS.Sub(shifted, magic);
        // r = x − n·ln2 in two parts (ln2_hi has trailing zero bits, so n·ln2_hi is exact)
        TV r = TS.MulAdd(n, TS.Splat(T.CreateTruncating(single ? -0.693359375 : -6.93145751953125E-1)), xc);
        r = TS.MulAdd(n, TS.Splat(T.CreateTruncating(single ? 2.12194440e-4 : -1.42860682030941723212E-6)), r);
        TV y;
        if (single)
        {
            TV p = TS.Splat(T.CreateTruncating(1.9875691500E-4));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.3981999507E-3)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(8.3334519073E-3)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(4.1665795894E-2)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.6666665459E-1)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(5.0000001201E-1)));
            y = TS.Add(TS.MulAdd(p, TS.Mul(r, r), r), TS.Splat(T.One));
        }
        else
        {
            // Σ_{k≤13} r^k / k!, Horner from the top
            TV p = TS.Splat(T.CreateTruncating(1.0 / 6227020800.0));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 479001600.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 39916800.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 3628800.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 362880.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 40320.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 5040.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 720.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 120.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 24.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(1.0 / 6.0)));
            p = TS.MulAdd(p, r, TS.Splat(T.CreateTruncating(0.5)));
            p = TS.MulAdd(p, r, TS.Splat(T.One));
            y = TS.MulAdd(p, r, TS.Splat(T.One));
        }
        y = TS.Mul(y, TS.Pow2FromShifted(shifted));
        y = TS.Select(TS.LessThan(x, lo), TS.Zero, y);
        return TS.Select(TS.EqualTo(x, x), y, x); // NaN in, NaN out
    }

    /// <summary>y[i] = eˣ⁽ⁱ⁾ through the vector routine (every element, the tail too, goes through a full vector).</summary>
    public static unsafe void Apply<T, TV, TS>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        if (y.Length < x.Length) throw new ArgumentException("exp: output shorter than input", nameof(y));
        int w = TS.Count;
        T* lanes = stackalloc T[w];
        for (int i = 0; i < x.Length; i += w)
        {
            int count = Math.Min(w, x.Length - i);
            var chunk = new Span<T>(lanes, w);
            chunk.Clear();
            x.Slice(i, count).CopyTo(chunk);
            TS.Store(Exp<T, TV, TS>(TS.Load(lanes)), lanes);
            chunk[..count].CopyTo(y.Slice(i, count));
        }
    }
}
