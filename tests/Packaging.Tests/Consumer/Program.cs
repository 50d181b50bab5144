// A fresh program that uses the packed Ttt.Layers package: a TTT layer forward and backward in float64, with the
// gradient of the input checked against central finite differences.
using System.Globalization;
using Ttt;
using Ttt.Models;

foreach (var kind in new[] { "linear", "mlp" })
{
    var gen = new Generator(seed: 3);
    var config = new TTTConfig { HiddenSize = 16, NumAttentionHeads = 2, MiniBatchSize = 4, TttLayerType = kind };
    var layer = new TTTLayer(config, gen, dtype: DType.Float64);
    int[] shape = [2, 6, 16];                                    // [B, T, D]: one full mini-batch and a remainder
    var data = Tensor.RandN(shape, gen, DType.Float64).ToDoubleArray();
    var weights = Tensor.RandN(shape, gen, DType.Float64);      // objective L = Σ y ⊙ weights

    double Objective(double[] values) => (layer.Forward(Tensor.FromArray(values, shape)) * weights).Sum().Item();

    var x = Tensor.FromArray(data, shape).RequireGrad();
    var y = layer.Forward(x);
    (y * weights).Sum().Backward();
    var grad = x.Grad!.ToDoubleArray();
    bool finite = grad.All(double.IsFinite) && layer.Parameters().All(p => p.Grad is null || p.Grad.ToDoubleArray().All(double.IsFinite));

    double maxRelError = 0;
    using (Autograd.NoGrad())
        for (int i = 0; i < data.Length; i += 17)
        {
            const double h = 1e-5;
            var plus = (double[])data.Clone(); plus[i] += h;
            var minus = (double[])data.Clone(); minus[i] -= h;
            double numeric = (Objective(plus) - Objective(minus)) / (2 * h);
            maxRelError = Math.Max(maxRelError, Math.Abs(numeric - grad[i]) / Math.Max(1e-3, Math.Abs(numeric)));
        }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{kind}: output [{string.Join(", ", y.ShapeArray())}] gradient finite {finite} finite-difference max relative error {maxRelError:E2}"));
}
