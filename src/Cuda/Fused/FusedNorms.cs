using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// Fused LayerNorm and RMSNorm over the last dim (ptx/layernorm.cu). x: [..., D] (rows = numel / D);
/// weight, bias: [D] or null; the forward returns the per-row statistics the backward needs.
/// The same math composed from primitives is <see cref="Tensor.LayerNorm"/> / <see cref="Tensor.RmsNorm"/>.
/// </summary>
internal static class FusedNorms
{
    /// <summary>LayerNorm forward: y = (x − μ)·rstd·w + b, rstd = 1/√(σ² + eps) (biased variance).</summary>
    /// <returns>y with x's shape; mean and rstd of shape [rows].</returns>
    public static (Tensor Y, Tensor Mean, Tensor Rstd) LayerNormForward(Tensor x, Tensor? weight, Tensor? bias, double eps = 1e-5)
    {
        const string Op = "fused_layer_norm";
        var (be, xd, rows, dim) = Rows(Op, x);
        CheckParam(Op, be, x, weight, "weight", dim);
        CheckParam(Op, be, x, bias, "bias", dim);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        var mean = Tensor.Empty([(int)rows], x.DType, x.Device);
        var rstd = Tensor.Empty([(int)rows], x.DType, x.Device);
        if (rows > 0 && dim > 0)
        {
            var w = weight is null ? null : Dense(weight);
            var b = bias is null ? null : Dense(bias);
            Launch(be, KernelCatalog.LayerNormForward[x.DType], RowGrid(be, rows), 1, CudaBackend.RowBlockFor(dim),
                be.FirstElement(xd, Op), be.FirstOrNull(w, Op), be.FirstOrNull(b, Op), be.FirstElement(y, Op),
                be.FirstElement(mean, Op), be.FirstElement(rstd, Op), rows, dim, eps);
        }
        return (y, mean, rstd);
    }

    /// <summary>
    /// LayerNorm backward: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w, x̂ = (x − μ)·rstd;
    /// dweight = Σ_rows dy·x̂ and dbias = Σ_rows dy (null when <paramref name="weight"/> / <paramref name="withBias"/> say there is none).
    /// </summary>
    public static (Tensor Dx, Tensor? DWeight, Tensor? DBias) LayerNormBackward(Tensor dy, Tensor x, Tensor? weight, Tensor mean, Tensor rstd, bool withBias)
    {
        const string Op = "fused_layer_norm_backward";
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(rstd);
        var (be, xd, rows, dim) = Rows(Op, x);
        CheckLike(Op, be, x, dy, "dy");
        CheckParam(Op, be, x, weight, "weight", dim);
        Same(Op, "mean", mean, be, x.DType);
        Same(Op, "rstd", rstd, be, x.DType);
        Vector(Op, "mean", mean, rows);
        Vector(Op, "rstd", rstd, rows);
        var dyd = Dense(dy);
        var w = weight is null ? null : Dense(weight);
        var md = Dense(mean);
        var rd = Dense(rstd);
        var dx = Tensor.Empty(x.Shape, x.DType, x.Device);
        var dw = weight is null ? null : Tensor.Zeros([(int)dim], x.DType, x.Device);
        var db = withBias ? Tensor.Zeros([(int)dim], x.DType, x.Device) : null;
        if (rows > 0 && dim > 0)
        {
            Launch(be, KernelCatalog.LayerNormBackward[x.DType], RowGrid(be, rows), 1, CudaBackend.RowBlockFor(dim),
                be.FirstElement(dyd, Op), be.FirstElement(xd, Op), be.FirstOrNull(w, Op), be.FirstElement(md, Op),
                be.FirstElement(rd, Op), be.FirstElement(dx, Op), rows, dim);
            if (dw is not null || db is not null)
            {
                var (gx, gy, chunk) = ColumnGrid(be, dim, rows);
                Launch(be, KernelCatalog.LayerNormBackwardParams[x.DType], gx, gy, CudaBackend.StandardBlock,
                    be.FirstElement(dyd, Op), be.FirstElement(xd, Op), be.FirstElement(md, Op), be.FirstElement(rd, Op),
                    be.FirstOrNull(dw, Op), be.FirstOrNull(db, Op), rows, dim, chunk);
            }
        }
        return (dx, dw, db);
    }

    /// <summary>RMSNorm forward: y = x·rstd·w, rstd = 1/√(mean(x²) + eps).</summary>
    /// <returns>y with x's shape and rstd of shape [rows].</returns>
    public static (Tensor Y, Tensor Rstd) RmsNormForward(Tensor x, Tensor? weight, double eps = 1e-6)
    {
        const string Op = "fused_rms_norm";
        var (be, xd, rows, dim) = Rows(Op, x);
        CheckParam(Op, be, x, weight, "weight", dim);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        var rstd = Tensor.Empty([(int)rows], x.DType, x.Device);
        if (rows > 0 && dim > 0)
        {
            var w = weight is null ? null : Dense(weight);
            Launch(be, KernelCatalog.RmsNormForward[x.DType], RowGrid(be, rows), 1, CudaBackend.RowBlockFor(dim),
                be.FirstElement(xd, Op), be.FirstOrNull(w, Op), be.FirstElement(y, Op), be.FirstElement(rstd, Op), rows, dim, eps);
        }
        return (y, rstd);
    }

    /// <summary>RMSNorm backward: dx = rstd·(g − x·rstd²·mean(g·x)) with g = dy·w; dweight = Σ_rows dy·x·rstd.</summary>
    public static (Tensor Dx, Tensor? DWeight) RmsNormBackward(Tensor dy, Tensor x, Tensor? weight, Tensor rstd)
    {
        const string Op = "fused_rms_norm_backward";
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(rstd);
        var (be, xd, rows, dim) = Rows(Op, x);
        CheckLike(Op, be, x, dy, "dy");
        CheckParam(Op, be, x, weight, "weight", dim);
        Same(Op, "rstd", rstd, be, x.DType);
        Vector(Op, "rstd", rstd, rows);
        var dyd = Dense(dy);
        var w = weight is null ? null : Dense(weight);
        var rd = Dense(rstd);
        var dx = Tensor.Empty(x.Shape, x.DType, x.Device);
        var dw = weight is null ? null : Tensor.Zeros([(int)dim], x.DType, x.Device);
        if (rows > 0 && dim > 0)
        {
            Launch(be, KernelCatalog.RmsNormBackward[x.DType], RowGrid(be, rows), 1, CudaBackend.RowBlockFor(dim),
                be.FirstElement(dyd, Op), be.FirstElement(xd, Op), be.FirstOrNull(w, Op), be.FirstElement(rd, Op),
                be.FirstElement(dx, Op), rows, dim);
            if (dw is not null)
            {
                var (gx, gy, chunk) = ColumnGrid(be, dim, rows);
                Launch(be, KernelCatalog.RmsNormBackwardParams[x.DType], gx, gy, CudaBackend.StandardBlock,
                    be.FirstElement(dyd, Op), be.FirstElement(xd, Op), be.FirstElement(rd, Op), be.FirstElement(dw, Op), rows, dim, chunk);
            }
        }
        return (dx, dw);
    }

    private static (CudaBackend Backend, Tensor Dense, long Rows, long Dim) Rows(string op, Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        Float(op, x);
        if (x.Rank == 0) throw new ArgumentException($"{op}: input needs at least one dim");
        var be = Backend(op, x);
        long dim = x.Shape[^1];
        long rows = dim == 0 ? 0 : x.Numel / dim;
        if (rows > int.MaxValue) throw new ArgumentException($"{op}: {rows} rows exceed the supported {int.MaxValue}");
        return (be, Dense(x), rows, dim);
    }

    private static void CheckParam(string op, CudaBackend be, Tensor x, Tensor? p, string name, long dim)
    {
        if (p is null) return;
        Same(op, name, p, be, x.DType);
        Vector(op, name, p, dim);
    }

    private static void CheckLike(string op, CudaBackend be, Tensor x, Tensor t, string name)
    {
        Same(op, name, t, be, x.DType);
        if (!ShapeUtil.SameShape(t.Shape, x.Shape))
            throw new ArgumentException($"{op}: {name} has shape {ShapeUtil.Format(t.Shape)}, expected {ShapeUtil.Format(x.Shape)}");
    }
}
