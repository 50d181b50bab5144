namespace Ttt.Cpu;

/// <summary>
/// Chooses which CPU implementation computes ops: the fast path (SIMD, multi-threaded; the default) or the
/// plain-loop reference that is kept as the oracle. The choice is scoped and flows with async code:
/// <c>using (CpuBackends.UseReference()) { … }</c>.
/// </summary>
public static class CpuBackends
{
    private static readonly AsyncLocal<IBackend?> s_override = new();

    /// <summary>The plain-loop reference implementation.</summary>
    public static CpuReferenceBackend Reference => CpuReferenceBackend.Instance;

    /// <summary>The SIMD, multi-threaded implementation.</summary>
    public static CpuFastBackend Fast => CpuFastBackend.Instance;

    /// <summary>The implementation ops use now on this logical flow.</summary>
    public static IBackend Current => s_override.Value ?? Fast;

    /// <summary>Computes with the reference implementation until the scope is disposed.</summary>
    public static IDisposable UseReference() => Use(Reference);

    /// <summary>Computes with <paramref name="backend"/> (a CPU backend) until the scope is disposed.</summary>
    public static IDisposable Use(IBackend backend)
    {
        if (backend.Device.Type != DeviceType.Cpu) throw new ArgumentException($"{backend.Name} is not a CPU backend", nameof(backend));
        var previous = s_override.Value;
        s_override.Value = backend;
        return new Restore(previous);
    }

    private sealed class Restore(IBackend? previous) : IDisposable
    {
        public void Dispose() => s_override.Value = previous;
    }
}
