using Ttt.Cpu;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>The backend for a device (CPU: the current CPU implementation; CUDA: registered by Ttt.Cuda).</summary>
    public static IBackend BackendFor(Device device) => BackendRegistry.Get(device);

    /// <summary>A contiguous tensor whose elements are not initialized.</summary>
    public static Tensor Empty(ReadOnlySpan<int> shape, DType dtype = DType.Float32, Device? device = null) =>
        Allocate(shape, dtype, device, zero: false);

    private static Tensor Allocate(ReadOnlySpan<int> shape, DType dtype, Device? device, bool zero)
    {
        foreach (var s in shape)
            if (s < 0) throw new ArgumentException($"empty: negative size in shape {ShapeUtil.Format(shape)}", nameof(shape));
        var backend = BackendFor(device ?? Device.Cpu);
        var storage = backend.Allocate(dtype, ShapeUtil.Numel(shape), zero);
        return new Tensor(storage, shape.ToArray(), ShapeUtil.ContiguousStrides(shape), 0);
    }

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, Device? device = null) =>
        Allocate(shape, dtype, device, zero: true);

    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(int[] shape, DType dtype = DType.Float32, Device? device = null) => Full(shape, 1, dtype, device);

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, Device? device = null)
    {
        var t = Empty(shape, dtype, device);
        t.Backend.Fill(t, value);
        return t;
    }

    /// <summary>A 0-dimensional tensor holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device? device = null) => Full([], value, dtype, device);

    /// <summary>Zeros with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor ZerosLike(Tensor like) => Zeros(like._shape, like.DType, like.Device);

    /// <summary>Ones with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor OnesLike(Tensor like) => Ones(like._shape, like.DType, like.Device);

    /// <summary>A constant with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor FullLike(Tensor like, double value) => Full(like._shape, value, like.DType, like.Device);

    /// <summary>[start, start+step, …) up to but excluding <paramref name="end"/>.</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Int64, Device? device = null)
    {
        if (step == 0) throw new ArgumentException("arange: step must not be 0", nameof(step));
        long n = (long)Math.Max(0, Math.Ceiling((end - start) / step));
        if (dtype == DType.Int64)
        {
            var v = new long[n];
            for (long i = 0; i < n; i++) v[i] = (long)(start + i * step);
            return FromArray(v, [(int)n], device);
        }
        var d = new double[n];
        for (long i = 0; i < n; i++) d[i] = start + i * step;
        return FromArray(d, [(int)n], device).To(dtype);
    }

    /// <summary>[0, 1, …, n−1] as int64.</summary>
    public static Tensor Arange(int n, Device? device = null) => Arange(0, n, 1, DType.Int64, device);

    /// <summary>The n×m identity (m = n by default).</summary>
    public static Tensor Eye(int n, int? m = null, DType dtype = DType.Float32, Device? device = null)
    {
        int cols = m ?? n;
        var d = new double[(long)n * cols];
        for (int i = 0; i < Math.Min(n, cols); i++) d[(long)i * cols + i] = 1;
        return FromArray(d, [n, cols], device).To(dtype);
    }

    /// <summary>A float32 tensor copied from <paramref name="data"/> (shape defaults to [data.Length]).</summary>
    public static Tensor FromArray(float[] data, int[]? shape = null, Device? device = null) => FromSpan<float>(data, shape, device);

    /// <summary>A float64 tensor copied from <paramref name="data"/>.</summary>
    public static Tensor FromArray(double[] data, int[]? shape = null, Device? device = null) => FromSpan<double>(data, shape, device);

    /// <summary>An int64 tensor copied from <paramref name="data"/>.</summary>
    public static Tensor FromArray(long[] data, int[]? shape = null, Device? device = null) => FromSpan<long>(data, shape, device);

    /// <summary>A tensor copied from host elements; T is float, double or long.</summary>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> data, int[]? shape = null, Device? device = null) where T : unmanaged
    {
        shape ??= [data.Length];
        long n = ShapeUtil.Numel(shape);
        if (n != data.Length)
            throw new ArgumentException($"from_array: shape {ShapeUtil.Format(shape)} holds {n} elements but {data.Length} were given", nameof(shape));
        var t = Empty(shape, DTypes.Of<T>(), device);
        t.Backend.CopyFromHost(data, t.Storage, 0);
        return t;
    }

    /// <summary>A float64 tensor from a 2-D array.</summary>
    public static Tensor FromArray(double[,] data, Device? device = null)
    {
        int r = data.GetLength(0), c = data.GetLength(1);
        var flat = new double[r * c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) flat[i * c + j] = data[i, j];
        return FromArray(flat, [r, c], device);
    }

    /// <summary>Samples from N(mean, std²) using <paramref name="generator"/> (machine-independent).</summary>
    public static Tensor RandN(int[] shape, Generator generator, DType dtype = DType.Float32, double mean = 0, double std = 1, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var d = new double[ShapeUtil.Numel(shape)];
        for (int i = 0; i < d.Length; i++) d[i] = mean + std * generator.NextNormal();
        return FromHostDoubles(d, shape, dtype, device);
    }

    /// <summary>Samples uniformly from [low, high) using <paramref name="generator"/>.</summary>
    public static Tensor Rand(int[] shape, Generator generator, DType dtype = DType.Float32, double low = 0, double high = 1, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var d = new double[ShapeUtil.Numel(shape)];
        for (int i = 0; i < d.Length; i++) d[i] = low + (high - low) * generator.NextDouble();
        return FromHostDoubles(d, shape, dtype, device);
    }

    /// <summary>Uniform random integers in [low, high) as int64.</summary>
    public static Tensor RandInt(int[] shape, long low, long high, Generator generator, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (high <= low) throw new ArgumentException($"rand_int: empty range [{low}, {high})");
        var d = new long[ShapeUtil.Numel(shape)];
        for (int i = 0; i < d.Length; i++) d[i] = low + generator.NextInt64(high - low);
        return FromArray(d, shape, device);
    }

    private static Tensor FromHostDoubles(double[] d, int[] shape, DType dtype, Device? device)
    {
        if (dtype == DType.Float64) return FromArray(d, shape, device);
        if (dtype == DType.Float32)
        {
            var f = new float[d.Length];
            for (int i = 0; i < d.Length; i++) f[i] = (float)d[i];
            return FromArray(f, shape, device);
        }
        throw new ArgumentException($"random sampling needs a floating-point dtype, got {dtype.Name()}");
    }
}
