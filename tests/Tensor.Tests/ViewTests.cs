namespace Ttt.Tests;

/// <summary>Views share storage without copying; Contiguous copies only when needed.</summary>
public class ViewTests
{
    private static Tensor Range(params int[] shape) => Tensor.Arange(0, ShapeUtil.Numel(shape), 1, DType.Float64).Reshape(shape);

    [Fact]
    public void View_ops_share_storage()
    {
        var x = Range(2, 3, 4);
        foreach (var v in new[] { x.Reshape(6, 4), x.Permute(2, 0, 1), x.Transpose(0, 2), x.Narrow(1, 1, 2), x.Select(0, 1),
                     x.Unsqueeze(0), x.Narrow(0, 0, 1).Squeeze(0), x.Narrow(0, 0, 1).Expand(5, 3, 4), x.MT, x.Flatten(), x.Split(2, 2)[1], x.Detach() })
            Assert.Same(x.Storage, v.Storage);
    }

    [Fact]
    public void Views_read_the_right_elements()
    {
        var x = Range(2, 3, 4);
        Assert.Equal(x[1, 2, 3], x.Permute(2, 0, 1)[3, 1, 2]);
        Assert.Equal(x[1, 2, 1], x.Narrow(1, 1, 2).Narrow(2, 1, 2)[1, 1, 0]);
        Assert.Equal(x[0, 1, 2], x.Narrow(0, 0, 1).Expand(5, 3, 4)[4, 1, 2]);
        Assert.Equal(Enumerable.Range(12, 12).Select(i => (double)i), x.Select(0, 1).Flatten().ToDoubleArray());
        // reshape of a permuted tensor copies, with the logical order
        var p = x.Permute(1, 0, 2);
        Assert.False(p.IsContiguous);
        var r = p.Reshape(-1);
        Assert.NotSame(x.Storage, r.Storage);
        Assert.Equal(x[1, 0, 2], r[1 * 4 + 2]); // p[0, 1, 2]
    }

    [Fact]
    public void Reshape_of_a_strided_view_stays_a_view_when_strides_allow()
    {
        var x = Range(4, 6, 5);
        var n = x.Narrow(2, 1, 3);              // [4, 6, 3], rows with gaps
        var r = n.Reshape(2, 2, 6, 3);           // splits dim 0 only: no copy needed
        Assert.Same(x.Storage, r.Storage);
        Assert.Equal(n[3, 5, 2], r[1, 1, 5, 2]);
        var rows = x.Narrow(1, 0, 3).Reshape(4, 15); // [4, 3, 5] with strides (30, 5, 1): the last two merge
        Assert.Same(x.Storage, rows.Storage);
        var m = n.Reshape(4, 18);                     // rows of 3 with gaps of 2 cannot merge: a copy
        Assert.NotSame(x.Storage, m.Storage);
        Assert.Equal(n[2, 4, 1], m[2, 4 * 3 + 1]);
        Assert.Throws<InvalidOperationException>(() => n.View(4, 18));
    }

    [Fact]
    public void Contiguous_copies_only_when_needed()
    {
        var x = Range(3, 4);
        Assert.Same(x, x.Contiguous());
        var t = x.MT;
        var c = t.Contiguous();
        Assert.NotSame(t.Storage, c.Storage);
        Assert.True(c.IsContiguous);
        Assert.Equal(t.ToDoubleArray(), c.ToDoubleArray());
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int64)]
    public void Contiguous_of_a_transposed_view_puts_every_element_in_place(DType dtype)
    {
        // The tiled transpose copy: sizes below, at and across its 32×32 tiles, single and batched planes.
        foreach (var (batch, rows, cols) in new[] { (1, 1, 1), (1, 1, 40), (1, 33, 70), (1, 64, 32), (3, 37, 45), (2, 768, 65) })
        {
            var x = Tensor.Arange(0, batch * rows * cols, 1, dtype).Reshape(batch, rows, cols);   // x[b, i, j] = (b·rows + i)·cols + j
            var c = x.Transpose(1, 2).Contiguous();                                                  // [batch, cols, rows]
            Assert.True(c.IsContiguous);
            var values = c.ToDoubleArray();
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < cols; j++)
                    for (int i = 0; i < rows; i++)
                    {
                        double expected = ((double)b * rows + i) * cols + j;
                        double got = values[((long)b * cols + j) * rows + i];
                        if (got != expected) Assert.Fail($"[{batch}, {rows}, {cols}] {dtype}: element [{b}, {j}, {i}] is {got}, expected {expected}");
                    }
        }
    }

    [Fact]
    public void In_place_writes_through_a_view_reach_the_base_and_bump_its_version()
    {
        var x = Tensor.Zeros([3, 4], DType.Float64);
        int v0 = x.Storage.Version;
        x.Narrow(1, 1, 2).Fill(7);
        Assert.Equal(7, x[2, 2]);
        Assert.Equal(0, x[2, 3]);
        Assert.True(x.Storage.Version > v0);
        Assert.Throws<InvalidOperationException>(() => x.Narrow(0, 0, 1).Expand(3, 4).Fill(1));
    }
}
