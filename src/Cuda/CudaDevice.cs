using System.Text;
using Ttt.Cuda.Kernels;
using Ttt.Cuda.Memory;
using Ttt.Cuda.Native;

namespace Ttt.Cuda;

/// <summary>
/// One GPU as Ttt uses it: its primary context, the single stream all of Ttt's work on it is queued on (kernels,
/// copies, cuBLAS), its caching allocator, the lazily loaded PTX modules and the cuBLAS handle. Created by
/// <see cref="Cuda.Device(int)"/>; disposed by <see cref="Cuda.Shutdown"/>.
/// </summary>
public sealed class CudaDevice : IDisposable
{
    [ThreadStatic] private static nint t_currentContext;

    private readonly nint _context;
    private readonly Lock _blasLock = new();
    private nint _stream;
    private nint _blas;
    private bool _disposed;

    internal CudaDevice(int ordinal)
    {
        Ordinal = ordinal;
        Check.Driver(CuDriver.DeviceGet(out int dev, ordinal), "cuDeviceGet");
        Handle = dev;
        Name = ReadName(dev);
        Check.Driver(CuDriver.DeviceTotalMem(out var total, dev), "cuDeviceTotalMem_v2");
        TotalMemory = (long)total;
        MultiprocessorCount = Attribute(dev, CuDeviceAttribute.MultiprocessorCount);
        MaxThreadsPerBlock = Attribute(dev, CuDeviceAttribute.MaxThreadsPerBlock);
        ComputeCapability = (Attribute(dev, CuDeviceAttribute.ComputeCapabilityMajor), Attribute(dev, CuDeviceAttribute.ComputeCapabilityMinor));
        Check.Driver(CuDriver.DevicePrimaryCtxRetain(out _context, dev), "cuDevicePrimaryCtxRetain");
        MakeCurrent();
        // Non-blocking: never implicitly serialised with the legacy default stream (which Ttt does not use).
        Check.Driver(CuDriver.StreamCreate(out _stream, 1), "cuStreamCreate");
        Allocator = new CachingAllocator(new DriverMemory(this));
        Modules = new PtxModules(this);
    }

    /// <summary>The device ordinal (cuda:N).</summary>
    public int Ordinal { get; }

    /// <summary>The driver's CUdevice handle.</summary>
    internal int Handle { get; }

    /// <summary>Marketing name, e.g. "NVIDIA H200".</summary>
    public string Name { get; }

    /// <summary>Total device memory in bytes.</summary>
    public long TotalMemory { get; }

    /// <summary>Number of streaming multiprocessors (sizes grids of grid-stride kernels).</summary>
    public int MultiprocessorCount { get; }

    /// <summary>Largest block size.</summary>
    public int MaxThreadsPerBlock { get; }

    /// <summary>Compute capability, e.g. (9, 0) for the H100/H200.</summary>
    public (int Major, int Minor) ComputeCapability { get; }

    /// <summary>The caching allocator of this device (statistics, <see cref="CachingAllocator.EmptyCache"/>).</summary>
    public CachingAllocator Allocator { get; }

    /// <summary>The stream all of this device's work goes to.</summary>
    internal nint Stream => _stream;

    internal PtxModules Modules { get; }

    /// <summary>Free and total device memory as the driver reports them now.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        Check.Driver(CuDriver.MemGetInfo(out var free, out var total), "cuMemGetInfo_v2");
        return ((long)free, (long)total);
    }

    /// <summary>Makes this device's context current on the calling thread (cheap when it already is).</summary>
    internal void MakeCurrent()
    {
        if (t_currentContext == _context) return;
        ObjectDisposedException.ThrowIf(_disposed, this);
        Check.Driver(CuDriver.CtxSetCurrent(_context), "cuCtxSetCurrent");
        t_currentContext = _context;
    }

    /// <summary>Waits until all queued work on this device is done; surfaces errors of earlier kernels.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        Check.Driver(CuDriver.StreamSynchronize(_stream), "cuStreamSynchronize");
    }

    /// <summary>
    /// Times <paramref name="work"/> on the device with a pair of events around it (milliseconds of device time;
    /// waits for the work to finish).
    /// </summary>
    public double Time(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        using var start = new CudaEvent(this);
        using var end = new CudaEvent(this);
        start.Record();
        work();
        end.Record();
        end.Synchronize();
        return CudaEvent.ElapsedMilliseconds(start, end);
    }

    /// <summary>The cuBLAS handle of this device, bound to its stream (created on first use).</summary>
    internal nint Blas
    {
        get
        {
            if (_blas != 0) return _blas;
            lock (_blasLock)
            {
                if (_blas != 0) return _blas;
                MakeCurrent();
                Check.Blas(CuBlas.Create(out var h), "cublasCreate_v2");
                Check.Blas(CuBlas.SetStream(h, _stream), "cublasSetStream_v2");
                Check.Blas(CuBlas.SetMathMode(h, CublasMath.Default), "cublasSetMathMode");
                _blas = h;
                return h;
            }
        }
    }

    /// <summary>A grid for a grid-stride kernel over <paramref name="n"/> items: enough blocks to fill the GPU, no more.</summary>
    internal int GridFor(long n, int block)
    {
        long blocks = (n + block - 1) / block;
        long cap = (long)MultiprocessorCount * 32;
        return (int)Math.Max(1, Math.Min(blocks, cap));
    }

    /// <summary>
    /// Launches <paramref name="spec"/> on this device's stream with a (gridX, gridY) grid of 1-D blocks.
    /// The arguments are checked against the spec first.
    /// </summary>
    internal unsafe void Launch(KernelSpec spec, int gridX, int gridY, int block, params ReadOnlySpan<KernelArg> args)
    {
        KernelArg.Validate(spec, args);
        if (gridX <= 0 || gridY <= 0 || block <= 0 || block > MaxThreadsPerBlock)
            throw new ArgumentException($"kernel {spec.Name}: invalid launch grid ({gridX}, {gridY}) × block {block}");
        MakeCurrent();
        var function = Modules.Function(spec);
        nint* pointers = stackalloc nint[args.Length];
        fixed (KernelArg* a = args)
        {
            for (int i = 0; i < args.Length; i++)
            {
                pointers[i] = a[i].KindField switch
                {
                    KernelParamKind.Shape => (nint)(&a[i].Shape),
                    KernelParamKind.Strides => (nint)(&a[i].Strides),
                    _ => (nint)(&a[i].Scalar),
                };
            }
            var r = CuDriver.LaunchKernel(function, (uint)gridX, (uint)gridY, 1, (uint)block, 1, 1, 0, _stream, pointers, null);
            if (r != CuResult.Success) throw CudaException.FromDriver("cuLaunchKernel", r, $"kernel {spec.Name}, grid ({gridX}, {gridY}), block {block}");
        }
    }

    /// <summary>Queues a device-to-device copy of <paramref name="bytes"/> bytes.</summary>
    internal void CopyDeviceToDevice(DevicePtr dst, DevicePtr src, long bytes)
    {
        if (bytes == 0) return;
        MakeCurrent();
        Check.Driver(CuDriver.MemcpyDtoDAsync(dst.Address, src.Address, (nuint)bytes, _stream), "cuMemcpyDtoDAsync_v2");
    }

    /// <summary>Copies host bytes to the device and waits (the source may be pageable managed memory).</summary>
    internal unsafe void CopyHostToDevice(DevicePtr dst, void* src, long bytes)
    {
        if (bytes == 0) return;
        MakeCurrent();
        Check.Driver(CuDriver.MemcpyHtoDAsync(dst.Address, src, (nuint)bytes, _stream), "cuMemcpyHtoDAsync_v2");
        Check.Driver(CuDriver.StreamSynchronize(_stream), "cuStreamSynchronize");
    }

    /// <summary>Copies device bytes to the host after all queued work, and waits.</summary>
    internal unsafe void CopyDeviceToHost(void* dst, DevicePtr src, long bytes)
    {
        if (bytes == 0) return;
        MakeCurrent();
        Check.Driver(CuDriver.MemcpyDtoHAsync(dst, src.Address, (nuint)bytes, _stream), "cuMemcpyDtoHAsync_v2");
        Check.Driver(CuDriver.StreamSynchronize(_stream), "cuStreamSynchronize");
    }

    /// <summary>Queues setting <paramref name="bytes"/> bytes to <paramref name="value"/>.</summary>
    internal void MemsetBytes(DevicePtr dst, byte value, long bytes)
    {
        if (bytes == 0) return;
        MakeCurrent();
        Check.Driver(CuDriver.MemsetD8Async(dst.Address, value, (nuint)bytes, _stream), "cuMemsetD8Async");
    }

    /// <summary>Queues setting <paramref name="count"/> 32-bit words to <paramref name="value"/>.</summary>
    internal void MemsetWords(DevicePtr dst, uint value, long count)
    {
        if (count == 0) return;
        MakeCurrent();
        Check.Driver(CuDriver.MemsetD32Async(dst.Address, value, (nuint)count, _stream), "cuMemsetD32Async");
    }

    /// <inheritdoc/>
    public override string ToString() => $"cuda:{Ordinal} ({Name})";

    /// <summary>
    /// Waits for the device, releases the allocator's cache, the modules, the cuBLAS handle, the stream and the
    /// primary context. Tensors still on the device become unusable.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        MakeCurrent();
        _ = CuDriver.StreamSynchronize(_stream);
        Allocator.Dispose();
        Modules.Dispose();
        if (_blas != 0) _ = CuBlas.Destroy(_blas);
        _blas = 0;
        _ = CuDriver.StreamDestroy(_stream);
        _stream = 0;
        _ = CuDriver.DevicePrimaryCtxRelease(Handle);
        t_currentContext = 0;
        _disposed = true;
    }

    private static int Attribute(int dev, CuDeviceAttribute a)
    {
        Check.Driver(CuDriver.DeviceGetAttribute(out int v, a, dev), "cuDeviceGetAttribute");
        return v;
    }

    private static unsafe string ReadName(int dev)
    {
        byte* buf = stackalloc byte[256];
        Check.Driver(CuDriver.DeviceGetName(buf, 256, dev), "cuDeviceGetName");
        int n = 0;
        while (n < 256 && buf[n] != 0) n++;
        return Encoding.UTF8.GetString(buf, n);
    }

    /// <summary>The driver's memory for the caching allocator.</summary>
    private sealed class DriverMemory(CudaDevice device) : IDeviceMemory
    {
        public string DeviceName => device.ToString();

        public ulong TryAllocate(long bytes)
        {
            device.MakeCurrent();
            var r = CuDriver.MemAlloc(out var p, (nuint)bytes);
            if (r == CuResult.OutOfMemory) return 0;
            if (r != CuResult.Success) throw CudaException.FromDriver("cuMemAlloc_v2", r, $"{bytes} bytes on {device}");
            return p;
        }

        public void Free(ulong pointer)
        {
            device.MakeCurrent();
            Check.Driver(CuDriver.MemFree(pointer), "cuMemFree_v2");
        }

        public (long Free, long Total) GetInfo() => device.MemoryInfo();

        public void Synchronize() => device.Synchronize();
    }
}

/// <summary>A CUDA event on a device's stream, for timing device work.</summary>
public sealed class CudaEvent : IDisposable
{
    private readonly CudaDevice _device;
    private nint _event;

    /// <summary>Creates an event on <paramref name="device"/> (with timing).</summary>
    public CudaEvent(CudaDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        device.MakeCurrent();
        Check.Driver(CuDriver.EventCreate(out _event, 0), "cuEventCreate");
    }

    /// <summary>Records the event after the work queued so far on the device's stream.</summary>
    public void Record()
    {
        ObjectDisposedException.ThrowIf(_event == 0, this);
        _device.MakeCurrent();
        Check.Driver(CuDriver.EventRecord(_event, _device.Stream), "cuEventRecord");
    }

    /// <summary>Waits until the recorded work is done.</summary>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_event == 0, this);
        _device.MakeCurrent();
        Check.Driver(CuDriver.EventSynchronize(_event), "cuEventSynchronize");
    }

    /// <summary>Milliseconds of device time between two recorded, completed events.</summary>
    public static double ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        start._device.MakeCurrent();
        Check.Driver(CuDriver.EventElapsedTime(out float ms, start._event, end._event), "cuEventElapsedTime");
        return ms;
    }

    /// <summary>Destroys the event.</summary>
    public void Dispose()
    {
        if (_event == 0) return;
        _device.MakeCurrent();
        _ = CuDriver.EventDestroy(_event);
        _event = 0;
    }
}
