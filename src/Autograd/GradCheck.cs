using System.Globalization;

namespace Ttt;

/// <summary>Outcome of a gradient check: the largest errors and where the worst one occurred.</summary>
/// <param name="Passed">True when every element satisfied |analytic − numeric| ≤ atol + rtol·|numeric|.</param>
/// <param name="MaxAbsError">Largest absolute difference.</param>
/// <param name="MaxRelError">Largest |analytic − numeric| / max(|numeric|, atol).</param>
/// <param name="WorstInput">Index of the input holding the worst element.</param>
/// <param name="WorstIndex">Row-major index of the worst element inside that input.</param>
/// <param name="Analytic">Autograd's value at the worst element.</param>
/// <param name="Numeric">The finite-difference value at the worst element.</param>
/// <param name="Checked">Number of elements compared.</param>
public sealed record GradCheckResult(bool Passed, double MaxAbsError, double MaxRelError, int WorstInput, long WorstIndex,
    double Analytic, double Numeric, long Checked)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{(Passed ? "passed" : "FAILED")}: max abs error {MaxAbsError:G3}, max rel error {MaxRelError:G3} over {Checked} elements; worst: input {WorstInput} element {WorstIndex} (autograd {Analytic:G10}, finite differences {Numeric:G10})");
}

/// <summary>
/// Gradient checks for property tests of differentiable functions. First order: autograd's gradient of
/// φ(x) = Σ f(x) ⊙ r, for a random upstream r, against float64 central differences of φ. Second order: autograd's
/// gradient of ψ(x) = Σᵢ ∇ᵢφ(x) ⊙ vᵢ (double backward, through <c>createGraph</c>) against central differences of
/// ψ computed from first-order gradients. Inputs must be float64 tensors (they may be non-contiguous views).
/// </summary>
public static class GradCheck
{
    /// <summary>Checks first-order gradients of <paramref name="f"/> at <paramref name="inputs"/>.</summary>
    public static GradCheckResult First(Func<Tensor[], Tensor> f, Tensor[] inputs, ulong seed = 0,
        double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4)
    {
        ArgumentNullException.ThrowIfNull(f);
        Validate(inputs);
        var leaves = inputs.Select(t => t.Detach().RequireGrad()).ToArray();
        var gen = new Generator(seed);
        Tensor r;
        using (GradMode.Disable())
        {
            var probe = f(inputs.Select(t => t.Detach()).ToArray());
            r = Tensor.RandN(probe.ShapeArray(), gen, DType.Float64, device: probe.Device);
        }
        Func<Tensor[], Tensor> phi = xs => (f(xs) * r).Sum();
        var analytic = Autograd.Grad([phi(leaves)], leaves);
        return Compare(analytic, leaves, xs => { using (GradMode.Disable()) return phi(xs).Item(); }, eps, atol, rtol);
    }

    /// <summary>Checks second-order gradients (gradient of a random projection of the gradient).</summary>
    public static GradCheckResult Second(Func<Tensor[], Tensor> f, Tensor[] inputs, ulong seed = 0,
        double eps = 1e-5, double atol = 1e-5, double rtol = 1e-3)
    {
        ArgumentNullException.ThrowIfNull(f);
        Validate(inputs);
        var gen = new Generator(seed);
        Tensor r;
        using (GradMode.Disable())
        {
            var probe = f(inputs.Select(t => t.Detach()).ToArray());
            r = Tensor.RandN(probe.ShapeArray(), gen, DType.Float64, device: probe.Device);
        }
        var v = inputs.Select(t => Tensor.RandN(t.ShapeArray(), gen, DType.Float64, device: t.Device)).ToArray();
        // ψ(x) = Σᵢ ⟨∂φ/∂xᵢ, vᵢ⟩ with φ = ⟨f(x), r⟩
        Tensor Psi(Tensor[] xs, bool createGraph)
        {
            var phi = (f(xs) * r).Sum();
            var g = Autograd.Grad([phi], xs, createGraph: createGraph);
            Tensor? acc = null;
            for (int i = 0; i < g.Length; i++)
            {
                var term = (g[i] * v[i]).Sum();
                acc = acc is null ? term : acc + term;
            }
            return acc!;
        }
        var leaves = inputs.Select(t => t.Detach().RequireGrad()).ToArray();
        var psi = Psi(leaves, createGraph: true);
        Tensor[] analytic = psi.RequiresGrad
            ? Autograd.Grad([psi], leaves)
            : leaves.Select(Tensor.ZerosLike).ToArray(); // gradient is constant in x: second derivative 0
        return Compare(analytic, leaves, xs =>
        {
            var req = xs.Select(t => t.Detach().RequireGrad()).ToArray();
            return Psi(req, createGraph: false).Item();
        }, eps, atol, rtol);
    }

    private static void Validate(Tensor[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i].DType != DType.Float64)
                throw new ArgumentException($"gradcheck: input {i} is {inputs[i].DType.Name()}; finite differences need float64 inputs");
    }

    private static GradCheckResult Compare(Tensor[] analytic, Tensor[] leaves, Func<Tensor[], double> eval,
        double eps, double atol, double rtol)
    {
        double maxAbs = 0, maxRel = 0, worstA = 0, worstN = 0;
        int worstInput = -1;
        long worstIndex = -1, checkedCount = 0;
        bool passed = true;
        var baseValues = leaves.Select(t => t.ToDoubleArray()).ToArray();
        for (int i = 0; i < leaves.Length; i++)
        {
            var a = analytic[i].ToDoubleArray();
            for (long j = 0; j < baseValues[i].Length; j++)
            {
                double plus = EvalAt(i, j, +eps), minus = EvalAt(i, j, -eps);
                double numeric = (plus - minus) / (2 * eps);
                double abs = Math.Abs(a[j] - numeric);
                double rel = abs / Math.Max(Math.Abs(numeric), atol);
                checkedCount++;
                bool ok = abs <= atol + rtol * Math.Abs(numeric) && !double.IsNaN(a[j]);
                if (!ok) passed = false;
                if (abs > maxAbs || double.IsNaN(abs) || worstInput < 0)
                {
                    maxAbs = double.IsNaN(abs) ? double.PositiveInfinity : abs;
                    (worstInput, worstIndex, worstA, worstN) = (i, j, a[j], numeric);
                }
                maxRel = Math.Max(maxRel, rel);
            }
        }
        return new GradCheckResult(passed, maxAbs, maxRel, worstInput, worstIndex, worstA, worstN, checkedCount);

        double EvalAt(int input, long element, double delta)
        {
            var xs = new Tensor[leaves.Length];
            for (int k = 0; k < leaves.Length; k++)
            {
                var data = baseValues[k];
                if (k == input)
                {
                    data = (double[])data.Clone();
                    data[element] += delta;
                }
                xs[k] = Tensor.FromArray(data, leaves[k].ShapeArray(), leaves[k].Device);
            }
            return eval(xs);
        }
    }
}
