using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// Fused blockwise causal softmax attention (ptx/attention.cu), forward and backward, float32 and float64, head dims
/// up to <see cref="MaxHeadDim"/>. q [B, H, Tq, d], k and v [B, H, Tk, d] may be strided views with unit stride along
/// d (other layouts are copied); the outputs are dense. The op that routes to it is
/// <see cref="Tensor.BlockwiseAttention(Tensor, Tensor, Tensor, bool, double?)"/> (through
/// <see cref="Backends.IAttentionKernels"/>); its composed oracle is <see cref="Attention.Reference"/>.
/// </summary>
internal static class FusedAttention
{
    /// <summary>The largest head dim the kernels hold in their tiles (ATTN_MAX_D).</summary>
    public const int MaxHeadDim = 128;

    private const int Threads = 128;

    // Query / key tile rows per pass and dtype, as AttnTiles in ptx/attention.cu.
    private static int ForwardQueryTile(DType t) => t == DType.Float32 ? 16 : 8;
    private static int BackwardQueryTile(DType t) => t == DType.Float32 ? 16 : 8;
    private static int BackwardKeyTile(DType t) => t == DType.Float32 ? 16 : 8;

    /// <summary>o [B, H, Tq, d] and lse [B, H, Tq] of softmax(scale·q·kᵀ, causal mask)·v.</summary>
    public static (Tensor Output, Tensor LogSumExp) Forward(Tensor q, Tensor k, Tensor v, bool causal, double scale)
    {
        const string Op = "fused_attention";
        var (be, b, h, tq, tk, d) = Check(Op, q, k, v, causal);
        var o = Tensor.Empty([b, h, tq, d], q.DType, q.Device);
        var lse = Tensor.Empty([b, h, tq], q.DType, q.Device);
        if ((long)b * h * tq == 0) return (o, lse);
        var (qd, kd, vd) = (UnitLast(q), UnitLast(k), UnitLast(v));
        Launch(be, KernelCatalog.AttentionForward[q.DType], Tiles(tq, ForwardQueryTile(q.DType)), BatchHeads(Op, b, h), Threads,
            [.. Operand(be, qd, Op), .. Operand(be, kd, Op), .. Operand(be, vd, Op),
             be.FirstElement(o, Op), be.FirstElement(lse, Op), (long)h, (long)tq, (long)tk, (long)d, causal ? 1 : 0, scale]);
        return (o, lse);
    }

    /// <summary>dq, dk, dv for the output gradient <paramref name="dOutput"/> [B, H, Tq, d].</summary>
    public static (Tensor Dq, Tensor Dk, Tensor Dv) Backward(Tensor q, Tensor k, Tensor v, Tensor output, Tensor logSumExp, Tensor dOutput,
        bool causal, double scale)
    {
        const string Op = "fused_attention_backward";
        var (be, b, h, tq, tk, d) = Check(Op, q, k, v, causal);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(logSumExp);
        ArgumentNullException.ThrowIfNull(dOutput);
        foreach (var (name, t, shape) in new[] { ("output", output, new[] { b, h, tq, d }), ("dOutput", dOutput, [b, h, tq, d]), ("logSumExp", logSumExp, [b, h, tq]) })
        {
            Same(Op, name, t, be, q.DType);
            if (!ShapeUtil.SameShape(t.Shape, shape))
                throw new ArgumentException($"{Op}: {name} must have shape {ShapeUtil.Format(shape)}, got {ShapeUtil.Format(t.Shape)}");
        }
        var dq = Tensor.Empty([b, h, tq, d], q.DType, q.Device);
        var dk = Tensor.Zeros([b, h, tk, d], q.DType, q.Device);
        var dv = Tensor.Zeros([b, h, tk, d], q.DType, q.Device);
        if ((long)b * h * tq == 0) return (dq, dk, dv);
        var (qd, kd, vd, gd) = (UnitLast(q), UnitLast(k), UnitLast(v), UnitLast(dOutput));
        var (od, ld) = (Dense(output), Dense(logSumExp));
        var dvec = Tensor.Empty([b, h, tq], q.DType, q.Device);
        int bh = BatchHeads(Op, b, h);
        Launch(be, KernelCatalog.AttentionBackwardQuery[q.DType], Tiles(tq, BackwardQueryTile(q.DType)), bh, Threads,
            [.. Operand(be, qd, Op), .. Operand(be, kd, Op), .. Operand(be, vd, Op), be.FirstElement(od, Op), be.FirstElement(ld, Op),
             .. Operand(be, gd, Op), be.FirstElement(dq, Op), be.FirstElement(dvec, Op), (long)h, (long)tq, (long)tk, (long)d, causal ? 1 : 0, scale]);
        Launch(be, KernelCatalog.AttentionBackwardKeyValue[q.DType], Tiles(tk, BackwardKeyTile(q.DType)), bh, Threads,
            [.. Operand(be, qd, Op), .. Operand(be, kd, Op), .. Operand(be, vd, Op), be.FirstElement(ld, Op), be.FirstElement(dvec, Op),
             .. Operand(be, gd, Op), be.FirstElement(dk, Op), be.FirstElement(dv, Op), (long)h, (long)tq, (long)tk, (long)d, causal ? 1 : 0, scale]);
        return (dq, dk, dv);
    }

    private static int Tiles(int length, int tile) => Math.Max(1, (length + tile - 1) / tile);

    private static int BatchHeads(string op, int b, int h)
    {
        long bh = (long)b * h;
        if (bh > 65535) throw new ArgumentException($"{op}: B·H = {bh} exceeds the 65535 blocks of a grid's y dimension");
        return (int)bh;
    }

    /// <summary>t itself when its last dim is unit-stride, else a dense copy.</summary>
    private static Tensor UnitLast(Tensor t) => t.Shape[^1] <= 1 || t.Strides[^1] == 1 ? t : t.Detach().Contiguous();

    /// <summary>(pointer, batch stride, head stride, time stride) of a [B, H, T, d] operand.</summary>
    private static KernelArg[] Operand(CudaBackend be, Tensor t, string op) =>
        [be.FirstElement(t, op), t.Strides[0], t.Strides[1], t.Strides[2]];

    private static (CudaBackend, int B, int H, int Tq, int Tk, int D) Check(string op, Tensor q, Tensor k, Tensor v, bool causal)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        Float(op, q);
        var be = Backend(op, q);
        Same(op, "k", k, be, q.DType);
        Same(op, "v", v, be, q.DType);
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4 || !ShapeUtil.SameShape(k.Shape, v.Shape)
            || k.Shape[0] != q.Shape[0] || k.Shape[1] != q.Shape[1] || k.Shape[3] != q.Shape[3])
            throw new ArgumentException($"{op}: q must be [B, H, Tq, d] and k, v [B, H, Tk, d], got {ShapeUtil.Format(q.Shape)}, {ShapeUtil.Format(k.Shape)}, {ShapeUtil.Format(v.Shape)}");
        int d = q.Shape[3], tq = q.Shape[2], tk = k.Shape[2];
        if (d < 1 || d > MaxHeadDim) throw new ArgumentException($"{op}: head dim {d} is outside the kernels' 1…{MaxHeadDim} ({ShapeUtil.Format(q.Shape)})");
        if (causal && tq > tk) throw new ArgumentException($"{op}: causal attention needs Tq ≤ Tk, got Tq = {tq}, Tk = {tk}");
        if (tk == 0 && tq > 0) throw new ArgumentException($"{op}: {tq} queries but no keys");
        return (be, q.Shape[0], q.Shape[1], tq, tk, d);
    }
}
