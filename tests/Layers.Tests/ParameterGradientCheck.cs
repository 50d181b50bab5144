namespace Ttt.Tests;

/// <summary>
/// Central finite differences of a float64 model's loss for a few random elements of every parameter, compared with
/// the autograd gradients: the one check that a whole model's backward is right, shared by the model test classes.
/// </summary>
public static class ParameterGradientCheck
{
    /// <summary>
    /// One line per sampled element whose autograd gradient (<paramref name="grads"/>, in the order of
    /// <paramref name="parameters"/>) differs from the central difference of <paramref name="loss"/> by more than
    /// 1e-7 + 1e-5·|numeric|: O(eps²) truncation of smooth functions (≈ 1e-10) plus rounding of an O(1) loss
    /// (1e-16/eps ≈ 1e-11). Every parameter is restored after its perturbations.
    /// </summary>
    public static List<string> Failures(
        IReadOnlyList<(string Name, Tensor Tensor)> parameters, IReadOnlyList<Tensor> grads, Func<double> loss,
        Generator gen, int samplesPerParameter = 2, double eps = 1e-5)
    {
        var failures = new List<string>();
        for (int pi = 0; pi < parameters.Count; pi++)
        {
            var (name, p) = parameters[pi];
            var g = grads[pi].ToDoubleArray();
            for (int rep = 0; rep < samplesPerParameter; rep++)
            {
                int idx = (int)gen.NextInt64(p.Numel);
                var data = p.ToDoubleArray();
                double Perturbed(double delta)
                {
                    var copy = (double[])data.Clone();
                    copy[idx] += delta;
                    using (GradMode.Disable()) p.CopyFrom(Tensor.FromArray(copy, p.ShapeArray()));
                    using (GradMode.Disable()) return loss();
                }
                double numeric = (Perturbed(eps) - Perturbed(-eps)) / (2 * eps);
                using (GradMode.Disable()) p.CopyFrom(Tensor.FromArray(data, p.ShapeArray()));
                if (Math.Abs(numeric - g[idx]) > 1e-7 + 1e-5 * Math.Abs(numeric))
                    failures.Add($"{name}[{idx}]: autograd {g[idx]:G10}, finite differences {numeric:G10}");
            }
        }
        return failures;
    }
}
