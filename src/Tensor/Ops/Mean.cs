namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Mean over <paramref name="dims"/> (all when null): Sum / count, so it differentiates through Sum.</summary>
    public Tensor Mean(int[]? dims = null, bool keepDim = false)
    {
        CheckFloat("mean");
        var nd = ShapeUtil.NormalizeDims("mean", dims, _shape);
        long count = 1;
        foreach (var d in nd) count *= _shape[d];
        return Sum(nd, keepDim) * (1.0 / count);
    }

    /// <summary>Mean over one dim.</summary>
    public Tensor Mean(int dim, bool keepDim = false) => Mean([dim], keepDim);

    /// <summary>
    /// Variance over <paramref name="dims"/>: Σ(x − mean)² / (count − correction); correction 1 is the unbiased
    /// estimate, 0 the population variance. Composed from differentiable ops.
    /// </summary>
    public Tensor Var(int[]? dims = null, bool keepDim = false, int correction = 1)
    {
        CheckFloat("var");
        var nd = ShapeUtil.NormalizeDims("var", dims, _shape);
        long count = 1;
        foreach (var d in nd) count *= _shape[d];
        if (count - correction <= 0)
            throw new ArgumentException($"var: {count} elements per group of shape {ShapeUtil.Format(_shape)} are too few for correction {correction}");
        var centered = this - Mean(nd, keepDim: true);
        return (centered * centered).Sum(nd, keepDim) * (1.0 / (count - correction));
    }

    /// <summary>Variance over one dim.</summary>
    public Tensor Var(int dim, bool keepDim = false, int correction = 1) => Var([dim], keepDim, correction);
}
