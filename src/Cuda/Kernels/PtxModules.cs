using System.Collections.Concurrent;
using System.Text;
using Ttt.Cuda.Native;

namespace Ttt.Cuda.Kernels;

/// <summary>
/// The committed PTX embedded in Ttt.Cuda (resource <c>Ttt.Cuda.ptx.&lt;family&gt;.ptx</c>), one module per kernel
/// family, loaded into a device's context the first time one of its kernels is launched (the driver JIT-compiles
/// the compute_80 PTX for the GPU at hand then) and kept until the device shuts down; functions are cached by name.
/// </summary>
internal sealed class PtxModules : IDisposable
{
    private readonly CudaDevice _device;
    private readonly Dictionary<string, nint> _modules = [];
    private readonly ConcurrentDictionary<string, nint> _functions = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private bool _disposed;

    public PtxModules(CudaDevice device) => _device = device;

    /// <summary>Resource name of a family's PTX.</summary>
    public static string ResourceName(string family) => $"Ttt.Cuda.ptx.{family}.ptx";

    /// <summary>The PTX text of a family as embedded in this assembly.</summary>
    /// <exception cref="InvalidOperationException">No such resource.</exception>
    public static string ReadPtx(string family)
    {
        using var s = typeof(PtxModules).Assembly.GetManifestResourceStream(ResourceName(family))
            ?? throw new InvalidOperationException($"Ttt.Cuda has no embedded PTX for kernel family '{family}' (resource {ResourceName(family)}); run ptx/build.sh and rebuild");
        using var r = new StreamReader(s, Encoding.UTF8);
        return r.ReadToEnd();
    }

    /// <summary>The function handle of a kernel (loads its family's module on first use).</summary>
    public nint Function(KernelSpec spec)
    {
        if (_functions.TryGetValue(spec.Name, out var f)) return f;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_functions.TryGetValue(spec.Name, out f)) return f;
            var module = Module(spec.Family);
            f = GetFunction(module, spec);
            _functions[spec.Name] = f;
            return f;
        }
    }

    private unsafe nint GetFunction(nint module, KernelSpec spec)
    {
        var name = Encoding.ASCII.GetBytes(spec.Name + "\0");
        fixed (byte* n = name)
        {
            var r = CuDriver.ModuleGetFunction(out var f, module, n);
            if (r != CuResult.Success)
                throw CudaException.FromDriver("cuModuleGetFunction", r, $"kernel {spec.Name} in family {spec.Family}");
            return f;
        }
    }

    private unsafe nint Module(string family)
    {
        if (_modules.TryGetValue(family, out var m)) return m;
        _device.MakeCurrent();
        var image = Encoding.ASCII.GetBytes(ReadPtx(family) + "\0");
        const int LogSize = 16 * 1024;
        var errorLog = new byte[LogSize];
        fixed (byte* img = image)
        fixed (byte* log = errorLog)
        {
            CuJitOption* options = stackalloc CuJitOption[2];
            nint* values = stackalloc nint[2];
            options[0] = CuJitOption.ErrorLogBuffer;
            values[0] = (nint)log;
            options[1] = CuJitOption.ErrorLogBufferSizeBytes;
            values[1] = LogSize;
            var r = CuDriver.ModuleLoadDataEx(out m, img, 2, options, values);
            if (r != CuResult.Success)
            {
                int len = Array.IndexOf(errorLog, (byte)0);
                var text = Encoding.UTF8.GetString(errorLog, 0, len < 0 ? LogSize : len).Trim();
                throw CudaException.FromDriver("cuModuleLoadDataEx", r,
                    $"loading the PTX of kernel family '{family}' on {_device}{(text.Length > 0 ? ": " + text : "")}");
            }
        }
        _modules[family] = m;
        return m;
    }

    /// <summary>Unloads every module (the device's context must be current).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var m in _modules.Values) _ = CuDriver.ModuleUnload(m);
            _modules.Clear();
            _functions.Clear();
        }
    }
}
