using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ttt.Models.Fused;

/// <summary>
/// One SIMD register type for element type <typeparamref name="T"/> (float or double). The fused kernels are
/// written once against this interface and instantiated with a struct (<see cref="S512{T}"/>, <see cref="S256{T}"/>,
/// <see cref="S128{T}"/>); the JIT specialises every generic method for each struct, so the static calls inline
/// to plain vector instructions and the <c>typeof(T)</c> tests fold away.
/// </summary>
internal unsafe interface ISimd<T, TV> where T : unmanaged where TV : struct
{
    /// <summary>Lanes per register.</summary>
    static abstract int Count { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(T* p);
    static abstract void Store(T* p, TV v);
    static abstract TV Splat(T x);
    static abstract TV Splat(double x);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    /// <summary>a·b + c, fused.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    /// <summary>Sum of the lanes, in double.</summary>
    static abstract double Sum(TV v);
    /// <summary>tanh per lane: a clamped rational approximation for float (the engine's own), <see cref="Math.Tanh"/> for double.</summary>
    static abstract TV Tanh(TV v);
}

/// <summary>Scalar conversions for T = float or double (folded by the JIT).</summary>
internal static class Num
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Of<T>(double v) where T : unmanaged =>
        typeof(T) == typeof(float) ? Unsafe.BitCast<float, T>((float)v) : Unsafe.BitCast<double, T>(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double D<T>(T v) where T : unmanaged =>
        typeof(T) == typeof(float) ? Unsafe.BitCast<T, float>(v) : Unsafe.BitCast<T, double>(v);

    /// <summary>The engine's float tanh approximation (VMath.Tanh in Ttt.Tensor): x·P(x²)/Q(x²) on |x| ≤ 7.905.</summary>
    private const float TanhClamp = 7.90531110763549805f;
    private const float A1 = 4.89352455891786e-03f, A3 = 6.37261928875436e-04f, A5 = 1.48572235717979e-05f,
        A7 = 5.12229709037114e-08f, A9 = -8.60467152213735e-11f, A11 = 2.00018790482477e-13f, A13 = -2.76076847742355e-16f;
    private const float B0 = 4.89352518554385e-03f, B2 = 2.26843463243900e-03f, B4 = 1.18534705686654e-04f, B6 = 1.19825839466702e-06f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Tanh(Vector512<float> x)
    {
        var c = Vector512.Clamp(x, Vector512.Create(-TanhClamp), Vector512.Create(TanhClamp));
        var x2 = c * c;
        var p = Vector512.FusedMultiplyAdd(x2, Vector512.Create(A13), Vector512.Create(A11));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A9));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A7));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A5));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A3));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A1));
        p *= c;
        var q = Vector512.FusedMultiplyAdd(x2, Vector512.Create(B6), Vector512.Create(B4));
        q = Vector512.FusedMultiplyAdd(x2, q, Vector512.Create(B2));
        q = Vector512.FusedMultiplyAdd(x2, q, Vector512.Create(B0));
        return Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Abs(x), Vector512.Create(0.0004f)), x, p / q);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var c = Vector256.Clamp(x, Vector256.Create(-TanhClamp), Vector256.Create(TanhClamp));
        var x2 = c * c;
        var p = Vector256.FusedMultiplyAdd(x2, Vector256.Create(A13), Vector256.Create(A11));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A9));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A7));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A5));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A3));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A1));
        p *= c;
        var q = Vector256.FusedMultiplyAdd(x2, Vector256.Create(B6), Vector256.Create(B4));
        q = Vector256.FusedMultiplyAdd(x2, q, Vector256.Create(B2));
        q = Vector256.FusedMultiplyAdd(x2, q, Vector256.Create(B0));
        return Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(x), Vector256.Create(0.0004f)), x, p / q);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Tanh(Vector128<float> x)
    {
        var c = Vector128.Clamp(x, Vector128.Create(-TanhClamp), Vector128.Create(TanhClamp));
        var x2 = c * c;
        var p = Vector128.FusedMultiplyAdd(x2, Vector128.Create(A13), Vector128.Create(A11));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A9));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A7));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A5));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A3));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A1));
        p *= c;
        var q = Vector128.FusedMultiplyAdd(x2, Vector128.Create(B6), Vector128.Create(B4));
        q = Vector128.FusedMultiplyAdd(x2, q, Vector128.Create(B2));
        q = Vector128.FusedMultiplyAdd(x2, q, Vector128.Create(B0));
        return Vector128.ConditionalSelect(Vector128.LessThan(Vector128.Abs(x), Vector128.Create(0.0004f)), x, p / q);
    }

    /// <summary>tanh of every element of a small buffer, in double precision (the double path's scalar tanh).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static unsafe void TanhInPlace(double* p, int n)
    {
        for (int i = 0; i < n; i++) p[i] = Math.Tanh(p[i]);
    }
}

/// <summary>512-bit registers (AVX-512).</summary>
internal readonly unsafe struct S512<T> : ISimd<T, Vector512<T>> where T : unmanaged
{
    public static int Count => Vector512<T>.Count;
    public static Vector512<T> Zero => Vector512<T>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Load(T* p) => Vector512.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(T* p, Vector512<T> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Splat(T x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Splat(double x) => Vector512.Create(Num.Of<T>(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Sub(Vector512<T> a, Vector512<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c) =>
        typeof(T) == typeof(float)
            ? Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector512<T> v) => Num.D(Vector512.Sum(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Tanh(Vector512<T> v)
    {
        if (typeof(T) == typeof(float)) return Num.Tanh(v.AsSingle()).As<float, T>();
        var buf = stackalloc double[8];
        v.AsDouble().Store(buf);
        Num.TanhInPlace(buf, 8);
        return Vector512.Load(buf).As<double, T>();
    }
}

/// <summary>256-bit registers (AVX2).</summary>
internal readonly unsafe struct S256<T> : ISimd<T, Vector256<T>> where T : unmanaged
{
    public static int Count => Vector256<T>.Count;
    public static Vector256<T> Zero => Vector256<T>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Load(T* p) => Vector256.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(T* p, Vector256<T> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Splat(T x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Splat(double x) => Vector256.Create(Num.Of<T>(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Sub(Vector256<T> a, Vector256<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> c) =>
        typeof(T) == typeof(float)
            ? Vector256.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector256.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector256<T> v) => Num.D(Vector256.Sum(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Tanh(Vector256<T> v)
    {
        if (typeof(T) == typeof(float)) return Num.Tanh(v.AsSingle()).As<float, T>();
        var buf = stackalloc double[4];
        v.AsDouble().Store(buf);
        Num.TanhInPlace(buf, 4);
        return Vector256.Load(buf).As<double, T>();
    }
}

/// <summary>128-bit registers (the portable fallback).</summary>
internal readonly unsafe struct S128<T> : ISimd<T, Vector128<T>> where T : unmanaged
{
    public static int Count => Vector128<T>.Count;
    public static Vector128<T> Zero => Vector128<T>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Load(T* p) => Vector128.Load(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(T* p, Vector128<T> v) => v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Splat(T x) => Vector128.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Splat(double x) => Vector128.Create(Num.Of<T>(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Add(Vector128<T> a, Vector128<T> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Sub(Vector128<T> a, Vector128<T> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<T> Mul(Vector128<T> a, Vector128<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Fma(Vector128<T> a, Vector128<T> b, Vector128<T> c) =>
        typeof(T) == typeof(float)
            ? Vector128.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Vector128.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector128<T> v) => Num.D(Vector128.Sum(v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Tanh(Vector128<T> v)
    {
        if (typeof(T) == typeof(float)) return Num.Tanh(v.AsSingle()).As<float, T>();
        var buf = stackalloc double[2];
        v.AsDouble().Store(buf);
        Num.TanhInPlace(buf, 2);
        return Vector128.Load(buf).As<double, T>();
    }
}
