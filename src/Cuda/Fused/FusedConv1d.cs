using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// Fused causal depthwise conv1d over time (ptx/conv1d.cu): x [B, T, C], weight [C, 1, W], bias [C] or null;
/// y[b, t, c] = bias[c] + Σₖ w[c, 0, k]·x[b, t − (W−1) + k, c]. The composite op is <see cref="Tensor.CausalConv1d"/>.
/// </summary>
internal static class FusedConv1d
{
    /// <summary>The forward: y [B, T, C].</summary>
    public static Tensor Forward(Tensor x, Tensor weight, Tensor? bias)
    {
        const string Op = "fused_causal_conv1d";
        var (be, xd, wd, batch, time, channels, width) = Check(Op, x, weight, bias);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        long n = x.Numel;
        if (n == 0) return y;
        Launch(be, KernelCatalog.Conv1dForward[x.DType], be.ElementwiseGrid(n), 1, CudaBackend.StandardBlock,
            be.FirstElement(xd, Op), be.FirstElement(wd, Op), be.FirstOrNull(bias is null ? null : Dense(bias), Op),
            be.FirstElement(y, Op), batch, time, channels, width);
        return y;
    }

    /// <summary>
    /// The backward: dx [B, T, C], dweight [C, 1, W] and dbias [C] (null unless <paramref name="withBias"/>).
    /// </summary>
    public static (Tensor Dx, Tensor DWeight, Tensor? DBias) Backward(Tensor dy, Tensor x, Tensor weight, bool withBias)
    {
        const string Op = "fused_causal_conv1d_backward";
        ArgumentNullException.ThrowIfNull(dy);
        var (be, xd, wd, batch, time, channels, width) = Check(Op, x, weight, null);
        Same(Op, "dy", dy, be, x.DType);
        if (!ShapeUtil.SameShape(dy.Shape, x.Shape))
            throw new ArgumentException($"{Op}: dy has shape {ShapeUtil.Format(dy.Shape)}, expected {ShapeUtil.Format(x.Shape)}");
        var dyd = Dense(dy);
        var dx = Tensor.Empty(x.Shape, x.DType, x.Device);
        var dw = Tensor.Zeros(weight.ShapeArray(), x.DType, x.Device);
        var db = withBias ? Tensor.Zeros([(int)channels], x.DType, x.Device) : null;
        long n = x.Numel;
        if (n == 0) return (dx, dw, db);
        Launch(be, KernelCatalog.Conv1dBackwardInput[x.DType], be.ElementwiseGrid(n), 1, CudaBackend.StandardBlock,
            be.FirstElement(dyd, Op), be.FirstElement(wd, Op), be.FirstElement(dx, Op), batch, time, channels, width);
        var (gx, gy, chunk) = ColumnGrid(be, channels, batch * time);
        Launch(be, KernelCatalog.Conv1dBackwardWeight[x.DType], gx, gy, CudaBackend.StandardBlock,
            be.FirstElement(dyd, Op), be.FirstElement(xd, Op), be.FirstElement(dw, Op), be.FirstOrNull(db, Op),
            batch, time, channels, width, chunk);
        return (dx, dw, db);
    }

    private static (CudaBackend, Tensor, Tensor, long, long, long, long) Check(string op, Tensor x, Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        Float(op, x);
        var be = Backend(op, x);
        if (x.Rank != 3) throw new ArgumentException($"{op}: input must be [B, T, C], got {ShapeUtil.Format(x.Shape)}");
        long c = x.Shape[2];
        Same(op, "weight", weight, be, x.DType);
        if (weight.Rank != 3 || weight.Shape[0] != c || weight.Shape[1] != 1)
            throw new ArgumentException($"{op}: weight must be [C, 1, W] with C = {c}, got {ShapeUtil.Format(weight.Shape)} for input {ShapeUtil.Format(x.Shape)}");
        if (bias is not null)
        {
            Same(op, "bias", bias, be, x.DType);
            Vector(op, "bias", bias, c);
        }
        return (be, Dense(x), Dense(weight), x.Shape[0], x.Shape[1], c, weight.Shape[2]);
    }
}
