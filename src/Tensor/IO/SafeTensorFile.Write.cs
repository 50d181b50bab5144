using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Ttt.IO;

public sealed partial class SafeTensorFile
{
    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> atomically (see <see cref="AtomicFile.Write"/>):
    /// a reader never sees a half-written file under that name, and a failed save leaves any old file intact.
    /// </summary>
    /// <param name="path">Destination file; replaced if it exists.</param>
    /// <param name="tensors">
    /// Name–tensor pairs (a dictionary, a <see cref="SafeTensorFile"/> or an ordered list). Float32, float64 and
    /// int64 tensors of any layout and device are written as F32, F64 and I64 in row-major order. Names must be
    /// unique and must not be <c>__metadata__</c>.
    /// </param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings (omitted from the header when null or empty).</param>
    /// <remarks>
    /// The layout matches the reference files: header keys sorted by their UTF-8 bytes (the order Python's
    /// <c>sorted</c> and Rust give), <c>__metadata__</c> first, each entry as <c>{"dtype","shape","data_offsets"}</c>,
    /// the header padded with spaces to a multiple of 8 bytes, and the tensors' data contiguous in header order.
    /// The output therefore depends only on the names and values, not on the order they were given in.
    /// </remarks>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        // Everything that can be wrong with the arguments is checked before the temporary file exists.
        var plan = SafeTensorWritePlan.Create(tensors, metadata);
        AtomicFile.Write(path, plan.WriteTo);
    }

    /// <summary>Writes <paramref name="tensors"/> in safetensors format to <paramref name="destination"/> (left open).</summary>
    /// <param name="destination">A writable stream.</param>
    /// <param name="tensors">Name–tensor pairs, as for <see cref="Save"/>.</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings, as for <see cref="Save"/>.</param>
    /// <remarks>The bytes are exactly those <see cref="Save"/> writes to a file.</remarks>
    public static void Write(Stream destination, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        SafeTensorWritePlan.Create(tensors, metadata).WriteTo(destination);
    }
}

/// <summary>A checked, sorted set of tensors with its header already encoded.</summary>
internal sealed class SafeTensorWritePlan
{
    // Elements copied per chunk from a tensor to the stream; keeps the scratch buffer small for huge tensors.
    private const int ChunkElements = 1 << 16;

    // Strict: a name with a lone surrogate has no UTF-8 form; replacing it silently would rename the tensor.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _header;
    private readonly List<Tensor> _ordered;

    private SafeTensorWritePlan(byte[] header, List<Tensor> ordered)
    {
        _header = header;
        _ordered = ordered;
    }

    public static SafeTensorWritePlan Create(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var items = new List<(string Name, byte[] Utf8, Tensor Tensor)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            if (name is null) throw new ArgumentException("a tensor name is null", nameof(tensors));
            if (tensor is null) throw new ArgumentException($"tensor '{name}' is null", nameof(tensors));
            if (name == SafeTensorHeader.MetadataKey)
                throw new ArgumentException($"'{SafeTensorHeader.MetadataKey}' is reserved for the metadata map and cannot name a tensor", nameof(tensors));
            if (!seen.Add(name)) throw new ArgumentException($"tensor name '{name}' is given twice", nameof(tensors));
            tensor.Storage.ThrowIfDisposed();
            _ = SafeTensorDTypes.FromDType(tensor.DType);
            items.Add((name, Encode(name, "tensor name", nameof(tensors)), tensor));
        }
        items.Sort((a, b) => a.Utf8.AsSpan().SequenceCompareTo(b.Utf8));

        var json = new StringBuilder("{");
        if (metadata is { Count: > 0 })
        {
            var pairs = new List<(byte[] Utf8, string Key, string Value)>();
            foreach (var (key, value) in metadata)
            {
                if (key is null || value is null) throw new ArgumentException("metadata keys and values must not be null", nameof(metadata));
                _ = Encode(value, "metadata value", nameof(metadata));
                pairs.Add((Encode(key, "metadata key", nameof(metadata)), key, value));
            }
            pairs.Sort((a, b) => a.Utf8.AsSpan().SequenceCompareTo(b.Utf8));
            AppendString(json, SafeTensorHeader.MetadataKey).Append(":{");
            for (int i = 0; i < pairs.Count; i++)
            {
                if (i > 0) json.Append(',');
                AppendString(json, pairs[i].Key).Append(':');
                AppendString(json, pairs[i].Value);
            }
            json.Append('}');
            if (items.Count > 0) json.Append(',');
        }

        long offset = 0;
        for (int i = 0; i < items.Count; i++)
        {
            var tensor = items[i].Tensor;
            long bytes = tensor.Numel * tensor.DType.SizeOf();
            if (i > 0) json.Append(',');
            AppendString(json, items[i].Name);
            json.Append(CultureInfo.InvariantCulture, $":{{\"dtype\":\"{SafeTensorDTypes.FromDType(tensor.DType).HeaderName()}\",\"shape\":[");
            json.AppendJoin(',', tensor.ShapeArray());
            json.Append(CultureInfo.InvariantCulture, $"],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        json.Append('}');

        // The format allows trailing spaces in the header; padding to 8 bytes puts the data section (and so every
        // 8-byte element of a file whose tensors are 8-byte sized) on an aligned offset, as the reference files do.
        int jsonBytes = StrictUtf8.GetByteCount(json.ToString());
        int padded = (jsonBytes + 7) / 8 * 8;
        var header = new byte[SafeTensorHeader.PrefixBytes + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        StrictUtf8.GetBytes(json.ToString(), header.AsSpan(SafeTensorHeader.PrefixBytes));
        header.AsSpan(SafeTensorHeader.PrefixBytes + jsonBytes).Fill((byte)' ');
        return new SafeTensorWritePlan(header, items.ConvertAll(item => item.Tensor));
    }

    /// <summary>Writes the header and then every tensor's elements, little-endian, row-major.</summary>
    public void WriteTo(Stream destination)
    {
        destination.Write(_header);
        foreach (var tensor in _ordered)
        {
            switch (tensor.DType)
            {
                case DType.Float32: WriteElements<float>(destination, tensor); break;
                case DType.Float64: WriteElements<double>(destination, tensor); break;
                case DType.Int64: WriteElements<long>(destination, tensor); break;
                default: throw new ArgumentOutOfRangeException(nameof(destination), tensor.DType, "no safetensors type for this dtype");
            }
        }
    }

    private static void WriteElements<T>(Stream destination, Tensor tensor) where T : unmanaged
    {
        // Views (permuted, narrowed, broadcast) are written in logical row-major order, as the shape promises.
        var source = tensor.IsContiguous ? tensor : tensor.ContiguousRaw();
        long count = source.Numel;
        if (count == 0) return;
        T[] chunk = ArrayPool<T>.Shared.Rent((int)Math.Min(count, ChunkElements));
        try
        {
            for (long done = 0; done < count; done += ChunkElements)
            {
                var part = chunk.AsSpan(0, (int)Math.Min(ChunkElements, count - done));
                source.Backend.CopyToHost(source.Storage, source.Offset + done, part);
                if (!BitConverter.IsLittleEndian) ToLittleEndian(part);
                destination.Write(MemoryMarshal.AsBytes(part));
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(chunk);
        }
    }

    private static void ToLittleEndian<T>(Span<T> values) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<T, int>(values), MemoryMarshal.Cast<T, int>(values));
        else BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<T, long>(values), MemoryMarshal.Cast<T, long>(values));
    }

    private static byte[] Encode(string text, string what, string parameter)
    {
        try
        {
            return StrictUtf8.GetBytes(text);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"{what} '{text}' is not valid Unicode (it has an unpaired surrogate) and has no UTF-8 form", parameter, e);
        }
    }

    /// <summary>
    /// Appends a JSON string literal: quote, backslash and control characters escaped, everything else as is
    /// (UTF-8 in the file), which is what the reference writers produce.
    /// </summary>
    private static StringBuilder AppendString(StringBuilder json, string text)
    {
        json.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                default:
                    if (c < ' ') json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else json.Append(c);
                    break;
            }
        }
        return json.Append('"');
    }
}
