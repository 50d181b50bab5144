using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Ttt.IO;

/// <summary>
/// The tensors of a safetensors file (<see href="https://github.com/huggingface/safetensors"/>): an ordered,
/// read-only map from name to <see cref="Tensor"/> in header order, plus the <c>__metadata__</c> strings.
/// <para>
/// Files are treated as untrusted. The whole header is validated before any tensor memory is allocated (structure,
/// dtypes, shapes, sizes, byte ranges that tile the data section exactly, unique names), so allocation sizes come
/// only from ranges the file really holds, and every defect surfaces as one <see cref="SafeTensorsFormatException"/>
/// naming the source and the problem.
/// </para>
/// <para>
/// <see cref="Load(string, DType?, bool)"/> and the <c>Read</c> overloads load every tensor at once;
/// <see cref="Open"/> validates the header and loads each tensor on first access (then caches it), keeping the file
/// open until <see cref="Dispose"/>. F32, F64 and I64 load as they are, F16 and BF16 widen exactly to float32, and
/// the other integer types and BOOL widen exactly to int64. Loaded tensors carry their file name in
/// <see cref="Tensor.Name"/>.
/// </para>
/// </summary>
public sealed partial class SafeTensorFile : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    private readonly SafeTensorLayout _layout;
    private readonly Dictionary<string, SafeTensorEntry> _entries;
    private readonly Dictionary<string, Tensor> _loaded = new(StringComparer.Ordinal);
    private readonly DType? _convertTo;
    private readonly bool _checkFinite;
    private readonly Lock _gate = new();
    private ByteSource? _source; // null once every tensor is loaded or the file is disposed

    private SafeTensorFile(string sourceName, SafeTensorLayout layout, ByteSource source, DType? convertTo, bool checkFinite)
    {
        SourceName = sourceName;
        _layout = layout;
        _source = source;
        _convertTo = convertTo;
        _checkFinite = checkFinite;
        _entries = new Dictionary<string, SafeTensorEntry>(layout.Entries.Count, StringComparer.Ordinal);
        foreach (var entry in layout.Entries) _entries.Add(entry.Name, entry);
    }

    // ---------------------------------------------------------------- opening

    /// <summary>Loads every tensor of the file at <paramref name="path"/>.</summary>
    /// <param name="path">The file to read.</param>
    /// <param name="convertTo">
    /// When set (<see cref="DType.Float32"/> or <see cref="DType.Float64"/>), floating-point tensors are converted
    /// to it; integer tensors stay int64, since their values are ids and counts, not weights.
    /// </param>
    /// <param name="checkFinite">When true, a NaN or infinity in any floating-point tensor is an error naming the tensor.</param>
    /// <exception cref="SafeTensorsFormatException">The file is not valid safetensors, or a requested check failed.</exception>
    public static SafeTensorFile Load(string path, DType? convertTo = null, bool checkFinite = false)
    {
        var file = Open(path, convertTo, checkFinite);
        try
        {
            file.LoadAll();
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Validates the header of the file at <paramref name="path"/> and keeps the file open; each tensor is read on
    /// first access. Dispose the result to close the file (tensors already read stay usable).
    /// </summary>
    /// <inheritdoc cref="Load(string, DType?, bool)"/>
    public static SafeTensorFile Open(string path, DType? convertTo = null, bool checkFinite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        CheckConvertTo(convertTo);
        var source = new FileByteSource(path);
        try
        {
            return FromSource(source, convertTo, checkFinite);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Loads every tensor from <paramref name="stream"/>, read from its current position to its end.</summary>
    /// <param name="stream">A readable stream; it stays open and is not disposed.</param>
    /// <param name="sourceName">Name used in error messages (a file name or URL, for example).</param>
    /// <param name="convertTo">See <see cref="Load(string, DType?, bool)"/>.</param>
    /// <param name="checkFinite">See <see cref="Load(string, DType?, bool)"/>.</param>
    /// <exception cref="SafeTensorsFormatException">The data is not valid safetensors, or a requested check failed.</exception>
    public static SafeTensorFile Read(Stream stream, string sourceName, DType? convertTo = null, bool checkFinite = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        CheckConvertTo(convertTo);
        if (!stream.CanSeek)
        {
            // The length must be known before the header is trusted; copying first keeps every allocation
            // proportional to bytes that really arrived rather than to a length the data claims.
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return Read(copy.GetBuffer().AsMemory(0, (int)copy.Length), sourceName, convertTo, checkFinite);
        }
        using var source = new StreamByteSource(stream, sourceName);
        var file = FromSource(source, convertTo, checkFinite);
        file.LoadAll();
        stream.Position = stream.Length;
        return file;
    }

    /// <summary>Loads every tensor from the bytes of a safetensors file.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="sourceName">Name used in error messages.</param>
    /// <param name="convertTo">See <see cref="Load(string, DType?, bool)"/>.</param>
    /// <param name="checkFinite">See <see cref="Load(string, DType?, bool)"/>.</param>
    /// <exception cref="SafeTensorsFormatException">The data is not valid safetensors, or a requested check failed.</exception>
    public static SafeTensorFile Read(ReadOnlyMemory<byte> bytes, string sourceName, DType? convertTo = null, bool checkFinite = false)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        CheckConvertTo(convertTo);
        using var source = new MemoryByteSource(bytes, sourceName);
        var file = FromSource(source, convertTo, checkFinite);
        file.LoadAll();
        return file;
    }

    private static void CheckConvertTo(DType? convertTo)
    {
        if (convertTo is { } target && !target.IsFloatingPoint())
            throw new ArgumentException($"convertTo must be float32 or float64 (it applies to floating-point tensors), not {target.Name()}", nameof(convertTo));
    }

    private static SafeTensorFile FromSource(ByteSource source, DType? convertTo, bool checkFinite)
    {
        Span<byte> prefix = stackalloc byte[SafeTensorHeader.PrefixBytes];
        if (source.Length >= SafeTensorHeader.PrefixBytes) source.ReadExactly(0, prefix);
        long headerLength = SafeTensorHeader.ReadHeaderLength(prefix, source.Length, source.Name);
        var header = new byte[headerLength];
        source.ReadExactly(SafeTensorHeader.PrefixBytes, header);
        long dataLength = source.Length - SafeTensorHeader.PrefixBytes - headerLength;
        var layout = SafeTensorHeader.Parse(header, dataLength, source.Name);
        return new SafeTensorFile(source.Name, layout, source, convertTo, checkFinite);
    }

    /// <summary>Reads every tensor not yet read (in file order, for sequential I/O), then releases the source.</summary>
    private void LoadAll()
    {
        lock (_gate)
        {
            var source = _source;
            ObjectDisposedException.ThrowIf(source is null, this);
            foreach (var entry in _layout.Entries.OrderBy(e => e.DataBegin))
                if (!_loaded.ContainsKey(entry.Name)) _loaded.Add(entry.Name, ReadEntry(source, entry));
            source.Dispose();
            _source = null;
        }
    }

    private Tensor ReadEntry(ByteSource source, SafeTensorEntry entry)
    {
        var target = entry.DType.IsFloatingPoint() && _convertTo is { } requested ? requested : entry.DType.NaturalDType();
        return SafeTensorDecoder.ReadTensor(source, _layout.DataStart, entry, target, _checkFinite);
    }

    // ---------------------------------------------------------------- contents

    /// <summary>Name of the source used in messages (the path given to <c>Load</c>/<c>Open</c>, or the name given to <c>Read</c>).</summary>
    public string SourceName { get; }

    /// <summary>The <c>__metadata__</c> strings of the header (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _layout.Metadata;

    /// <summary>The validated header entries, in header order.</summary>
    public IReadOnlyList<SafeTensorEntry> Entries => _layout.Entries;

    /// <summary>The header entry of <paramref name="name"/>, or null when the file has no such tensor.</summary>
    public SafeTensorEntry? FindEntry(string name) => _entries.GetValueOrDefault(name);

    /// <summary>Number of tensors.</summary>
    public int Count => _layout.Entries.Count;

    /// <summary>Tensor names in header order.</summary>
    public IEnumerable<string> Keys => _layout.Entries.Select(e => e.Name);

    /// <summary>The tensors in header order (reads any not yet read).</summary>
    public IEnumerable<Tensor> Values => _layout.Entries.Select(e => this[e.Name]);

    /// <summary>The tensor called <paramref name="name"/>, read on first access when the file was opened lazily.</summary>
    /// <exception cref="KeyNotFoundException">The file has no tensor of that name.</exception>
    /// <exception cref="ObjectDisposedException">The file was opened lazily, disposed, and this tensor was never read.</exception>
    public Tensor this[string name]
    {
        get
        {
            if (TryGetValue(name, out var tensor)) return tensor;
            var known = string.Join(", ", Keys.Take(5).Select(k => $"'{k}'"));
            throw new KeyNotFoundException($"{SourceName}: no tensor named '{name}' (the file holds {Count} tensors{(Count == 0 ? "" : $": {known}{(Count > 5 ? ", …" : "")}")})");
        }
    }

    /// <summary>True when the file has a tensor called <paramref name="key"/>.</summary>
    public bool ContainsKey(string key) => _entries.ContainsKey(key);

    /// <summary>The tensor called <paramref name="key"/> (read on first access), or false when there is none.</summary>
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out Tensor value)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_gate)
        {
            if (_loaded.TryGetValue(key, out value)) return true;
            if (!_entries.TryGetValue(key, out var entry)) return false;
            var source = _source;
            ObjectDisposedException.ThrowIf(source is null, this);
            value = ReadEntry(source, entry);
            _loaded.Add(key, value);
            return true;
        }
    }

    /// <summary>Name–tensor pairs in header order (reads any tensor not yet read).</summary>
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator()
    {
        foreach (var entry in _layout.Entries)
            yield return new KeyValuePair<string, Tensor>(entry.Name, this[entry.Name]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Closes the file of a lazily opened <see cref="SafeTensorFile"/>; tensors already read stay usable.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _source?.Dispose();
            _source = null;
        }
    }
}
