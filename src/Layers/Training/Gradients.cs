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
            if (p.Grad is { } g) sum += (g.To(DType.Float64) * g.To(DType.Float64)).Sum().Item();
        return Math.Sqrt(sum);
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
