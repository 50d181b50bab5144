using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// The Mamba-1 selective scan on the GPU (ptx/mamba_scan.cu): u, Δ [B, L, E]; A [E, N]; B, C [B, L, N]; D [E] →
/// y [B, L, E] (and the final state [B, E, N]). One thread per (batch, channel) with its states in registers; the
/// backward recomputes states from chunk-boundary checkpoints (scratch O(B·E·N·(L/chunk + chunk))). The op that
/// routes to it is Ttt.Models.SelectiveScan (through <see cref="Backends.ISelectiveScanKernels"/>).
/// </summary>
internal static class FusedSelectiveScan
{
    /// <summary>Time steps per chunk of the backward's state checkpoints.</summary>
    public const int Chunk = 64;

    private const int Threads = 128;
    private const int StateGroup = 16; // SCAN_GROUP in ptx/mamba_scan.cu

    /// <summary>y [B, L, E] and, when asked, the final state h_L [B, E, N].</summary>
    public static (Tensor Y, Tensor? LastState) Forward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, bool wantLastState)
    {
        const string Op = "fused_selective_scan";
        var (be, x, batch, len, ch, states) = Check(Op, u, delta, a, b, c, d);
        var y = Tensor.Empty([batch, len, ch], u.DType, u.Device);
        var last = wantLastState ? Tensor.Empty([batch, ch, states], u.DType, u.Device) : null;
        Launch(be, KernelCatalog.MambaScanForward[u.DType], Blocks(ch), batch, Threads,
            be.FirstElement(x[0], Op), be.FirstElement(x[1], Op), be.FirstElement(x[2], Op), be.FirstElement(x[3], Op),
            be.FirstElement(x[4], Op), be.FirstElement(x[5], Op), be.FirstElement(y, Op), be.FirstOrNull(last, Op),
            (long)len, (long)ch, (long)states);
        return (y, last);
    }

    /// <summary>du, dΔ, dA, dB, dC, dD for the output gradient dy [B, L, E].</summary>
    public static Tensor[] Backward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, Tensor dy)
    {
        const string Op = "fused_selective_scan_backward";
        var (be, x, batch, len, ch, states) = Check(Op, u, delta, a, b, c, d);
        ArgumentNullException.ThrowIfNull(dy);
        Same(Op, "dy", dy, be, u.DType);
        if (!ShapeUtil.SameShape(dy.Shape, u.Shape))
            throw new ArgumentException($"{Op}: dy has shape {ShapeUtil.Format(dy.Shape)}, expected {ShapeUtil.Format(u.Shape)}");
        var du = Tensor.Empty(u.Shape, u.DType, u.Device);
        var dDelta = Tensor.Empty(u.Shape, u.DType, u.Device);
        var dA = Tensor.Zeros(a.ShapeArray(), u.DType, u.Device);
        var dB = Tensor.Zeros(b.ShapeArray(), u.DType, u.Device);
        var dC = Tensor.Zeros(c.ShapeArray(), u.DType, u.Device);
        var dD = Tensor.Zeros(d.ShapeArray(), u.DType, u.Device);
        int chunk = Math.Min(Chunk, len);
        int chunks = (len + chunk - 1) / chunk;
        long size = u.DType.SizeOf();
        using var checkpoints = new CudaBackend.Scratch(be.CudaDevice, checked((long)batch * chunks * StateGroup * ch * size));
        using var recomputed = new CudaBackend.Scratch(be.CudaDevice, checked((long)batch * chunk * StateGroup * ch * size));
        Launch(be, KernelCatalog.MambaScanBackward[u.DType], Blocks(ch), batch, Threads,
            be.FirstElement(x[0], Op), be.FirstElement(x[1], Op), be.FirstElement(x[2], Op), be.FirstElement(x[3], Op),
            be.FirstElement(x[4], Op), be.FirstElement(x[5], Op), be.FirstElement(Dense(dy), Op),
            be.FirstElement(du, Op), be.FirstElement(dDelta, Op), be.FirstElement(dA, Op), be.FirstElement(dB, Op),
            be.FirstElement(dC, Op), be.FirstElement(dD, Op), checkpoints.Pointer, recomputed.Pointer,
            (long)len, (long)ch, (long)states, (long)chunk);
        return [du, dDelta, dA, dB, dC, dD];
    }

    private static int Blocks(int channels) => (channels + Threads - 1) / Threads;

    private static (CudaBackend, Tensor[], int B, int L, int E, int N) Check(string op, Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d)
    {
        Tensor[] all = [u, delta, a, b, c, d];
        string[] names = ["u", "delta", "A", "B", "C", "D"];
        for (int i = 0; i < all.Length; i++)
            if (all[i] is null) throw new ArgumentNullException(names[i], $"{op}: {names[i]} is null");
        Float(op, u);
        var be = Backend(op, u);
        for (int i = 1; i < all.Length; i++) Same(op, names[i], all[i], be, u.DType);
        if (u.Rank != 3) throw new ArgumentException($"{op}: u must be [B, L, E], got {ShapeUtil.Format(u.Shape)}");
        int batch = u.Shape[0], len = u.Shape[1], ch = u.Shape[2];
        int states = a.Rank == 2 ? a.Shape[1] : -1;
        if (batch < 1 || len < 1 || ch < 1 || states < 1 || !ShapeUtil.SameShape(delta.Shape, u.Shape) || a.Shape[0] != ch
            || !ShapeUtil.SameShape(b.Shape, [batch, len, states]) || !ShapeUtil.SameShape(c.Shape, [batch, len, states])
            || d.Rank != 1 || d.Shape[0] != ch)
            throw new ArgumentException($"{op}: expected u, Δ [B, L, E], A [E, N], B, C [B, L, N], D [E] with every size ≥ 1; got u {ShapeUtil.Format(u.Shape)}, Δ {ShapeUtil.Format(delta.Shape)}, A {ShapeUtil.Format(a.Shape)}, B {ShapeUtil.Format(b.Shape)}, C {ShapeUtil.Format(c.Shape)}, D {ShapeUtil.Format(d.Shape)}");
        if (batch > 65535) throw new ArgumentException($"{op}: batch {batch} exceeds the 65535 blocks of a grid's y dimension");
        return (be, all.Select(Dense).ToArray(), batch, len, ch, states);
    }
}
