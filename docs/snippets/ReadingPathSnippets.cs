// The code shown in docs/reading-path.md and in the package READMEs. This file is compiled by
// tests/Packaging.Tests, which also runs each method and checks its result; the docs' ```csharp blocks must equal
// the regions below (run the update command in docs/README.md after editing them).
using FsCheck;
using Ttt;
using Ttt.Cuda;
using Ttt.Models;
using Ttt.Testing;

namespace TttDocs;

/// <summary>Snippets of the reading path, one method each.</summary>
public static class ReadingPathSnippets
{
    /// <summary>Returns the transposed view, the column view and the original matrix.</summary>
    public static (Tensor Transposed, Tensor Column, Tensor Matrix) Views()
    {
        #region snippet: tensor-views
        var m = Tensor.FromArray(new double[,] { { 1, 2, 3 }, { 4, 5, 6 } });  // [2, 3] float64, strides [3, 1]
        var t = m.Permute(1, 0);        // [3, 2], strides [1, 3]: the same storage, read in another order
        var column = t.Narrow(1, 1, 1); // [3, 1], the second row of m seen as a column: still no copy
        Console.WriteLine($"strides of t: [{string.Join(", ", t.Strides.ToArray())}], shares m's storage: {t.Storage == m.Storage}");
        Console.WriteLine(column.Contiguous());   // a fresh row-major copy: [4, 5, 6] as [3, 1]
        #endregion
        return (t, column, m);
    }

    /// <summary>Returns x and y = x³ through a user-defined op.</summary>
    public static (Tensor X, Tensor Y) CustomOp()
    {
        #region snippet: custom-op
        // y = x³ as an op of your own: a forward, and a backward written with differentiable ops (3x²·g), so the
        // op supports gradients of any order like the built-in ones.
        var x = Tensor.FromArray(new[] { 1.0, -2.0, 0.5 }).RequireGrad();
        var y = Function.Apply("cube", [x],
            forward: xs => xs[0] * xs[0] * xs[0],
            backward: (g, xs) => [g * xs[0].Square() * 3]);
        y.Sum().Backward();
        Console.WriteLine(x.Grad);   // 3x² = [3, 12, 0.75]
        #endregion
        return (x, y);
    }

    /// <summary>Returns x, dy/dx and d/dx Σ dy/dx for y = Σ x·tanh x.</summary>
    public static (Tensor X, Tensor First, Tensor Second) GradientOfGradient()
    {
        #region snippet: grad-of-grad
        var x = Tensor.FromArray(new[] { 0.5, -1.0, 2.0 }).RequireGrad();
        var y = (x.Tanh() * x).Sum();                            // y = Σ x·tanh x

        // createGraph: the backward pass is itself recorded, so its result can be differentiated again.
        var dydx = Autograd.Grad(y, x, createGraph: true);       // tanh x + x·(1 − tanh² x)
        var d2 = Autograd.Grad(dydx.Sum(), x);                   // 2(1 − tanh² x)(1 − x·tanh x)
        Console.WriteLine(d2);
        #endregion
        return (x, dydx, d2);
    }

    /// <summary>Returns the layer and its output.</summary>
    public static (TTTLayer Layer, Tensor Output) TttLayer()
    {
        #region snippet: ttt-layer
        var config = new TTTConfig { HiddenSize = 64, NumAttentionHeads = 4, MiniBatchSize = 16, TttLayerType = "linear" };
        var layer = new TTTLayer(config, new Generator(seed: 0));   // or new TTTLayer(config, gen, new MyInnerModel())
        var x = Tensor.RandN([2, 40, 64], new Generator(seed: 1));  // [B, T, D]: 2 full mini-batches + 8 tokens
        Tensor y = layer.Forward(x);                                // [2, 40, 64]
        y.Square().Mean().Backward();   // through the inner gradient steps, to W1, b1, the projections, the lr gate…
        #endregion
        return (layer, y);
    }

    /// <summary>Returns whether the CUDA path ran (false without a GPU).</summary>
    public static bool CudaMatmul()
    {
        #region snippet: cuda
        if (!Cuda.IsAvailable) return false;   // never throws, with or without a driver
        Cuda.Initialize();                      // registers the backend; its PTX loads on first use
        var a = Tensor.RandN([256, 256], new Generator(seed: 2), device: Device.Cuda());
        var product = Tensor.Matmul(a, a).To(Device.Cpu);   // cuBLAS on the GPU, then copied back
        #endregion
        return product.Device == Device.Cpu;
    }

    /// <summary>Runs the five-line property of the Ttt.Testing README.</summary>
    public static void TestingQuickstart()
    {
        #region snippet: testing-quickstart
        // Autograd's gradient of your function against central finite differences, on random tensors of rank 0
        // to 3 with random layouts; a failure prints the shape, seed and layout that reproduce it.
        Check.QuickThrowOnFailure(GradientProperties.FirstOrder(TensorGen.Case(maxRank: 3), xs => (xs[0].Tanh() * xs[0]).Sum()));
        Check.QuickThrowOnFailure(GradientProperties.SecondOrder(TensorGen.Case(maxRank: 3), xs => (xs[0].Tanh() * xs[0]).Sum()));
        #endregion
    }
}
