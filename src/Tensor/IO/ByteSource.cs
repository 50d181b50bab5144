using Microsoft.Win32.SafeHandles;

namespace Ttt.IO;

/// <summary>
/// Random-access bytes of known length: a file handle, a seekable stream or memory. The reader asks only for ranges
/// that the validated header maps inside <see cref="Length"/>, so a short read means the source changed underneath
/// (a file truncated by another process) and is reported as such.
/// </summary>
internal abstract class ByteSource : IDisposable
{
    protected ByteSource(string name) => Name = name;

    /// <summary>Name used in messages (file name or caller-given name).</summary>
    public string Name { get; }

    /// <summary>Total number of bytes.</summary>
    public abstract long Length { get; }

    /// <summary>Fills <paramref name="destination"/> with the bytes starting at <paramref name="offset"/>.</summary>
    public abstract void ReadExactly(long offset, Span<byte> destination);

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the underlying handle or stream when the source owns it.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }

    protected SafeTensorsFormatException Shrunk(long offset, long got, int wanted) =>
        new(Name, $"the data ended after {got} of the {wanted} bytes at offset {offset} (size was {Length} when the header was checked); it changed while being read");
}

/// <summary>Bytes already in memory.</summary>
internal sealed class MemoryByteSource(ReadOnlyMemory<byte> bytes, string name) : ByteSource(name)
{
    public override long Length => bytes.Length;

    public override void ReadExactly(long offset, Span<byte> destination) =>
        bytes.Span.Slice(checked((int)offset), destination.Length).CopyTo(destination);
}

/// <summary>An open file read with positional reads, so several tensors may be read without shared seek state.</summary>
internal sealed class FileByteSource : ByteSource
{
    private readonly SafeFileHandle _handle;

    public FileByteSource(string path)
        : base(path) // as the caller wrote it: case folders all hold a "model.safetensors", so the folder matters
    {
        // FileShare.Read: other readers are fine, but a writer replacing the bytes mid-load would make the checked
        // header describe data that is no longer there. Atomic writers (rename over) do not disturb an open handle.
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        Length = RandomAccess.GetLength(_handle);
    }

    public override long Length { get; }

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int got = RandomAccess.Read(_handle, destination[done..], offset + done);
            if (got == 0) throw Shrunk(offset, done, destination.Length);
            done += got;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _handle.Dispose();
    }
}

/// <summary>A seekable stream, read from the position it had when the reader started.</summary>
internal sealed class StreamByteSource : ByteSource
{
    private readonly Stream _stream;
    private readonly long _origin;

    public StreamByteSource(Stream stream, string name)
        : base(name)
    {
        _stream = stream;
        _origin = stream.Position;
        Length = Math.Max(0, stream.Length - _origin);
    }

    public override long Length { get; }

    public override void ReadExactly(long offset, Span<byte> destination)
    {
        _stream.Position = _origin + offset;
        int got = _stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
        if (got < destination.Length) throw Shrunk(offset, got, destination.Length);
    }
}
