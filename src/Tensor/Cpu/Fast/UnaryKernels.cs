using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ttt.Backends;

namespace Ttt.Cpu.Fast;

/// <summary>One element-wise function in scalar and vector form (T = float or double).</summary>
internal interface IUnaryKernel<T> where T : unmanaged
{
    /// <summary>False when only the scalar form is accurate enough (the vector forms are then never called).</summary>
    bool Vectorizable { get; }
    T Invoke(T x);
    Vector256<T> Invoke(Vector256<T> x);
    Vector512<T> Invoke(Vector512<T> x);
}

/// <summary>Runs unary kernels over strided rows, multi-threaded.</summary>
internal static class UnaryKernels
{
    private const long Grain = 1 << 15;

    public static void Run<T>(UnaryOp op, Tensor x, Tensor y, double a, double b) where T : unmanaged
    {
        switch (op)
        {
            case UnaryOp.Neg: Run<T, Affine<T>>(new Affine<T>(-1, 0), x, y); break;
            case UnaryOp.Affine: Run<T, Affine<T>>(new Affine<T>(a, b), x, y); break;
            case UnaryOp.Exp: Run<T, ExpK<T>>(default, x, y); break;
            case UnaryOp.Log: Run<T, LogK<T>>(default, x, y); break;
            case UnaryOp.Sqrt: Run<T, SqrtK<T>>(default, x, y); break;
            case UnaryOp.Rsqrt: Run<T, RsqrtK<T>>(default, x, y); break;
            case UnaryOp.Abs: Run<T, AbsK<T>>(default, x, y); break;
            case UnaryOp.Tanh: Run<T, TanhK<T>>(default, x, y); break;
            case UnaryOp.Sigmoid: Run<T, SigmoidK<T>>(default, x, y); break;
            case UnaryOp.Relu: Run<T, ReluK<T>>(default, x, y); break;
            case UnaryOp.Silu: Run<T, SiluK<T>>(default, x, y); break;
            case UnaryOp.Gelu: Run<T, GeluK<T>>(default, x, y); break;
            case UnaryOp.Square: Run<T, SquareK<T>>(default, x, y); break;
            case UnaryOp.Reciprocal: Run<T, ReciprocalK<T>>(default, x, y); break;
            case UnaryOp.Clamp: Run<T, ClampK<T>>(new ClampK<T>(a, b), x, y); break;
            case UnaryOp.Pow when a == 2: Run<T, SquareK<T>>(default, x, y); break;
            case UnaryOp.Pow when a == 1: Run<T, Affine<T>>(new Affine<T>(1, 0), x, y); break;
            case UnaryOp.Pow when a == 0.5: Run<T, SqrtK<T>>(default, x, y); break;
            case UnaryOp.Pow when a == -0.5: Run<T, RsqrtK<T>>(default, x, y); break;
            case UnaryOp.Pow when a == -1: Run<T, ReciprocalK<T>>(default, x, y); break;
            default: Run<T, ScalarK<T>>(new ScalarK<T>(op, a, b), x, y); break;
        }
    }

    public static void Run<T, TOp>(TOp op, Tensor x, Tensor y) where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        var layout = Layout.Of(y, x);
        var ys = y.Cpu();
        var xs = x.Cpu();
        CpuParallel.For(layout.Numel, Grain, (start, end) => RunRange<T, TOp>(op, layout, xs, ys, start, end));
    }

    private static void RunRange<T, TOp>(TOp op, Layout l, CpuStorage xs, CpuStorage ys, long start, long end)
        where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        ref T y0 = ref ys.Ref<T>();
        ref T x0 = ref xs.Ref<T>();
        long inner = l.Inner, sy = l.Strides[0][^1], sx = l.Strides[1][^1];
        for (long pos = start; pos < end;)
        {
            long row = pos / inner;
            int col = (int)(pos % inner);
            int count = (int)Math.Min(inner - col, end - pos);
            Row(op, ref Unsafe.Add(ref x0, (nint)(l.RowOffset(1, row) + col * sx)), sx,
                ref Unsafe.Add(ref y0, (nint)(l.RowOffset(0, row) + col * sy)), sy, count);
            pos += count;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<T, TOp>(TOp op, ref T x, long sx, ref T y, long sy, int n)
        where T : unmanaged where TOp : struct, IUnaryKernel<T>
    {
        int i = 0;
        if (sx == 1 && sy == 1 && op.Vectorizable)
        {
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                    op.Invoke(Vector512.LoadUnsafe(ref x, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
            else if (Vector256.IsHardwareAccelerated)
                for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
                    op.Invoke(Vector256.LoadUnsafe(ref x, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
        }
        else if (sx == 0)
        {
            T v = op.Invoke(x);
            for (; i < n; i++) Unsafe.Add(ref y, (nint)(i * sy)) = v;
            return;
        }
        for (; i < n; i++) Unsafe.Add(ref y, (nint)(i * sy)) = op.Invoke(Unsafe.Add(ref x, (nint)(i * sx)));
    }

    // ------------------------------------------------------------------ kernels

    private readonly struct Affine<T>(double a, double b) : IUnaryKernel<T> where T : unmanaged
    {
        private readonly T _a = VMath.Scalar<T>(a), _b = VMath.Scalar<T>(b);
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(VMath.ToDouble(_a) * VMath.ToDouble(x) + VMath.ToDouble(_b));
        public Vector256<T> Invoke(Vector256<T> x) => Vector256.Create(_a) * x + Vector256.Create(_b);
        public Vector512<T> Invoke(Vector512<T> x) => Vector512.Create(_a) * x + Vector512.Create(_b);
    }

    private readonly struct ExpK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(Math.Exp(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x) => VMath.Exp(x);
        public Vector512<T> Invoke(Vector512<T> x) => VMath.Exp(x);
    }

    private readonly struct LogK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(Math.Log(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x) => VMath.Log(x);
        public Vector512<T> Invoke(Vector512<T> x) => VMath.Log(x);
    }

    private readonly struct SqrtK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(Math.Sqrt(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x) => Vector256.Sqrt(x);
        public Vector512<T> Invoke(Vector512<T> x) => Vector512.Sqrt(x);
    }

    private readonly struct RsqrtK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(1 / Math.Sqrt(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x) => Vector256<T>.One / Vector256.Sqrt(x);
        public Vector512<T> Invoke(Vector512<T> x) => Vector512<T>.One / Vector512.Sqrt(x);
    }

    private readonly struct AbsK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(Math.Abs(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x) => Vector256.Abs(x);
        public Vector512<T> Invoke(Vector512<T> x) => Vector512.Abs(x);
    }

    private readonly struct TanhK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => VMath.TanhVectorizable<T>();
        public T Invoke(T x) => VMath.Scalar<T>(Math.Tanh(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x) => VMath.Tanh(x.AsSingle()).As<float, T>();
        public Vector512<T> Invoke(Vector512<T> x) => VMath.Tanh(x.AsSingle()).As<float, T>();
    }

    private readonly struct SigmoidK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(ScalarMath.Sigmoid(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x) => Vector256<T>.One / (Vector256<T>.One + VMath.Exp(-x));
        public Vector512<T> Invoke(Vector512<T> x) => Vector512<T>.One / (Vector512<T>.One + VMath.Exp(-x));
    }

    private readonly struct ReluK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.ToDouble(x) > 0 ? x : default;
        public Vector256<T> Invoke(Vector256<T> x) => Vector256.Max(x, Vector256<T>.Zero);
        public Vector512<T> Invoke(Vector512<T> x) => Vector512.Max(x, Vector512<T>.Zero);
    }

    private readonly struct SiluK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x)
        {
            double v = VMath.ToDouble(x);
            return VMath.Scalar<T>(v * ScalarMath.Sigmoid(v));
        }
        public Vector256<T> Invoke(Vector256<T> x) => x / (Vector256<T>.One + VMath.Exp(-x));
        public Vector512<T> Invoke(Vector512<T> x) => x / (Vector512<T>.One + VMath.Exp(-x));
    }

    private readonly struct GeluK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => VMath.TanhVectorizable<T>();
        public T Invoke(T x) => VMath.Scalar<T>(ScalarMath.Gelu(VMath.ToDouble(x)));
        public Vector256<T> Invoke(Vector256<T> x)
        {
            var v = x.AsSingle();
            var u = Vector256.Create((float)ScalarMath.SqrtTwoOverPi) * (v + Vector256.Create(0.044715f) * v * v * v);
            return (Vector256.Create(0.5f) * v * (Vector256<float>.One + VMath.Tanh(u))).As<float, T>();
        }
        public Vector512<T> Invoke(Vector512<T> x)
        {
            var v = x.AsSingle();
            var u = Vector512.Create((float)ScalarMath.SqrtTwoOverPi) * (v + Vector512.Create(0.044715f) * v * v * v);
            return (Vector512.Create(0.5f) * v * (Vector512<float>.One + VMath.Tanh(u))).As<float, T>();
        }
    }

    private readonly struct SquareK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x)
        {
            double v = VMath.ToDouble(x);
            return VMath.Scalar<T>(v * v);
        }
        public Vector256<T> Invoke(Vector256<T> x) => x * x;
        public Vector512<T> Invoke(Vector512<T> x) => x * x;
    }

    private readonly struct ReciprocalK<T> : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(1 / VMath.ToDouble(x));
        public Vector256<T> Invoke(Vector256<T> x) => Vector256<T>.One / x;
        public Vector512<T> Invoke(Vector512<T> x) => Vector512<T>.One / x;
    }

    private readonly struct ClampK<T>(double lo, double hi) : IUnaryKernel<T> where T : unmanaged
    {
        private readonly T _lo = VMath.Scalar<T>(lo), _hi = VMath.Scalar<T>(hi);
        public bool Vectorizable => true;
        public T Invoke(T x) => VMath.Scalar<T>(ScalarMath.Unary(UnaryOp.Clamp, VMath.ToDouble(x), VMath.ToDouble(_lo), VMath.ToDouble(_hi)));
        public Vector256<T> Invoke(Vector256<T> x)
        {
            var r = Vector256.Min(Vector256.Max(x, Vector256.Create(_lo)), Vector256.Create(_hi));
            return Vector256.ConditionalSelect(Vector256.Equals(x, x), r, x); // NaN stays NaN
        }
        public Vector512<T> Invoke(Vector512<T> x)
        {
            var r = Vector512.Min(Vector512.Max(x, Vector512.Create(_lo)), Vector512.Create(_hi));
            return Vector512.ConditionalSelect(Vector512.Equals(x, x), r, x);
        }
    }

    /// <summary>Any primitive through its scalar definition (rare ops: sign, general pow, comparisons).</summary>
    private readonly struct ScalarK<T>(UnaryOp op, double a, double b) : IUnaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => false;
        public T Invoke(T x) => VMath.Scalar<T>(ScalarMath.Unary(op, VMath.ToDouble(x), a, b));
        public Vector256<T> Invoke(Vector256<T> x) => throw new NotSupportedException();
        public Vector512<T> Invoke(Vector512<T> x) => throw new NotSupportedException();
    }
}
