using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ttt.Models;

/// <summary>
/// A SIMD register of <see cref="Count"/> consecutive channels, for T = float or double. The selective-scan kernel
/// is written once against this interface and instantiated for 128-, 256- and 512-bit vectors; every member is a
/// static abstract on a struct, so the JIT specializes and inlines it into straight-line SIMD code.
/// </summary>
internal interface IScanLanes<TSelf, T>
    where TSelf : unmanaged, IScanLanes<TSelf, T>
    where T : unmanaged
{
    /// <summary>Number of lanes (channels per register).</summary>
    static abstract int Count { get; }

    /// <summary>All lanes zero.</summary>
    static abstract TSelf Zero { get; }

    /// <summary>Every lane set to <paramref name="value"/>.</summary>
    static abstract TSelf Broadcast(T value);

    /// <summary>Loads <see cref="Count"/> consecutive elements starting at <paramref name="source"/>.</summary>
    static abstract TSelf Load(ref T source);

    /// <summary>Stores the lanes to <see cref="Count"/> consecutive elements starting at <paramref name="destination"/>.</summary>
    static abstract void Store(TSelf value, ref T destination);

    /// <summary>eˣ per lane (<see cref="ScanMath.Exp{T, V}"/>).</summary>
    static abstract TSelf Exp(TSelf x);

    /// <summary>Lane-wise minimum in the hardware's own form (one instruction): where a lane of either operand is
    /// NaN the result is that lane of <paramref name="b"/> on x86; pass the value that may be NaN as b.</summary>
    static abstract TSelf Min(TSelf a, TSelf b);

    /// <summary>Lane-wise maximum, hardware form (see <see cref="Min"/>).</summary>
    static abstract TSelf Max(TSelf a, TSelf b);

    /// <summary>Per lane: <paramref name="ifLess"/> where x &lt; threshold, else <paramref name="otherwise"/>.</summary>
    static abstract TSelf WhereLess(TSelf x, TSelf threshold, TSelf ifLess, TSelf otherwise);

    /// <summary>
    /// k = round(x) (to nearest) and 2ᵏ, for integral k in the normal exponent range (|x| ≤ 126 for float, ≤ 1022
    /// for double; k = 128 / 1024 gives +∞). Uses the shifter trick: adding 1.5·2^(mantissa bits) rounds x into
    /// the low mantissa bits, from where integer add and shift build the exponent field, with no float→int
    /// conversion (which AVX2 lacks for 64-bit integers).
    /// </summary>
    static abstract TSelf RoundWithPowerOfTwo(TSelf x, out TSelf powerOfTwo);

    /// <summary>a·b + c per lane (fused where the hardware has FMA).</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>Sum of the lanes.</summary>
    static abstract T Sum(TSelf x);

    /// <summary>Lane-wise sum.</summary>
    static abstract TSelf operator +(TSelf a, TSelf b);

    /// <summary>Lane-wise product.</summary>
    static abstract TSelf operator *(TSelf a, TSelf b);
}

/// <summary>128-bit lanes (SSE, NEON): 4 floats or 2 doubles.</summary>
internal readonly struct Lanes128<T> : IScanLanes<Lanes128<T>, T> where T : unmanaged
{
    private readonly Vector128<T> _v;

    private Lanes128(Vector128<T> v) => _v = v;

    public static int Count => Vector128<T>.Count;

    public static Lanes128<T> Zero => new(Vector128<T>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Broadcast(T value) => new(Vector128.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Load(ref T source) => new(Vector128.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Lanes128<T> value, ref T destination) => value._v.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Exp(Lanes128<T> x) => ScanMath.Exp<T, Lanes128<T>>(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Min(Lanes128<T> a, Lanes128<T> b) => new(Vector128.MinNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> Max(Lanes128<T> a, Lanes128<T> b) => new(Vector128.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> WhereLess(Lanes128<T> x, Lanes128<T> threshold, Lanes128<T> ifLess, Lanes128<T> otherwise) =>
        new(Vector128.ConditionalSelect(Vector128.LessThan(x._v, threshold._v), ifLess._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> RoundWithPowerOfTwo(Lanes128<T> x, out Lanes128<T> powerOfTwo)
    {
        if (typeof(T) == typeof(float))
        {
            var shifted = x._v.AsSingle() + Vector128.Create(ScanMath.FloatShifter);
            powerOfTwo = new((Vector128.ShiftLeft(shifted.AsInt32() + Vector128.Create(127), 23)).As<int, T>());
            return new((shifted - Vector128.Create(ScanMath.FloatShifter)).As<float, T>());
        }
        var shiftedD = x._v.AsDouble() + Vector128.Create(ScanMath.DoubleShifter);
        powerOfTwo = new((Vector128.ShiftLeft(shiftedD.AsInt64() + Vector128.Create(1023L), 52)).As<long, T>());
        return new((shiftedD - Vector128.Create(ScanMath.DoubleShifter)).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> MultiplyAdd(Lanes128<T> a, Lanes128<T> b, Lanes128<T> c) => typeof(T) == typeof(float)
        ? new(Vector128.MultiplyAddEstimate(a._v.AsSingle(), b._v.AsSingle(), c._v.AsSingle()).As<float, T>())
        : new(Vector128.MultiplyAddEstimate(a._v.AsDouble(), b._v.AsDouble(), c._v.AsDouble()).As<double, T>());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(Lanes128<T> x) => Vector128.Sum(x._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> operator +(Lanes128<T> a, Lanes128<T> b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes128<T> operator *(Lanes128<T> a, Lanes128<T> b) => new(a._v * b._v);
}

/// <summary>256-bit lanes (AVX2): 8 floats or 4 doubles.</summary>
internal readonly struct Lanes256<T> : IScanLanes<Lanes256<T>, T> where T : unmanaged
{
    private readonly Vector256<T> _v;

    private Lanes256(Vector256<T> v) => _v = v;

    public static int Count => Vector256<T>.Count;

    public static Lanes256<T> Zero => new(Vector256<T>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Broadcast(T value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Load(ref T source) => new(Vector256.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Lanes256<T> value, ref T destination) => value._v.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Exp(Lanes256<T> x) => ScanMath.Exp<T, Lanes256<T>>(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Min(Lanes256<T> a, Lanes256<T> b) => new(Vector256.MinNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> Max(Lanes256<T> a, Lanes256<T> b) => new(Vector256.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> WhereLess(Lanes256<T> x, Lanes256<T> threshold, Lanes256<T> ifLess, Lanes256<T> otherwise) =>
        new(Vector256.ConditionalSelect(Vector256.LessThan(x._v, threshold._v), ifLess._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> RoundWithPowerOfTwo(Lanes256<T> x, out Lanes256<T> powerOfTwo)
    {
        if (typeof(T) == typeof(float))
        {
            var shifted = x._v.AsSingle() + Vector256.Create(ScanMath.FloatShifter);
            powerOfTwo = new((Vector256.ShiftLeft(shifted.AsInt32() + Vector256.Create(127), 23)).As<int, T>());
            return new((shifted - Vector256.Create(ScanMath.FloatShifter)).As<float, T>());
        }
        var shiftedD = x._v.AsDouble() + Vector256.Create(ScanMath.DoubleShifter);
        powerOfTwo = new((Vector256.ShiftLeft(shiftedD.AsInt64() + Vector256.Create(1023L), 52)).As<long, T>());
        return new((shiftedD - Vector256.Create(ScanMath.DoubleShifter)).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> MultiplyAdd(Lanes256<T> a, Lanes256<T> b, Lanes256<T> c) => typeof(T) == typeof(float)
        ? new(Vector256.MultiplyAddEstimate(a._v.AsSingle(), b._v.AsSingle(), c._v.AsSingle()).As<float, T>())
        : new(Vector256.MultiplyAddEstimate(a._v.AsDouble(), b._v.AsDouble(), c._v.AsDouble()).As<double, T>());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(Lanes256<T> x) => Vector256.Sum(x._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> operator +(Lanes256<T> a, Lanes256<T> b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes256<T> operator *(Lanes256<T> a, Lanes256<T> b) => new(a._v * b._v);
}

/// <summary>512-bit lanes (AVX-512): 16 floats or 8 doubles.</summary>
internal readonly struct Lanes512<T> : IScanLanes<Lanes512<T>, T> where T : unmanaged
{
    private readonly Vector512<T> _v;

    private Lanes512(Vector512<T> v) => _v = v;

    public static int Count => Vector512<T>.Count;

    public static Lanes512<T> Zero => new(Vector512<T>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Broadcast(T value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Load(ref T source) => new(Vector512.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Lanes512<T> value, ref T destination) => value._v.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Exp(Lanes512<T> x) => ScanMath.Exp<T, Lanes512<T>>(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Min(Lanes512<T> a, Lanes512<T> b) => new(Vector512.MinNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> Max(Lanes512<T> a, Lanes512<T> b) => new(Vector512.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> WhereLess(Lanes512<T> x, Lanes512<T> threshold, Lanes512<T> ifLess, Lanes512<T> otherwise) =>
        new(Vector512.ConditionalSelect(Vector512.LessThan(x._v, threshold._v), ifLess._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> RoundWithPowerOfTwo(Lanes512<T> x, out Lanes512<T> powerOfTwo)
    {
        if (typeof(T) == typeof(float))
        {
            var shifted = x._v.AsSingle() + Vector512.Create(ScanMath.FloatShifter);
            powerOfTwo = new((Vector512.ShiftLeft(shifted.AsInt32() + Vector512.Create(127), 23)).As<int, T>());
            return new((shifted - Vector512.Create(ScanMath.FloatShifter)).As<float, T>());
        }
        var shiftedD = x._v.AsDouble() + Vector512.Create(ScanMath.DoubleShifter);
        powerOfTwo = new((Vector512.ShiftLeft(shiftedD.AsInt64() + Vector512.Create(1023L), 52)).As<long, T>());
        return new((shiftedD - Vector512.Create(ScanMath.DoubleShifter)).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> MultiplyAdd(Lanes512<T> a, Lanes512<T> b, Lanes512<T> c) => typeof(T) == typeof(float)
        ? new(Vector512.MultiplyAddEstimate(a._v.AsSingle(), b._v.AsSingle(), c._v.AsSingle()).As<float, T>())
        : new(Vector512.MultiplyAddEstimate(a._v.AsDouble(), b._v.AsDouble(), c._v.AsDouble()).As<double, T>());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(Lanes512<T> x) => Vector512.Sum(x._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> operator +(Lanes512<T> a, Lanes512<T> b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lanes512<T> operator *(Lanes512<T> a, Lanes512<T> b) => new(a._v * b._v);
}

/// <summary>
/// Vector math of the scan kernel written once against <see cref="IScanLanes{TSelf, T}"/>. The runtime's
/// <c>Vector512.Exp</c> measured about 2.4 ns per float here (as slow as scalar code), which made it the whole cost
/// of the scan; this exp is a few FMAs per register.
/// </summary>
internal static class ScanMath
{
    /// <summary>1.5·2²³: adding it to a float of magnitude &lt; 2²² rounds it to an integer in the low mantissa bits.</summary>
    public const float FloatShifter = 12582912f;

    /// <summary>1.5·2⁵²: the same for double.</summary>
    public const double DoubleShifter = 6755399441055744.0;

    /// <summary>
    /// eˣ per lane: e^x = 2ᵏ·eʳ with k = round(x·log₂e) and r = x − k·ln 2 ∈ [−ln2/2, ln2/2], ln 2 split in a
    /// short high part (k·high is exact) and a low correction (Cody–Waite). eʳ: float, Cephes' <c>expf</c>
    /// minimax polynomial (about 1 ulp); double, the Taylor series to r¹² (truncation 1.7e-16 relative).
    /// Results below the smallest normal number (x &lt; −87.34 float, −708.4 double) are 0; +∞ from x ≥ 709.78 in
    /// double and from x ≥ 88.376 in float (slightly before float's own overflow at 88.72). NaN propagates.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Exp<T, V>(V x)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        if (typeof(T) == typeof(float))
        {
            const double low = -87.33654475, high = 88.72283935546875;   // high: ln(float.MaxValue)
            var xc = V.Max(C<T, V>(low), V.Min(C<T, V>(high), x));     // NaN stays NaN: it is the second operand
            var k = V.RoundWithPowerOfTwo(xc * C<T, V>(1.44269504088896341), out var pow2);
            var r = V.MultiplyAdd(k, C<T, V>(-0.693359375), xc);
            r = V.MultiplyAdd(k, C<T, V>(2.12194440e-4), r);
            var p = C<T, V>(1.9875691500e-4);
            p = V.MultiplyAdd(p, r, C<T, V>(1.3981999507e-3));
            p = V.MultiplyAdd(p, r, C<T, V>(8.3334519073e-3));
            p = V.MultiplyAdd(p, r, C<T, V>(4.1665795894e-2));
            p = V.MultiplyAdd(p, r, C<T, V>(1.6666665459e-1));
            p = V.MultiplyAdd(p, r, C<T, V>(5.0000001201e-1));
            var er = V.MultiplyAdd(p, r * r, r + C<T, V>(1));
            return V.WhereLess(x, C<T, V>(low), V.Zero, er * pow2);
        }
        else
        {
            const double low = -708.3964185322641, high = 709.782712893384;
            const double ln2High = 6.93147180369123816490e-01, ln2Low = 1.90821492927058770002e-10;
            var xc = V.Max(C<T, V>(low), V.Min(C<T, V>(high), x));
            var k = V.RoundWithPowerOfTwo(xc * C<T, V>(1.4426950408889634074), out var pow2);
            var r = V.MultiplyAdd(k, C<T, V>(-ln2High), xc);
            r = V.MultiplyAdd(k, C<T, V>(-ln2Low), r);
            var p = C<T, V>(1.0 / 479001600);                       // 1/12!
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 39916800));       // 1/11!
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 3628800));
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 362880));
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 40320));
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 5040));
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 720));
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 120));
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 24));
            p = V.MultiplyAdd(p, r, C<T, V>(1.0 / 6));
            p = V.MultiplyAdd(p, r, C<T, V>(0.5));
            p = V.MultiplyAdd(p, r, C<T, V>(1));
            var er = V.MultiplyAdd(p, r, C<T, V>(1));
            return V.WhereLess(x, C<T, V>(low), V.Zero, er * pow2);
        }
    }

    /// <summary>A constant in every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V C<T, V>(double value)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T> =>
        V.Broadcast(typeof(T) == typeof(float) ? Unsafe.BitCast<float, T>((float)value) : Unsafe.BitCast<double, T>(value));
}
