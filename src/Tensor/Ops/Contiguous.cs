namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>This tensor if its layout is row-major, else a row-major copy. ∂/∂x = g.</summary>
    public Tensor Contiguous() => IsContiguous ? this : Clone();

    /// <summary>A row-major copy that owns new storage. ∂/∂x = g.</summary>
    public Tensor Clone()
    {
        var y = ContiguousRaw();
        return ShouldRecord(this) ? y.WithGradFn(new CloneBackward(this)) : y;
    }

    /// <summary>Converts to <paramref name="dtype"/> (a copy unless already of that dtype). ∂/∂x = g converted back.</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        var y = ConvertRaw(dtype);
        return ShouldRecord(this) && dtype.IsFloatingPoint() ? y.WithGradFn(new CastBackward(this)) : y;
    }

    /// <summary>Copies to <paramref name="device"/> (this tensor when already there). ∂/∂x = g copied back.</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        var src = IsContiguous ? this : ContiguousRaw();
        var y = Empty(_shape, DType, device);
        // Staged through host memory: device backends copy between host and their own memory.
        switch (DType)
        {
            case DType.Float32: Stage<float>(src, y); break;
            case DType.Float64: Stage<double>(src, y); break;
            default: Stage<long>(src, y); break;
        }
        return ShouldRecord(this) ? y.WithGradFn(new ToDeviceBackward(this)) : y;
    }

    private static void Stage<T>(Tensor src, Tensor dst) where T : unmanaged
    {
        var host = new T[src.Numel];
        src.Backend.CopyToHost<T>(src.Storage, src.Offset, host);
        dst.Backend.CopyFromHost<T>(host, dst.Storage, dst.Offset);
    }

    private sealed class CloneBackward(Tensor x) : GradNode("clone", x)
    {
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g];
    }

    private sealed class CastBackward(Tensor x) : GradNode("to_dtype", x)
    {
        private readonly DType _dtype = x.DType;

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.To(_dtype)];
    }

    private sealed class ToDeviceBackward(Tensor x) : GradNode("to_device", x)
    {
        private readonly Device _device = x.Device;

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.To(_device)];
    }
}
