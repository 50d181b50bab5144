using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Copies the elements (row-major) to a new host array, converting to <typeparamref name="T"/>.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        var src = DType == DTypes.Of<T>() ? this : ConvertRaw(DTypes.Of<T>());
        if (!src.IsContiguous) src = src.ContiguousRaw();
        var result = new T[src.Numel];
        src.Backend.CopyToHost<T>(src.Storage, src.Offset, result);
        return result;
    }

    /// <summary>The elements as float32 values.</summary>
    public float[] ToFloatArray() => ToArray<float>();

    /// <summary>The elements as float64 values.</summary>
    public double[] ToDoubleArray() => ToArray<double>();

    /// <summary>The elements as int64 values.</summary>
    public long[] ToLongArray() => ToArray<long>();

    /// <summary>The value of a one-element tensor.</summary>
    public double Item()
    {
        if (Numel != 1)
            throw new InvalidOperationException($"item: the tensor has {Numel} elements (shape {ShapeUtil.Format(_shape)}); only one-element tensors convert to a number");
        return DType == DType.Int64 ? ToArray<long>()[0] : ToArray<double>()[0];
    }

    /// <summary>The element at the given coordinates.</summary>
    [System.Runtime.CompilerServices.IndexerName("Element")]
    public double this[params int[] index]
    {
        get
        {
            if (index.Length != Rank)
                throw new ArgumentException($"index: {index.Length} coordinates for a tensor of rank {Rank} (shape {ShapeUtil.Format(_shape)})");
            long off = Offset;
            for (int d = 0; d < Rank; d++)
            {
                int i = index[d] < 0 ? index[d] + _shape[d] : index[d];
                if (i < 0 || i >= _shape[d])
                    throw new IndexOutOfRangeException($"index: coordinate {index[d]} is out of range for dim {d} of shape {ShapeUtil.Format(_shape)}");
                off += i * _strides[d];
            }
            if (DType == DType.Int64)
            {
                Span<long> one = stackalloc long[1];
                Backend.CopyToHost(Storage, off, one);
                return one[0];
            }
            if (DType == DType.Float32)
            {
                Span<float> f = stackalloc float[1];
                Backend.CopyToHost(Storage, off, f);
                return f[0];
            }
            Span<double> d1 = stackalloc double[1];
            Backend.CopyToHost(Storage, off, d1);
            return d1[0];
        }
    }

    // ---------------------------------------------------------------- raw helpers (no autograd)

    internal Tensor ContiguousRaw()
    {
        var t = Empty(_shape, DType, Device);
        Backend.Copy(this, t);
        return t;
    }

    internal Tensor ConvertRaw(DType dtype)
    {
        var t = Empty(_shape, dtype, Device);
        Backend.Copy(this, t);
        return t;
    }

    // ---------------------------------------------------------------- in-place (not differentiable)

    private void CheckInPlace(string op)
    {
        if (GradMode.IsEnabled && RequiresGrad)
            throw new InvalidOperationException($"{op}: in-place change of a tensor that requires grad (shape {ShapeUtil.Format(_shape)}{(Name is null ? "" : $", '{Name}'")}); do it inside GradMode.Disable() or on a detached copy");
        Storage.ThrowIfDisposed();
    }

    private bool HasOverlappingElements()
    {
        for (int d = 0; d < Rank; d++)
            if (_strides[d] == 0 && _shape[d] > 1) return true;
        return false;
    }

    private void CheckWritable(string op)
    {
        CheckInPlace(op);
        if (HasOverlappingElements())
            throw new InvalidOperationException($"{op}: cannot write in place into a broadcast view (shape {ShapeUtil.Format(_shape)} has stride 0); call Contiguous() first");
    }

    /// <summary>Copies <paramref name="src"/> (broadcast to this shape, converted to this dtype) into this tensor in place.</summary>
    public Tensor CopyFrom(Tensor src)
    {
        ArgumentNullException.ThrowIfNull(src);
        CheckWritable("copy_");
        CheckSameDevice("copy_", src);
        var b = src.ExpandRaw("copy_", _shape);
        Backend.Copy(b, this);
        Storage.BumpVersion();
        return this;
    }

    /// <summary>Sets every element to <paramref name="value"/> in place.</summary>
    public Tensor Fill(double value)
    {
        CheckWritable("fill_");
        Backend.Fill(this, value);
        Storage.BumpVersion();
        return this;
    }

    /// <summary>Sets every element to zero in place.</summary>
    public Tensor Zero() => Fill(0);

    /// <summary>this += alpha·other, in place (other broadcast to this shape).</summary>
    public Tensor AddInPlace(Tensor other, double alpha = 1)
    {
        ArgumentNullException.ThrowIfNull(other);
        CheckWritable("add_");
        CheckCompatible("add_", other);
        var o = other.ExpandRaw("add_", _shape);
        if (alpha != 1)
        {
            var scaled = Empty(_shape, DType, Device);
            Backend.Unary(UnaryOp.Affine, o, scaled, alpha, 0);
            o = scaled;
        }
        Backend.Binary(BinaryOp.Add, this, o, this);
        Storage.BumpVersion();
        return this;
    }

    /// <summary>this ·= other, in place (other broadcast to this shape).</summary>
    public Tensor MulInPlace(Tensor other)
    {
        ArgumentNullException.ThrowIfNull(other);
        CheckWritable("mul_");
        CheckCompatible("mul_", other);
        Backend.Binary(BinaryOp.Mul, this, other.ExpandRaw("mul_", _shape), this);
        Storage.BumpVersion();
        return this;
    }

    /// <summary>this = a·this + b, in place.</summary>
    public Tensor AffineInPlace(double a, double b = 0)
    {
        CheckWritable("affine_");
        Backend.Unary(UnaryOp.Affine, this, this, a, b);
        Storage.BumpVersion();
        return this;
    }

    /// <summary>this ·= s, in place.</summary>
    public Tensor MulInPlace(double s) => AffineInPlace(s, 0);

    /// <summary>Applies a unary primitive in place (no autograd; e.g. clamping weights).</summary>
    public Tensor ApplyInPlace(UnaryOp op, double a = 0, double b = 0)
    {
        CheckWritable(op.ToString().ToLowerInvariant() + "_");
        Backend.Unary(op, this, this, a, b);
        Storage.BumpVersion();
        return this;
    }
}
