using TttDocs;

namespace Ttt.Packaging.Tests;

/// <summary>Runs the code shown in the docs and checks that it does what the surrounding text says.</summary>
[Collection(nameof(ConsoleOutput))]   // the snippets print; keep them off other tests' console
public sealed class SnippetBehaviourTests
{
    [Fact]
    public void Views_share_storage_and_read_it_in_another_order()
    {
        var (t, column, m) = ReadingPathSnippets.Views();
        Assert.Equal(new long[] { 1, 3 }, t.Strides.ToArray());
        Assert.Same(m.Storage, column.Storage);
        Assert.Equal(new[] { 4.0, 5.0, 6.0 }, column.Contiguous().ToDoubleArray());
    }

    [Fact]
    public void The_custom_op_has_the_closed_form_gradient()
    {
        var (x, y) = ReadingPathSnippets.CustomOp();
        var xs = x.Detach().ToDoubleArray();
        Assert.Equal(xs.Select(v => v * v * v), y.Detach().ToDoubleArray());
        Assert.Equal(xs.Select(v => 3 * v * v), x.Grad!.ToDoubleArray());
    }

    [Fact]
    public void The_second_derivative_has_the_closed_form()
    {
        var (x, first, second) = ReadingPathSnippets.GradientOfGradient();
        var xs = x.Detach().ToDoubleArray();
        var expectedFirst = xs.Select(v => Math.Tanh(v) + v * (1 - Math.Tanh(v) * Math.Tanh(v))).ToArray();
        var expectedSecond = xs.Select(v => 2 * (1 - Math.Tanh(v) * Math.Tanh(v)) * (1 - v * Math.Tanh(v))).ToArray();
        Assert.Equal(expectedFirst, first.Detach().ToDoubleArray(), (a, b) => Math.Abs(a - b) < 1e-12);
        Assert.Equal(expectedSecond, second.ToDoubleArray(), (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Fact]
    public void The_ttt_layer_snippet_keeps_the_shape_and_reaches_every_parameter()
    {
        var (layer, y) = ReadingPathSnippets.TttLayer();
        Assert.Equal(new[] { 2, 40, 64 }, y.ShapeArray());
        foreach (var (name, p) in layer.NamedParameters())
        {
            Assert.True(p.Grad is not null, $"{name} received no gradient");
            Assert.All(p.Grad.ToDoubleArray(), v => Assert.True(double.IsFinite(v), $"{name}: non-finite gradient"));
        }
        // W1 is reached only through the inner gradient steps and the outputs they produce.
        Assert.Contains(layer.NamedParameters(), p => p.Name == "W1" && p.Tensor.Grad!.ToDoubleArray().Any(v => v != 0));
    }

    [Fact]
    public void The_cuda_snippet_runs_with_or_without_a_gpu()
    {
        Assert.Equal(Ttt.Cuda.Cuda.IsAvailable, ReadingPathSnippets.CudaMatmul());
    }

    [Fact]
    public void The_testing_quickstart_passes() => ReadingPathSnippets.TestingQuickstart();

    [Fact]
    public void The_inner_step_gradient_needs_the_gradient_of_the_gradient()
    {
        var (first, second, truncated) = InnerLoopSnippets.Checks();
        Assert.True(first.Passed, first.ToString());
        Assert.True(second.Passed, second.ToString());
        Assert.False(truncated.Passed, truncated.ToString());
    }
}

/// <summary>Tests that print to the console run one at a time.</summary>
[CollectionDefinition(nameof(ConsoleOutput), DisableParallelization = true)]
public sealed class ConsoleOutput;
