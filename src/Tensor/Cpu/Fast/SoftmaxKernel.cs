using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu.Fast;

/// <summary>Row softmax / log-softmax over the last dim of a contiguous tensor: max, exp-sum, scale; SIMD.</summary>
internal static class SoftmaxKernel
{
    public static void Run<T>(Tensor x, Tensor y, bool log) where T : unmanaged
    {
        int len = x.ShapeRef[^1];
        long rows = len == 0 ? 0 : x.Numel / len;
        var xs = x.Cpu();
        var ys = y.Cpu();
        CpuParallel.For(rows, Math.Max(1, (1 << 14) / Math.Max(len, 1)), (s, e) =>
        {
            ref T x0 = ref xs.Ref<T>();
            ref T y0 = ref ys.Ref<T>();
            for (long r = s; r < e; r++)
                Row(ref Unsafe.Add(ref x0, (nint)(x.Offset + r * len)), ref Unsafe.Add(ref y0, (nint)(y.Offset + r * len)), len, log);
        });
    }

    private static void Row<T>(ref T x, ref T y, int n, bool log) where T : unmanaged
    {
        T maxT = Reductions.ReduceRow(Ttt.Backends.ReduceOp.Max, ref x, n);
        double max = VMath.ToDouble(maxT);
        if (double.IsNegativeInfinity(max)) max = 0;
        var mT = VMath.Scalar<T>(max);
        // y = exp(x − max), sum accumulated
        int i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vm = Vector512.Create(mT);
            var acc = Vector512<T>.Zero;
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var ev = VMath.Exp(Vector512.LoadUnsafe(ref x, (nuint)i) - vm);
                acc += ev;
                if (!log) ev.StoreUnsafe(ref y, (nuint)i);
            }
            sum = VMath.ToDouble(Vector512.Sum(acc));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vm = Vector256.Create(mT);
            var acc = Vector256<T>.Zero;
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var ev = VMath.Exp(Vector256.LoadUnsafe(ref x, (nuint)i) - vm);
                acc += ev;
                if (!log) ev.StoreUnsafe(ref y, (nuint)i);
            }
            sum = VMath.ToDouble(Vector256.Sum(acc));
        }
        for (; i < n; i++)
        {
            double ev = Math.Exp(VMath.ToDouble(Unsafe.Add(ref x, i)) - max);
            sum += ev;
            if (!log) Unsafe.Add(ref y, i) = VMath.Scalar<T>(ev);
        }
        if (log)
        {
            var shift = VMath.Scalar<T>(max + Math.Log(sum));
            i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vs = Vector512.Create(shift);
                for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                    (Vector512.LoadUnsafe(ref x, (nuint)i) - vs).StoreUnsafe(ref y, (nuint)i);
            }
            for (; i < n; i++) Unsafe.Add(ref y, i) = VMath.Scalar<T>(VMath.ToDouble(Unsafe.Add(ref x, i)) - VMath.ToDouble(shift));
        }
        else
        {
            var inv = VMath.Scalar<T>(1 / sum);
            i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var vi = Vector512.Create(inv);
                for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                    (Vector512.LoadUnsafe(ref y, (nuint)i) * vi).StoreUnsafe(ref y, (nuint)i);
            }
            for (; i < n; i++) Unsafe.Add(ref y, i) = VMath.Scalar<T>(VMath.ToDouble(Unsafe.Add(ref y, i)) * VMath.ToDouble(inv));
        }
    }
}
