using Ttt.Cuda;

namespace Ttt.Cli;

/// <summary>The <c>--device</c> and <c>--precision</c> options shared by the commands.</summary>
public static class DeviceOption
{
    /// <summary>The option definitions.</summary>
    public static OptionSpec[] Specs { get; } =
    [
        new("--device", "NAME", "cpu, cuda or cuda:N", "cpu"),
        new("--precision", "NAME", "float32 matmuls on CUDA: float32, tf32 or bf16 (inputs rounded, float32 accumulation)", "float32"),
    ];

    /// <summary>Resolves the device; for CUDA, initializes the backend and sets the matmul precision.</summary>
    public static Device Resolve(ParsedArgs a)
    {
        ArgumentNullException.ThrowIfNull(a);
        Device device;
        try
        {
            device = Device.Parse(a.String("--device", "cpu")!);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        var precision = a.Choice("--precision", "float32", "float32", "tf32", "bf16");
        if (device.Type == DeviceType.Cpu)
        {
            if (precision != "float32") throw new UsageException("--precision applies to --device cuda only");
            return device;
        }
        if (!Cuda.Cuda.IsAvailable) throw new InvalidOperationException($"--device {device}: CUDA is not available ({Cuda.Cuda.UnavailableReason})");
        if (device.Index >= Cuda.Cuda.DeviceCount) throw new UsageException($"--device {device}: only {Cuda.Cuda.DeviceCount} CUDA device(s) present");
        Cuda.Cuda.Initialize();
        Cuda.Cuda.Backend(device.Index).MatmulPrecision = precision switch
        {
            "tf32" => MatmulPrecision.Tf32,
            "bf16" => MatmulPrecision.Bf16,
            _ => MatmulPrecision.Float32,
        };
        return device;
    }
}
