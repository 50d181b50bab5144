namespace Ttt;

/// <summary>Kind of device a tensor's storage lives on.</summary>
public enum DeviceType
{
    /// <summary>Host memory, computed by the CPU backend.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU, computed by the CUDA backend.</summary>
    Cuda,
}

/// <summary>A device: its type and, for GPUs, its ordinal.</summary>
public readonly record struct Device(DeviceType Type, int Index = 0)
{
    /// <summary>The host CPU.</summary>
    public static Device Cpu => new(DeviceType.Cpu);

    /// <summary>CUDA device number <paramref name="index"/>.</summary>
    public static Device Cuda(int index = 0) => new(DeviceType.Cuda, index);

    /// <summary>Parses "cpu", "cuda" or "cuda:N".</summary>
    public static Device Parse(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        if (s == "cpu") return Cpu;
        if (s == "cuda" || s == "gpu") return Cuda();
        if (s.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(s.AsSpan(5), out var i) && i >= 0) return Cuda(i);
        throw new ArgumentException($"unknown device '{text}': expected cpu, cuda or cuda:N", nameof(text));
    }

    /// <inheritdoc/>
    public override string ToString() => Type == DeviceType.Cpu ? "cpu" : $"cuda:{Index}";
}
