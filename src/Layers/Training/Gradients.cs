namespace Ttt.Training;

/// <summary>Whole-model gradient utilities: global norm, clipping, finiteness.</summary>
public static class Gradients
{
    /// <summary>√Σ‖g‖² over every parameter gradient (NaN or ∞ when any element is).</summary>
    public static double GlobalNorm(IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double sum = 0;
        using var _ = GradMode.Disable();
        foreach (var p in parameters)
            if (p.Grad is { } g) sum += SumOfSquares(g);
        return Math.Sqrt(sum);
    }

    /// <summary>Σ g² accumulated in float64: a streaming kernel for CPU float tensors, float64 tensor ops elsewhere.</summary>
    private static double SumOfSquares(Tensor g)
    {
        if (g.Device.Type == DeviceType.Cpu && g.IsContiguous && g.DType is DType.Float32 or DType.Float64)
            return g.DType == DType.Float32 ? OptimizerKernels.SumOfSquares<float>(g) : OptimizerKernels.SumOfSquares<double>(g);
        var wide = g.To(DType.Float64);
        return (wide * wide).Sum().Item();
    }

    /// <summary>Scales every gradient by min(1, maxNorm/norm) (optax clip_by_global_norm); returns the norm before.</summary>
    public static double ClipGlobalNorm(IReadOnlyList<Tensor> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double norm = GlobalNorm(parameters);
        if (double.IsFinite(norm) && norm > maxNorm)
        {
            double scale = maxNorm / norm;
            using var _ = GradMode.Disable();
            foreach (var p in parameters) p.Grad?.AffineInPlace(scale);
        }
        return norm;
    }

    /// <summary>Multiplies every gradient by <paramref name="factor"/> (1/count averages accumulated gradients).</summary>
    public static void Scale(IEnumerable<Tensor> parameters, double factor)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        using var _ = GradMode.Disable();
        foreach (var p in parameters) p.Grad?.AffineInPlace(factor);
    }
}
