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

    /// <summary>eˣ per lane.</summary>
    static abstract TSelf Exp(TSelf x);

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
    public static Lanes128<T> Exp(Lanes128<T> x) => typeof(T) == typeof(float)
        ? new(Vector128.Exp(x._v.AsSingle()).As<float, T>())
        : new(Vector128.Exp(x._v.AsDouble()).As<double, T>());

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
    public static Lanes256<T> Exp(Lanes256<T> x) => typeof(T) == typeof(float)
        ? new(Vector256.Exp(x._v.AsSingle()).As<float, T>())
        : new(Vector256.Exp(x._v.AsDouble()).As<double, T>());

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
    public static Lanes512<T> Exp(Lanes512<T> x) => typeof(T) == typeof(float)
        ? new(Vector512.Exp(x._v.AsSingle()).As<float, T>())
        : new(Vector512.Exp(x._v.AsDouble()).As<double, T>());

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
