using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu.Fast;

/// <summary>
/// The SwiGLU gate silu(a)·b and its gradients in one pass each over contiguous a, b (and g) of T = float or double:
/// forward y = a·σ(a)·b; backward da = g·b·σ(a)·(1 + a·(1 − σ(a))), db = g·a·σ(a). Used by <see cref="Tensor.FusedSwiGlu"/>.
/// </summary>
internal static class SwiGluKernel
{
    private const long Grain = 1 << 14;

    public static void Forward<T>(Tensor a, Tensor b, Tensor y) where T : unmanaged =>
        CpuParallel.For(a.Numel, Grain, (start, end) =>
        {
            var sa = Elements<T>(a); var sb = Elements<T>(b); var sy = Elements<T>(y);
            int i = (int)start, n = (int)end;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                {
                    var va = Vector512.Create<T>(sa.Slice(i, Vector512<T>.Count));
                    var vb = Vector512.Create<T>(sb.Slice(i, Vector512<T>.Count));
                    (va / (Vector512<T>.One + VMath.Exp(-va)) * vb).CopyTo(sy.Slice(i, Vector512<T>.Count));
                }
            for (; i < n; i++)
            {
                double av = VMath.ToDouble(sa[i]);
                sy[i] = VMath.Scalar<T>(av / (1 + Math.Exp(-av)) * VMath.ToDouble(sb[i]));
            }
        });

    public static void Backward<T>(Tensor a, Tensor b, Tensor g, Tensor da, Tensor db) where T : unmanaged =>
        CpuParallel.For(a.Numel, Grain, (start, end) =>
        {
            var sa = Elements<T>(a); var sb = Elements<T>(b); var sg = Elements<T>(g);
            var sda = Elements<T>(da); var sdb = Elements<T>(db);
            int i = (int)start, n = (int)end;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                {
                    int w = Vector512<T>.Count;
                    var va = Vector512.Create<T>(sa.Slice(i, w));
                    var vb = Vector512.Create<T>(sb.Slice(i, w));
                    var vg = Vector512.Create<T>(sg.Slice(i, w));
                    var s = Vector512<T>.One / (Vector512<T>.One + VMath.Exp(-va));
                    (vg * vb * s * (Vector512<T>.One + va * (Vector512<T>.One - s))).CopyTo(sda.Slice(i, w));
                    (vg * va * s).CopyTo(sdb.Slice(i, w));
                }
            for (; i < n; i++)
            {
                double av = VMath.ToDouble(sa[i]), bv = VMath.ToDouble(sb[i]), gv = VMath.ToDouble(sg[i]);
                double s = 1 / (1 + Math.Exp(-av));
                sda[i] = VMath.Scalar<T>(gv * bv * s * (1 + av * (1 - s)));
                sdb[i] = VMath.Scalar<T>(gv * av * s);
            }
        });

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Span<T> Elements<T>(Tensor t) where T : unmanaged => t.Cpu().Span<T>().Slice((int)t.Offset, (int)t.Numel);
}
