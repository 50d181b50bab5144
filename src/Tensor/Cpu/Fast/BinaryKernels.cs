using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ttt.Backends;

namespace Ttt.Cpu.Fast;

/// <summary>One element-wise function of two arguments in scalar and vector form.</summary>
internal interface IBinaryKernel<T> where T : unmanaged
{
    bool Vectorizable { get; }
    T Invoke(T a, T b);
    Vector256<T> Invoke(Vector256<T> a, Vector256<T> b);
    Vector512<T> Invoke(Vector512<T> a, Vector512<T> b);
}

/// <summary>Runs binary kernels and <c>where</c> over broadcast, strided rows, multi-threaded.</summary>
internal static class BinaryKernels
{
    private const long Grain = 1 << 15;

    public static void Run<T>(BinaryOp op, Tensor a, Tensor b, Tensor y) where T : unmanaged
    {
        switch (op)
        {
            case BinaryOp.Add: Run<T, AddK<T>>(default, a, b, y); break;
            case BinaryOp.Sub: Run<T, SubK<T>>(default, a, b, y); break;
            case BinaryOp.Mul: Run<T, MulK<T>>(default, a, b, y); break;
            case BinaryOp.Div: Run<T, DivK<T>>(default, a, b, y); break;
            case BinaryOp.Maximum: Run<T, MaxK<T>>(default, a, b, y); break;
            case BinaryOp.Minimum: Run<T, MinK<T>>(default, a, b, y); break;
            default: Run<T, ScalarK<T>>(new ScalarK<T>(op), a, b, y); break;
        }
    }

    public static void Run<T, TOp>(TOp op, Tensor a, Tensor b, Tensor y) where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        var layout = Layout.Of(y, a, b);
        var sy = y.Cpu();
        var sa = a.Cpu();
        var sb = b.Cpu();
        CpuParallel.For(layout.Numel, Grain, (start, end) => RunRange<T, TOp>(op, layout, sa, sb, sy, start, end));
    }

    private static void RunRange<T, TOp>(TOp op, Layout l, CpuStorage sa, CpuStorage sb, CpuStorage sy, long start, long end)
        where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        ref T y0 = ref sy.Ref<T>();
        ref T a0 = ref sa.Ref<T>();
        ref T b0 = ref sb.Ref<T>();
        long inner = l.Inner, ys = l.Strides[0][^1], as_ = l.Strides[1][^1], bs = l.Strides[2][^1];
        for (long pos = start; pos < end;)
        {
            long row = pos / inner;
            int col = (int)(pos % inner);
            int count = (int)Math.Min(inner - col, end - pos);
            Row(op,
                ref Unsafe.Add(ref a0, (nint)(l.RowOffset(1, row) + col * as_)), as_,
                ref Unsafe.Add(ref b0, (nint)(l.RowOffset(2, row) + col * bs)), bs,
                ref Unsafe.Add(ref y0, (nint)(l.RowOffset(0, row) + col * ys)), ys, count);
            pos += count;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<T, TOp>(TOp op, ref T a, long sa, ref T b, long sb, ref T y, long sy, int n)
        where T : unmanaged where TOp : struct, IBinaryKernel<T>
    {
        int i = 0;
        if (sy == 1 && op.Vectorizable && sa <= 1 && sb <= 1 && sa >= 0 && sb >= 0)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                int w = Vector512<T>.Count;
                if (sa == 1 && sb == 1)
                    for (; i <= n - w; i += w)
                        op.Invoke(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
                else if (sa == 1)
                {
                    var vb = Vector512.Create(b);
                    for (; i <= n - w; i += w) op.Invoke(Vector512.LoadUnsafe(ref a, (nuint)i), vb).StoreUnsafe(ref y, (nuint)i);
                }
                else if (sb == 1)
                {
                    var va = Vector512.Create(a);
                    for (; i <= n - w; i += w) op.Invoke(va, Vector512.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
                }
            }
            else if (Vector256.IsHardwareAccelerated)
            {
                int w = Vector256<T>.Count;
                if (sa == 1 && sb == 1)
                    for (; i <= n - w; i += w)
                        op.Invoke(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
                else if (sa == 1)
                {
                    var vb = Vector256.Create(b);
                    for (; i <= n - w; i += w) op.Invoke(Vector256.LoadUnsafe(ref a, (nuint)i), vb).StoreUnsafe(ref y, (nuint)i);
                }
                else if (sb == 1)
                {
                    var va = Vector256.Create(a);
                    for (; i <= n - w; i += w) op.Invoke(va, Vector256.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
                }
            }
        }
        for (; i < n; i++)
            Unsafe.Add(ref y, (nint)(i * sy)) = op.Invoke(Unsafe.Add(ref a, (nint)(i * sa)), Unsafe.Add(ref b, (nint)(i * sb)));
    }

    /// <summary>y = cond ≠ 0 ? a : b.</summary>
    public static void Where<T>(Tensor cond, Tensor a, Tensor b, Tensor y) where T : unmanaged
    {
        var l = Layout.Of(y, cond, a, b);
        var sy = y.Cpu();
        var sc = cond.Cpu();
        var sa = a.Cpu();
        var sb = b.Cpu();
        CpuParallel.For(l.Numel, Grain, (start, end) =>
        {
            ref T y0 = ref sy.Ref<T>();
            ref T c0 = ref sc.Ref<T>();
            ref T a0 = ref sa.Ref<T>();
            ref T b0 = ref sb.Ref<T>();
            long inner = l.Inner;
            long ys = l.Strides[0][^1], cs = l.Strides[1][^1], as_ = l.Strides[2][^1], bs = l.Strides[3][^1];
            for (long pos = start; pos < end;)
            {
                long row = pos / inner;
                int col = (int)(pos % inner);
                int count = (int)Math.Min(inner - col, end - pos);
                long yo = l.RowOffset(0, row) + col * ys, co = l.RowOffset(1, row) + col * cs;
                long ao = l.RowOffset(2, row) + col * as_, bo = l.RowOffset(3, row) + col * bs;
                for (int i = 0; i < count; i++)
                {
                    bool c = !EqualityComparer<T>.Default.Equals(Unsafe.Add(ref c0, (nint)(co + i * cs)), default);
                    Unsafe.Add(ref y0, (nint)(yo + i * ys)) = c ? Unsafe.Add(ref a0, (nint)(ao + i * as_)) : Unsafe.Add(ref b0, (nint)(bo + i * bs));
                }
                pos += count;
            }
        });
    }

    // ------------------------------------------------------------------ kernels

    private readonly struct AddK<T> : IBinaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T a, T b) => VMath.Scalar<T>(VMath.ToDouble(a) + VMath.ToDouble(b));
        public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a + b;
        public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a + b;
    }

    private readonly struct SubK<T> : IBinaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T a, T b) => VMath.Scalar<T>(VMath.ToDouble(a) - VMath.ToDouble(b));
        public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a - b;
        public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a - b;
    }

    private readonly struct MulK<T> : IBinaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T a, T b) => VMath.Scalar<T>(VMath.ToDouble(a) * VMath.ToDouble(b));
        public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a * b;
        public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a * b;
    }

    private readonly struct DivK<T> : IBinaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T a, T b) => VMath.Scalar<T>(VMath.ToDouble(a) / VMath.ToDouble(b));
        public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => a / b;
        public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => a / b;
    }

    private readonly struct MaxK<T> : IBinaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T a, T b) => VMath.Scalar<T>(ScalarMath.Binary(BinaryOp.Maximum, VMath.ToDouble(a), VMath.ToDouble(b)));
        public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.Max(a, b);
        public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.Max(a, b);
    }

    private readonly struct MinK<T> : IBinaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => true;
        public T Invoke(T a, T b) => VMath.Scalar<T>(ScalarMath.Binary(BinaryOp.Minimum, VMath.ToDouble(a), VMath.ToDouble(b)));
        public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => Vector256.Min(a, b);
        public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => Vector512.Min(a, b);
    }

    private readonly struct ScalarK<T>(BinaryOp op) : IBinaryKernel<T> where T : unmanaged
    {
        public bool Vectorizable => false;
        public T Invoke(T a, T b) => VMath.Scalar<T>(ScalarMath.Binary(op, VMath.ToDouble(a), VMath.ToDouble(b)));
        public Vector256<T> Invoke(Vector256<T> a, Vector256<T> b) => throw new NotSupportedException();
        public Vector512<T> Invoke(Vector512<T> a, Vector512<T> b) => throw new NotSupportedException();
    }
}
