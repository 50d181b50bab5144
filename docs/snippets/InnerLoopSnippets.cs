// The code shown in docs/inner-loop-gradients.md, compiled and run by tests/Packaging.Tests.
using Ttt;

namespace TttDocs;

/// <summary>One TTT-Linear inner step with its inner gradient from autograd, and the checks of the outer gradient.</summary>
public static class InnerLoopSnippets
{
    #region snippet: inner-step
    /// <summary>
    /// One TTT-Linear inner step on a mini-batch x [k, d] (one head; LayerNorm without affine parameters).
    /// θK, θV, θQ [d, d] are the outer projections, w0 [d, d] the hidden state before the step.
    /// Returns z = f(q; W1) [k, d] with W1 = W0 − η ∇ℓ(W0).
    /// </summary>
    public static Tensor InnerStep(Tensor x, Tensor thetaK, Tensor thetaV, Tensor thetaQ, Tensor w0, double eta,
        bool secondOrder = true)
    {
        var k = Tensor.Matmul(x, thetaK);                      // training view
        var v = Tensor.Matmul(x, thetaV);                      // label view
        var q = Tensor.Matmul(x, thetaQ);                      // test view

        bool outer = GradMode.IsEnabled;                       // is the outer computation being recorded?
        Tensor grad;
        using (GradMode.Enable())                              // the inner gradient is needed at inference too
        {
            var w = outer ? w0 : w0.Detach().RequireGrad();
            var innerLoss = (Tensor.Matmul(k, w).LayerNorm(null, null, 1e-6) - (v - k)).Square().Sum() * 0.5;
            // createGraph: ∇ℓ is recorded as a function of θK, θV and W0, so the outer backward goes through it.
            grad = Autograd.Grad(innerLoss, w, createGraph: outer && secondOrder);
        }
        var w1 = w0 - grad * eta;                              // W1 = W0 − η ∇ℓ(W0)
        return q + Tensor.Matmul(q, w1).LayerNorm(null, null, 1e-6);
    }
    #endregion

    /// <summary>The three checks of the doc: full outer gradient, its gradient, and the truncated gradient.</summary>
    public static (GradCheckResult First, GradCheckResult Second, GradCheckResult Truncated) Checks()
    {
        #region snippet: inner-step-check
        var gen = new Generator(seed: 0);
        Tensor Random(int rows, int cols) => Tensor.RandN([rows, cols], gen, DType.Float64, std: 0.5);
        Tensor[] inputs = [Random(4, 3), Random(3, 3), Random(3, 3), Random(3, 3), Random(3, 3)];  // x, θK, θV, θQ, W0

        // Outer gradients (of every input, through ∇ℓ) against central finite differences: passes.
        var first = GradCheck.First(t => InnerStep(t[0], t[1], t[2], t[3], t[4], eta: 0.5), inputs);
        // Their own gradient (double backward through the inner gradient): passes too.
        var second = GradCheck.Second(t => InnerStep(t[0], t[1], t[2], t[3], t[4], eta: 0.5), inputs);
        // Treat ∇ℓ as a constant (no createGraph) and the outer gradient is wrong: fails.
        var truncated = GradCheck.First(t => InnerStep(t[0], t[1], t[2], t[3], t[4], eta: 0.5, secondOrder: false), inputs);
        Console.WriteLine($"first: {first}\nsecond: {second}\ntruncated: {truncated}");
        #endregion
        return (first, second, truncated);
    }
}
