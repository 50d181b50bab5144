using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// One fused AdamW step in place (ptx/adamw.cu) on a parameter, its gradient and its two moment buffers, all
/// dense, of one shape and dtype, on one CUDA device.
/// </summary>
internal static class FusedAdamW
{
    /// <summary>
    /// For step <paramref name="step"/> (1-based): p ← p − lr·λ·p; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    /// p ← p − lr·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε). Updates <paramref name="param"/>, <paramref name="m"/> and
    /// <paramref name="v"/> in place (outside autograd).
    /// </summary>
    public static void Step(Tensor param, Tensor grad, Tensor m, Tensor v, long step, double lr, double beta1 = 0.9,
        double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
    {
        const string Op = "fused_adamw";
        ArgumentNullException.ThrowIfNull(param);
        ArgumentNullException.ThrowIfNull(grad);
        ArgumentNullException.ThrowIfNull(m);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        Float(Op, param);
        var be = Backend(Op, param);
        foreach (var (t, name) in new[] { (param, "param"), (grad, "grad"), (m, "m"), (v, "v") })
        {
            Same(Op, name, t, be, param.DType);
            if (!ShapeUtil.SameShape(t.Shape, param.Shape))
                throw new ArgumentException($"{Op}: {name} has shape {ShapeUtil.Format(t.Shape)}, expected {ShapeUtil.Format(param.Shape)}");
            if (!t.IsContiguous && name != "grad")
                throw new ArgumentException($"{Op}: {name} must be contiguous (it is updated in place)");
        }
        long n = param.Numel;
        if (n == 0) return;
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        Launch(be, KernelCatalog.AdamW[param.DType], be.ElementwiseGrid(n), 1, CudaBackend.StandardBlock,
            be.FirstElement(param, Op), be.FirstElement(Dense(grad), Op), be.FirstElement(m, Op), be.FirstElement(v, Op),
            n, lr, beta1, beta2, eps, weightDecay, bc1, bc2);
        param.Storage.BumpVersion();
        m.Storage.BumpVersion();
        v.Storage.BumpVersion();
    }
}
