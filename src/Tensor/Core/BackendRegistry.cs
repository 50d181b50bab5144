using Ttt.Cpu;

namespace Ttt;

/// <summary>
/// Maps devices to backends. The CPU is built in; the CUDA backend registers itself when Ttt.Cuda initialises.
/// </summary>
public static class BackendRegistry
{
    private static readonly Dictionary<Device, Func<IBackend>> s_factories = [];
    private static readonly Lock s_lock = new();

    /// <summary>Registers the backend provider for a non-CPU device.</summary>
    public static void Register(Device device, Func<IBackend> factory)
    {
        if (device.Type == DeviceType.Cpu) throw new ArgumentException("the CPU backend is built in", nameof(device));
        lock (s_lock) s_factories[device] = factory;
    }

    /// <summary>The backend that computes on <paramref name="device"/>.</summary>
    public static IBackend Get(Device device)
    {
        if (device.Type == DeviceType.Cpu) return CpuBackends.Current;
        lock (s_lock)
        {
            if (s_factories.TryGetValue(device, out var f)) return f();
        }
        throw new InvalidOperationException($"no backend is available for device {device}: reference Ttt.Cuda and check Cuda.IsAvailable before using CUDA tensors");
    }
}
