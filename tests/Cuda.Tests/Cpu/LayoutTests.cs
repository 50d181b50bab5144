using System.Runtime.InteropServices;
using Ttt.Cuda.Kernels;

namespace Ttt.Cuda.Tests.Cpu;

/// <summary>Host-side launch logic: dim merging, the kernel structs, argument checks, cuBLAS layouts.</summary>
public sealed class LayoutTests
{
    [Fact]
    public void Kernel_structs_have_the_C_layout()
    {
        Assert.Equal(80, Marshal.SizeOf<Shape8>());
        Assert.Equal(72, Marshal.SizeOf<Strides8>());
        Assert.Equal(80, KernelSpec.SizeOf(KernelParamKind.Shape));
        Assert.Equal(72, KernelSpec.SizeOf(KernelParamKind.Strides));
    }

    [Fact]
    public void A_contiguous_tensor_merges_to_one_dense_dim()
    {
        var (s, st) = LaunchLayout.Build([2, 3, 4], ([12, 4, 1], 5));
        Assert.Equal(1, s.Rank);
        Assert.Equal(24, s.Numel);
        Assert.Equal(24, s.Size[0]);
        Assert.Equal(5, st[0].Offset);
        Assert.True(LaunchLayout.IsDense(s, st[0]));
    }

    [Fact]
    public void A_row_broadcast_keeps_two_dims()
    {
        // a [2, 3, 4] contiguous + b [4] broadcast: rows of 4 with b's stride 0 on the merged outer dim.
        var (s, st) = LaunchLayout.Build([2, 3, 4], ([12, 4, 1], 0), ([0, 0, 1], 0));
        Assert.Equal(2, s.Rank);
        Assert.Equal(6, s.Size[0]);
        Assert.Equal(4, s.Size[1]);
        Assert.Equal(4, st[0].Stride[0]);
        Assert.Equal(0, st[1].Stride[0]);
        Assert.Equal(1, st[1].Stride[1]);
    }

    [Fact]
    public void Size_one_dims_are_dropped_and_a_transpose_does_not_merge()
    {
        var (s, st) = LaunchLayout.Build([3, 1, 4], ([1, 99, 3], 0));
        Assert.Equal(2, s.Rank);
        Assert.Equal(3, s.Size[0]);
        Assert.Equal(4, s.Size[1]);
        Assert.Equal(1, st[0].Stride[0]);
        Assert.Equal(3, st[0].Stride[1]);
        Assert.False(LaunchLayout.IsDense(s, st[0]));
    }

    [Fact]
    public void A_scalar_has_rank_zero_and_one_element()
    {
        var (s, _) = LaunchLayout.Build([], ([], 7));
        Assert.Equal(0, s.Rank);
        Assert.Equal(1, s.Numel);
    }

    [Fact]
    public void More_than_eight_unmergeable_dims_are_rejected()
    {
        int[] shape = [2, 2, 2, 2, 2, 2, 2, 2, 2];
        long[] strides = [1, 2, 4, 8, 16, 32, 64, 128, 256]; // fully reversed: nothing merges
        Assert.Throws<NotSupportedException>(() => LaunchLayout.Build(shape, (strides, 0)));
    }

    [Fact]
    public void Launch_arguments_are_checked_against_the_spec()
    {
        var spec = KernelCatalog.Unary[DType.Float32];
        var (s, st) = LaunchLayout.Build([4], ([1], 0), ([1], 0));
        KernelArg[] good = [new DevicePtr(1), new DevicePtr(2), s, st[0], st[1], 3, 1.0, 2.0];
        KernelArg.Validate(spec, good);
        KernelArg[] wrongKind = [new DevicePtr(1), new DevicePtr(2), s, st[0], st[1], 3L, 1.0, 2.0];
        Assert.Contains("parameter 5", Assert.Throws<ArgumentException>(() => KernelArg.Validate(spec, wrongKind)).Message, StringComparison.Ordinal);
        KernelArg[] tooFew = [new DevicePtr(1)];
        Assert.Contains("takes 8 parameters", Assert.Throws<ArgumentException>(() => KernelArg.Validate(spec, tooFew)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kernels_exist_only_for_their_dtypes()
    {
        Assert.Equal("softmax_f64", KernelCatalog.Softmax[DType.Float64].Name);
        Assert.Throws<NotSupportedException>(() => KernelCatalog.Softmax[DType.Int64]);
        Assert.Equal("copy_i64_f32", KernelCatalog.Copy(DType.Int64, DType.Float32).Name);
        Assert.Equal(KernelCatalog.All.Count, KernelCatalog.All.Select(k => k.Name).Distinct().Count());
    }

    [Theory]
    [InlineData(4, 1, 3, 4, false, 4)]      // row-major [3, 4]
    [InlineData(8, 1, 3, 4, false, 8)]      // row-major with gaps (a narrowed view)
    [InlineData(1, 3, 3, 4, true, 3)]       // transposed view: column-major, ld = 3
    [InlineData(1, 5, 3, 4, true, 5)]       // transposed view of a wider matrix
    [InlineData(99, 1, 1, 4, false, 4)]     // one row: any row stride
    [InlineData(7, 99, 3, 1, false, 7)]     // one column: any column stride
    public void Blas_layouts_are_recognised(long rs, long cs, int rows, int cols, bool transposed, int ld)
    {
        Assert.True(CudaBackend.BlasLayout(rs, cs, rows, cols, out bool t, out int l));
        Assert.Equal(transposed, t);
        Assert.Equal(ld, l);
    }

    [Theory]
    [InlineData(0, 1, 3, 4)]    // broadcast rows
    [InlineData(2, 2, 3, 4)]    // gaps in both directions
    [InlineData(-4, 1, 3, 4)]   // negative stride
    [InlineData(1, 2, 3, 4)]    // column-major with ld < rows
    public void Other_layouts_need_a_copy(long rs, long cs, int rows, int cols) =>
        Assert.False(CudaBackend.BlasLayout(rs, cs, rows, cols, out _, out _));
}
