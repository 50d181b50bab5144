using Ttt.Cuda.Native;

namespace Ttt.Cuda;

/// <summary>
/// Entry point of the CUDA backend: is a GPU usable here, and registering one <see cref="CudaBackend"/> per device
/// with <see cref="BackendRegistry"/> so that tensors on <c>Device.Cuda(i)</c> compute on it.
/// <code>
/// if (Cuda.IsAvailable) { Cuda.Initialize(); var x = Tensor.Ones([4, 4], device: Device.Cuda()); }
/// </code>
/// </summary>
public static class Cuda
{
    private static readonly Lazy<(bool Available, string Reason, int Count)> s_probe = new(Probe);
    private static readonly Lock s_lock = new();
    private static readonly Dictionary<int, CudaBackend> s_backends = [];
    private static bool s_registered;

    /// <summary>
    /// True when the driver library loads, <c>cuInit</c> succeeds, at least one device exists and cuBLAS loads.
    /// Never throws: a missing <c>libcuda.so.1</c>, <c>CUDA_ERROR_NO_DEVICE</c> (a toolkit's user-space driver
    /// without a GPU) and zero devices all give false, with <see cref="UnavailableReason"/> saying which.
    /// </summary>
    public static bool IsAvailable => s_probe.Value.Available;

    /// <summary>Why CUDA is not available ("" when it is).</summary>
    public static string UnavailableReason => s_probe.Value.Reason;

    /// <summary>Number of CUDA devices (0 when unavailable).</summary>
    public static int DeviceCount => s_probe.Value.Count;

    /// <summary>The driver's CUDA version as major·1000 + minor·10 (e.g. 13000), or 0 when unavailable.</summary>
    public static int DriverVersion
    {
        get
        {
            if (!IsAvailable) return 0;
            return CuDriver.DriverGetVersion(out int v) == CuResult.Success ? v : 0;
        }
    }

    /// <summary>The cuBLAS version ("12.8.4") and the file it was loaded from, or null when unavailable.</summary>
    public static string? CublasVersion
    {
        get
        {
            if (!IsAvailable) return null;
            Check.Blas(CuBlas.GetProperty(LibraryProperty.Major, out int major), "cublasGetProperty");
            Check.Blas(CuBlas.GetProperty(LibraryProperty.Minor, out int minor), "cublasGetProperty");
            Check.Blas(CuBlas.GetProperty(LibraryProperty.Patch, out int patch), "cublasGetProperty");
            return $"{major}.{minor}.{patch} ({NativeLibraries.LoadedPath(CudaLibrary.Cublas)})";
        }
    }

    /// <summary>
    /// Registers a backend for every device (<c>Device.Cuda(0)</c> … <c>Device.Cuda(DeviceCount − 1)</c>); each
    /// device's context is created on its first use. Idempotent.
    /// </summary>
    /// <exception cref="CudaException">CUDA is not available (the message gives <see cref="UnavailableReason"/>).</exception>
    public static void Initialize()
    {
        if (!IsAvailable) throw new CudaException($"CUDA is not available: {UnavailableReason}");
        lock (s_lock) RegisterLocked();
    }

    private static void RegisterLocked()
    {
        if (s_registered) return;
        for (int i = 0; i < DeviceCount; i++)
        {
            int ordinal = i;
            BackendRegistry.Register(Ttt.Device.Cuda(ordinal), () => Backend(ordinal));
        }
        s_registered = true;
    }

    /// <summary>
    /// The backend of device <paramref name="ordinal"/> (creates the device's context on first use, and registers
    /// the backends as <see cref="Initialize"/> does).
    /// </summary>
    public static CudaBackend Backend(int ordinal = 0)
    {
        lock (s_lock)
        {
            if (s_backends.TryGetValue(ordinal, out var b)) return b;
            if (!IsAvailable) throw new CudaException($"CUDA is not available: {UnavailableReason}");
            if (ordinal < 0 || ordinal >= DeviceCount)
                throw new ArgumentOutOfRangeException(nameof(ordinal), ordinal, $"there are {DeviceCount} CUDA devices");
            b = new CudaBackend(new CudaDevice(ordinal));
            s_backends[ordinal] = b;
            RegisterLocked(); // the backend allocates its own temporaries through Tensor.Empty(…, Device.Cuda(i))
            return b;
        }
    }

    /// <summary>Device <paramref name="ordinal"/> (context, stream, allocator).</summary>
    public static CudaDevice Device(int ordinal = 0) => Backend(ordinal).CudaDevice;

    /// <summary>
    /// Releases every device created so far (waits for its work, frees the allocator cache, unloads modules,
    /// releases the context). Tensors still on a device become unusable; the backends stay registered and a later
    /// use creates the device again.
    /// </summary>
    public static void Shutdown()
    {
        lock (s_lock)
        {
            foreach (var b in s_backends.Values) b.CudaDevice.Dispose();
            s_backends.Clear();
        }
    }

    /// <summary>Runs the availability probe; catches everything, because "no GPU" must never be an error.</summary>
    private static (bool, string, int) Probe()
    {
        try
        {
            var r = CuDriver.Init(0);
            if (r == CuResult.NoDevice)
                return (false, $"cuInit returned {CudaErrors.Describe(r)}: the CUDA driver library is installed but there is no GPU", 0);
            if (r != CuResult.Success) return (false, $"cuInit failed: {CudaErrors.Describe(r)}", 0);
            r = CuDriver.DeviceGetCount(out int count);
            if (r != CuResult.Success) return (false, $"cuDeviceGetCount failed: {CudaErrors.Describe(r)}", 0);
            if (count == 0) return (false, "the CUDA driver reports no devices", 0);
            if (NativeLibraries.TryLoad(CudaLibrary.Cublas) == 0)
                return (false, $"cuBLAS was not found: {NativeLibraries.Describe(CudaLibrary.Cublas)}", 0);
            return (true, "", count);
        }
        catch (DllNotFoundException)
        {
            return (false, $"the CUDA driver library was not found (no NVIDIA driver here): {NativeLibraries.Describe(CudaLibrary.Driver)}", 0);
        }
        catch (EntryPointNotFoundException e)
        {
            return (false, $"the CUDA driver library lacks an entry point: {e.Message}", 0);
        }
#pragma warning disable CA1031 // The probe must answer false, whatever goes wrong (a broken install, a bad image).
        catch (Exception e)
#pragma warning restore CA1031
        {
            return (false, $"probing CUDA failed: {e.GetType().Name}: {e.Message}", 0);
        }
    }
}
