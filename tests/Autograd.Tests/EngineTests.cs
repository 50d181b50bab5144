namespace Ttt.Tests;

/// <summary>Behaviour of the autograd engine itself: accumulation, Grad(), higher order, memory, errors.</summary>
public class EngineTests
{
    private static Tensor Vec(params double[] v) => Tensor.FromArray(v);

    [Fact]
    public void Backward_accumulates_into_leaf_grads_across_calls()
    {
        var x = Vec(1, 2, 3).RequireGrad();
        (x * x).Sum().Backward();
        (x * 3).Sum().Backward();
        // d/dx Σx² = 2x, d/dx Σ3x = 3
        Assert.Equal([5.0, 7, 9], x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Leaf_grads_are_stored_contiguous()
    {
        // The weight gradient of x·Wᵀ comes out of the matmul rule as a transposed view; .Grad holds it dense.
        var x = Tensor.RandN([5, 3], new Generator(1), DType.Float64);
        var w = Tensor.RandN([4, 3], new Generator(2), DType.Float64).RequireGrad();
        var g = Tensor.RandN([5, 4], new Generator(3), DType.Float64);
        Tensor.Matmul(x, w.MT).Backward(g);
        Assert.True(w.Grad!.IsContiguous);
        // dL/dW[o, i] = Σ_n g[n, o]·x[n, i]
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 3; i++)
            {
                double expected = 0;
                for (int n = 0; n < 5; n++) expected += g[n, o] * x[n, i];
                Assert.Equal(expected, w.Grad[o, i], 12);
            }
    }

    [Fact]
    public void Grad_returns_gradients_without_touching_leaf_grads()
    {
        var x = Vec(1, 2).RequireGrad();
        var g = Autograd.Grad((x * x * x).Sum(), x);
        Assert.Equal([3.0, 12], g.ToDoubleArray());
        Assert.Null(x.Grad);
    }

    [Fact]
    public void Gradients_of_unused_inputs_are_zero()
    {
        var x = Vec(1, 2).RequireGrad();
        var unused = Vec(5, 6, 7).RequireGrad();
        var g = Autograd.Grad([(x * 2).Sum()], [x, unused]);
        Assert.Equal([2.0, 2], g[0].ToDoubleArray());
        Assert.Equal([0.0, 0, 0], g[1].ToDoubleArray());
    }

    [Fact]
    public void Gradients_of_broadcast_inputs_are_reduced_to_the_input_shape()
    {
        var a = Tensor.Ones([2, 3], DType.Float64).RequireGrad();
        var b = Vec(1, 2, 3).RequireGrad();           // broadcast over rows
        var c = Tensor.Full([2, 1], 2, DType.Float64).RequireGrad(); // broadcast over columns
        (a * b * c).Sum().Backward();
        Assert.Equal([3], b.Grad!.Shape.ToArray());
        Assert.Equal([4.0, 4, 4], b.Grad!.ToDoubleArray());   // Σ over 2 rows of a·c = 2·2
        Assert.Equal([2, 1], c.Grad!.Shape.ToArray());
        Assert.Equal([6.0, 6], c.Grad!.ToDoubleArray());      // Σ over columns of a·b = 1+2+3
    }

    [Fact]
    public void Grad_with_respect_to_an_intermediate_tensor()
    {
        var x = Vec(1, 2, 3).RequireGrad();
        var h = x * 2;
        var y = (h * h).Sum();
        var gh = Autograd.Grad(y, h);
        Assert.Equal([4.0, 8, 12], gh.ToDoubleArray()); // 2h
    }

    [Fact]
    public void Create_graph_gives_differentiable_gradients_to_third_order()
    {
        // f = x⁴: f' = 4x³, f'' = 12x², f''' = 24x
        var x = Vec(1.5).Reshape([]).RequireGrad();
        var f = x.Pow(4);
        var d1 = Autograd.Grad(f, x, createGraph: true);
        var d2 = Autograd.Grad(d1, x, createGraph: true);
        var d3 = Autograd.Grad(d2, x);
        Assert.Equal(4 * Math.Pow(1.5, 3), d1.Item(), 12);
        Assert.Equal(12 * 1.5 * 1.5, d2.Item(), 12);
        Assert.Equal(24 * 1.5, d3.Item(), 12);
    }

    [Fact]
    public void Hessian_vector_product_of_a_quadratic_form_is_the_symmetrised_matrix_times_v()
    {
        // f(x) = xᵀAx: ∇f = (A + Aᵀ)x, ∇(∇f·v) = (A + Aᵀ)v
        var gen = new Generator(7);
        var a = Tensor.RandN([4, 4], gen, DType.Float64);
        var x = Tensor.RandN([4], gen, DType.Float64).RequireGrad();
        var v = Tensor.RandN([4], gen, DType.Float64);
        var f = Tensor.Matmul(x, Tensor.Matmul(a, x));
        var grad = Autograd.Grad(f, x, createGraph: true);
        var hv = Autograd.Grad((grad * v).Sum(), x);
        var sym = a + a.MT;
        AssertClose(Tensor.Matmul(sym, x).ToDoubleArray(), grad.ToDoubleArray(), 1e-12);
        AssertClose(Tensor.Matmul(sym, v).ToDoubleArray(), hv.ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Closed_form_gradients_of_common_functions()
    {
        var x = Vec(-1.3, 0.2, 0.9).RequireGrad();
        var xs = x.ToDoubleArray();
        var gs = Autograd.Grad(x.Sigmoid().Sum(), x).ToDoubleArray();
        var gt = Autograd.Grad(x.Tanh().Sum(), x).ToDoubleArray();
        var ge = Autograd.Grad(x.Exp().Sum(), x).ToDoubleArray();
        for (int i = 0; i < 3; i++)
        {
            double s = 1 / (1 + Math.Exp(-xs[i]));
            Assert.Equal(s * (1 - s), gs[i], 14);
            Assert.Equal(1 - Math.Tanh(xs[i]) * Math.Tanh(xs[i]), gt[i], 14);
            Assert.Equal(Math.Exp(xs[i]), ge[i], 13);
        }
    }

    [Fact]
    public void Deep_chain_of_200000_ops_backpropagates_without_stack_overflow()
    {
        var x = Tensor.Scalar(1.0, DType.Float64).RequireGrad();
        var y = x;
        const int n = 200_000;
        for (int i = 0; i < n; i++) y = y * 1.0000001;
        var g = Autograd.Grad(y, x);
        Assert.Equal(Math.Pow(1.0000001, n), g.Item(), 6);
    }

    [Fact]
    public void Saved_tensors_are_released_after_backward_unless_the_graph_is_retained()
    {
        static (Tensor Loss, WeakReference Saved) Build(Tensor x)
        {
            var h = x.Exp();           // ExpBackward saves h (its output)
            var loss = (h * x).Sum();  // MulBackward saves h and x
            return (loss, new WeakReference(h));
        }
        var x = Tensor.Ones([1000], DType.Float64).RequireGrad();
        var (loss, saved) = Build(x);
        loss.Backward();
        // The graph (loss → nodes) is still reachable through `loss`, but its saved tensors were dropped.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(saved.IsAlive, "the intermediate saved for backward is still referenced after backward");
        GC.KeepAlive(loss);

        var (loss2, saved2) = Build(x);
        loss2.Backward(retainGraph: true);
        GC.Collect();
        Assert.True(saved2.IsAlive);
        loss2.Backward(); // a second pass works when retained
        GC.KeepAlive(loss2);
    }

    [Fact]
    public void A_second_backward_through_a_freed_graph_fails_clearly()
    {
        var x = Vec(1, 2).RequireGrad();
        var loss = x.Exp().Sum();
        loss.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("exp", e.Message);
        Assert.Contains("retainGraph", e.Message);
    }

    [Fact]
    public void In_place_change_of_a_saved_tensor_is_detected()
    {
        var x = Vec(1, 2, 3).RequireGrad();
        var h = x * 2;
        var y = h.Exp();           // saves its output y
        var loss = y.Sum();
        using (GradMode.Disable()) y.AddInPlace(Tensor.OnesLike(y));
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("exp", e.Message);
        Assert.Contains("in-place", e.Message);
    }

    [Fact]
    public void In_place_change_of_a_tensor_that_requires_grad_is_refused_while_recording()
    {
        var x = Vec(1, 2).RequireGrad();
        var e = Assert.Throws<InvalidOperationException>(() => x.Fill(3));
        Assert.Contains("requires grad", e.Message);
        using (GradMode.Disable()) x.Fill(3); // allowed without recording (optimizer steps)
        Assert.Equal([3.0, 3], x.ToDoubleArray());
    }

    [Fact]
    public void No_grad_scope_records_nothing_and_detach_cuts_the_graph()
    {
        var x = Vec(1, 2).RequireGrad();
        Tensor y;
        using (Autograd.NoGrad()) y = x * 2;
        Assert.False(y.RequiresGrad);
        Assert.Null(y.GradFn);
        var d = (x * 2).Detach();
        Assert.False(d.RequiresGrad);
        Assert.True(d.IsLeaf);
        Assert.True(GradMode.IsEnabled);
    }

    [Fact]
    public void Backward_of_a_non_scalar_needs_a_gradient_and_a_graph()
    {
        var x = Vec(1, 2).RequireGrad();
        var e1 = Assert.Throws<InvalidOperationException>(() => (x * 2).Backward());
        Assert.Contains("[2]", e1.Message);
        var e2 = Assert.Throws<InvalidOperationException>(() => Vec(1).Sum().Backward());
        Assert.Contains("does not require grad", e2.Message);
        (x * 2).Backward(Vec(1, 10));
        Assert.Equal([2.0, 20], x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Shared_subgraphs_receive_the_sum_of_their_gradients()
    {
        var x = Vec(2).RequireGrad();
        var h = x * x;             // used twice
        var y = (h + h * 3).Sum(); // 4x²
        Assert.Equal(16.0, Autograd.Grad(y, x).Item(), 12);
    }

    [Fact]
    public void Custom_function_with_differentiable_backward_supports_second_order()
    {
        var x = Vec(0.5, -1.2).RequireGrad();
        var y = Function.Apply("cube", [x], xs => xs[0] * xs[0] * xs[0], (g, xs) => [g * xs[0].Square() * 3]);
        var g1 = Autograd.Grad(y.Sum(), x, createGraph: true);
        var g2 = Autograd.Grad(g1.Sum(), x);
        Assert.Equal([0.75, 4.32], g1.ToDoubleArray().Select(v => Math.Round(v, 12)).ToArray());
        Assert.Equal([3.0, -7.2], g2.ToDoubleArray().Select(v => Math.Round(v, 12)).ToArray());
    }

    [Fact]
    public void Anomaly_mode_names_the_op_that_produced_a_non_finite_gradient()
    {
        var x = Vec(0, 1).RequireGrad();
        using (AnomalyMode.Enable())
        {
            var loss = x.Sqrt().Sum(); // d√x/dx = ∞ at 0
            var e = Assert.Throws<ArithmeticException>(() => loss.Backward());
            Assert.Contains("sqrt", e.Message);
        }
    }

    [Fact]
    public void Anomaly_mode_names_the_first_op_that_produced_a_non_finite_forward_value()
    {
        var x = Vec(-1, 2).RequireGrad();
        using (AnomalyMode.Enable())
        {
            var e = Assert.Throws<ArithmeticException>(() => (x * 2).Log().Exp().Sum());
            Assert.Contains("log produced a non-finite output", e.Message);
        }
        var quiet = (x * 2).Log();   // without anomaly mode NaN propagates silently
        Assert.True(double.IsNaN(quiet[0]));
    }

    [Fact]
    public void Absurd_allocations_fail_with_the_requested_size()
    {
        var e = Assert.Throws<InsufficientMemoryException>(() => Tensor.Zeros([1 << 20, 1 << 20]));
        Assert.Contains("1,099,511,627,776", e.Message);
    }

    private static void AssertClose(double[] expected, double[] actual, double tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }
}
