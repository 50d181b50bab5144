using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Ttt.IO;

/// <summary>A header that passed every check: entries in header order, metadata and where the data section lies.</summary>
internal sealed class SafeTensorLayout(IReadOnlyList<SafeTensorEntry> entries, IReadOnlyDictionary<string, string> metadata, long headerLength, long dataLength)
{
    /// <summary>Tensors in the order the header lists them.</summary>
    public IReadOnlyList<SafeTensorEntry> Entries { get; } = entries;

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; } = metadata;

    /// <summary>Bytes of header JSON (padding included) after the 8-byte length.</summary>
    public long HeaderLength { get; } = headerLength;

    /// <summary>File offset of the data section.</summary>
    public long DataStart => SafeTensorHeader.PrefixBytes + HeaderLength;

    /// <summary>Bytes of the data section; the tensors cover it exactly.</summary>
    public long DataLength { get; } = dataLength;
}

/// <summary>
/// Parses and validates the header of a safetensors file. Layout of the format: an unsigned 64-bit little-endian
/// header length N, N bytes of UTF-8 JSON (an object mapping tensor names to <c>{"dtype", "shape", "data_offsets"}</c>
/// plus an optional <c>"__metadata__"</c> string map, padded with spaces), then the data section, whose byte ranges
/// the tensors must cover exactly. Everything is checked here, before any tensor memory is allocated, so that the
/// sizes used for allocation are ones the file really backs.
/// </summary>
internal static class SafeTensorHeader
{
    /// <summary>Size of the header-length prefix.</summary>
    public const int PrefixBytes = 8;

    /// <summary>
    /// Largest header accepted. The format's reference implementation uses the same 100 MB bound: real headers are
    /// kilobytes (a few hundred bytes per tensor), so anything larger is corruption, and the bound caps what a
    /// hostile length prefix can make the reader allocate.
    /// </summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Largest element count of a CPU tensor (<c>CpuStorage</c> pads arrays by up to 64 bytes for alignment).</summary>
    public static readonly long MaxElements = (long)Array.MaxLength - 64;

    /// <summary>The reserved key of the string-to-string metadata map.</summary>
    public const string MetadataKey = "__metadata__";

    // Valid headers nest three levels (root, entry, shape array); the bound stops pathological nesting early with
    // the parser's own clear message instead of walking deep garbage.
    private static readonly JsonDocumentOptions ParseOptions = new()
    {
        MaxDepth = 16,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
    };

    /// <summary>Reads and checks the header length from the first 8 bytes of a file of <paramref name="totalLength"/> bytes.</summary>
    public static long ReadHeaderLength(ReadOnlySpan<byte> prefix, long totalLength, string source)
    {
        if (totalLength < PrefixBytes)
            throw Fail(source, $"the file holds {totalLength} bytes, fewer than the {PrefixBytes}-byte header length that starts every safetensors file");
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        long available = totalLength - PrefixBytes;
        if (declared > (ulong)available)
            throw Fail(source, $"the header length {declared} is larger than the {available} bytes that follow it (file size {totalLength}); the file is truncated or is not safetensors");
        if (declared > MaxHeaderBytes)
            throw Fail(source, $"the header length {declared} exceeds the {MaxHeaderBytes}-byte limit for a safetensors header; the file is corrupt or is not safetensors");
        return (long)declared;
    }

    /// <summary>Validates the header JSON against a data section of <paramref name="dataLength"/> bytes.</summary>
    public static SafeTensorLayout Parse(ReadOnlyMemory<byte> header, long dataLength, string source)
    {
        var bytes = header.Span;
        if (bytes.IsEmpty)
            throw Fail(source, "the header length is 0; the header must be a JSON object");
        if (bytes[0] != (byte)'{')
            throw Fail(source, $"the header starts with byte 0x{bytes[0]:X2}, not '{{'; the format requires the header to start with its JSON object");
        int invalid = FirstInvalidUtf8(bytes);
        if (invalid >= 0)
            throw Fail(source, $"the header is not valid UTF-8 (byte 0x{bytes[invalid]:X2} at header offset {invalid} starts an invalid sequence)");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, ParseOptions);
        }
        catch (JsonException e)
        {
            throw Fail(source, $"the header is not valid JSON: {e.Message}", null, e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(source, $"the header is a JSON {KindName(root.ValueKind)}, not an object");

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<SafeTensorEntry>();
            IReadOnlyDictionary<string, string> metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                string name = KeyOf(property, source, "a key of the header");
                // JSON allows duplicate keys and most parsers silently keep the last one; two descriptions of one
                // tensor would make the file mean different things to different readers, so it is an error.
                if (!seen.Add(name))
                {
                    throw name == MetadataKey
                        ? Fail(source, $"'{MetadataKey}' appears twice in the header (duplicate JSON key)")
                        : Fail(source, $"tensor '{Clip(name)}' appears twice in the header (duplicate JSON key); tensor names must be unique", name);
                }
                if (name == MetadataKey) metadata = ParseMetadata(property.Value, source);
                else entries.Add(ParseEntry(name, property.Value, dataLength, source));
            }
            CheckCoverage(entries, dataLength, source);
            return new SafeTensorLayout(entries, metadata, header.Length, dataLength);
        }
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement value, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(source, $"'{MetadataKey}' is a JSON {KindName(value.ValueKind)}, not an object mapping strings to strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            string key = KeyOf(property, source, $"a key of '{MetadataKey}'");
            if (property.Value.ValueKind != JsonValueKind.String)
                throw Fail(source, $"'{MetadataKey}' entry '{Clip(key)}' is a JSON {KindName(property.Value.ValueKind)}; metadata values must be strings");
            if (!metadata.TryAdd(key, StringOf(property.Value, source, $"the value of '{MetadataKey}' entry '{Clip(key)}'")))
                throw Fail(source, $"'{MetadataKey}' has the key '{Clip(key)}' twice (duplicate JSON key)");
        }
        return metadata;
    }

    private static SafeTensorEntry ParseEntry(string name, JsonElement value, long dataLength, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Fail(source, $"tensor '{Clip(name)}' is described by a JSON {KindName(value.ValueKind)}, not an object with dtype, shape and data_offsets", name);

        JsonElement? dtypeField = null, shapeField = null, offsetsField = null;
        foreach (var field in value.EnumerateObject())
        {
            string key = KeyOf(field, source, $"a field name of tensor '{Clip(name)}'");
            ref JsonElement? slot = ref dtypeField;
            if (key == "dtype") slot = ref dtypeField;
            else if (key == "shape") slot = ref shapeField;
            else if (key == "data_offsets") slot = ref offsetsField;
            else
                throw Fail(source, $"tensor '{Clip(name)}' has an unexpected field '{Clip(key)}' (allowed: dtype, shape, data_offsets)", name);
            if (slot is not null)
                throw Fail(source, $"tensor '{Clip(name)}' has the field '{Clip(key)}' twice (duplicate JSON key)", name);
            slot = field.Value;
        }
        if (dtypeField is null) throw Fail(source, $"tensor '{Clip(name)}' lacks the 'dtype' field", name);
        if (shapeField is null) throw Fail(source, $"tensor '{Clip(name)}' lacks the 'shape' field", name);
        if (offsetsField is null) throw Fail(source, $"tensor '{Clip(name)}' lacks the 'data_offsets' field", name);

        var dtype = ParseDType(name, dtypeField.Value, source);
        var shape = ParseShape(name, shapeField.Value, source);
        long elements = ElementCount(name, shape, source);
        long bytesNeeded = ByteCount(name, shape, elements, dtype, source);
        var (begin, end) = ParseOffsets(name, offsetsField.Value, dataLength, source);

        if (end - begin != bytesNeeded)
        {
            throw Fail(source,
                $"tensor '{Clip(name)}' declares shape {ShapeUtil.Format(shape)} ({elements} element{(elements == 1 ? "" : "s")} = {bytesNeeded} bytes as {dtype.HeaderName()}) " +
                $"but its byte range [{begin}, {end}) holds {end - begin} bytes", name);
        }
        if (elements > MaxElements)
            throw Fail(source, $"tensor '{Clip(name)}' has {elements} elements, more than the largest tensor this engine can hold ({MaxElements})", name);
        return new SafeTensorEntry(name, dtype, shape, elements, begin, end);
    }

    private static SafeTensorDType ParseDType(string name, JsonElement value, string source)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw Fail(source, $"tensor '{Clip(name)}': 'dtype' is a JSON {KindName(value.ValueKind)}, not a string such as \"F32\"", name);
        string text = StringOf(value, source, $"the dtype of tensor '{Clip(name)}'");
        if (SafeTensorDTypes.TryParse(text, out var dtype)) return dtype;
        throw SafeTensorDTypes.IsKnownButUnsupported(text)
            ? Fail(source, $"tensor '{Clip(name)}' has dtype '{Clip(text)}', which this reader does not support (supported: {SafeTensorDTypes.SupportedNames})", name)
            : Fail(source, $"tensor '{Clip(name)}' has unknown dtype '{Clip(text)}' (supported: {SafeTensorDTypes.SupportedNames}; names are upper case)", name);
    }

    private static int[] ParseShape(string name, JsonElement value, string source)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw Fail(source, $"tensor '{Clip(name)}': 'shape' is a JSON {KindName(value.ValueKind)}, not an array of dimension sizes", name);
        var shape = new int[value.GetArrayLength()];
        int i = 0;
        foreach (var dim in value.EnumerateArray())
        {
            long size = NonNegativeInteger(dim, $"dimension {i} of tensor '{Clip(name)}'", name, source);
            if (size > int.MaxValue)
                throw Fail(source, $"dimension {i} of tensor '{Clip(name)}' is {size}, larger than the largest dimension this engine supports ({int.MaxValue})", name);
            shape[i++] = (int)size;
        }
        return shape;
    }

    private static long ElementCount(string name, int[] shape, string source)
    {
        // Any zero dimension makes the tensor empty whatever the other sizes are, so it is checked before the
        // overflow test (which would otherwise reject a legitimately empty [huge, huge, 0]).
        if (shape.Contains(0)) return 0;
        long count = 1;
        foreach (int size in shape)
        {
            if (count > long.MaxValue / size)
                throw Fail(source, $"tensor '{Clip(name)}' has shape {ShapeUtil.Format(shape)}, whose element count overflows a 64-bit integer", name);
            count *= size;
        }
        return count;
    }

    private static long ByteCount(string name, int[] shape, long elements, SafeTensorDType dtype, string source)
    {
        int size = dtype.ElementSize();
        if (elements > long.MaxValue / size)
            throw Fail(source, $"tensor '{Clip(name)}' has shape {ShapeUtil.Format(shape)} ({elements} elements), whose size in bytes as {dtype.HeaderName()} overflows a 64-bit integer", name);
        return elements * size;
    }

    private static (long Begin, long End) ParseOffsets(string name, JsonElement value, long dataLength, string source)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw Fail(source, $"tensor '{Clip(name)}': 'data_offsets' is a JSON {KindName(value.ValueKind)}, not an array [begin, end]", name);
        int count = value.GetArrayLength();
        if (count != 2)
            throw Fail(source, $"tensor '{Clip(name)}': 'data_offsets' has {count} values; it must be [begin, end]", name);
        long begin = NonNegativeInteger(value[0], $"the begin offset of tensor '{Clip(name)}'", name, source);
        long end = NonNegativeInteger(value[1], $"the end offset of tensor '{Clip(name)}'", name, source);
        if (begin > end)
            throw Fail(source, $"tensor '{Clip(name)}': data_offsets [{begin}, {end}] has its begin after its end", name);
        if (end > dataLength)
            throw Fail(source, $"tensor '{Clip(name)}': byte range [{begin}, {end}) lies outside the data section, which holds {dataLength} bytes", name);
        return (begin, end);
    }

    /// <summary>
    /// The tensors' byte ranges, sorted, must tile the data section exactly: no overlap (two tensors aliasing the
    /// same bytes), no gap and no tail (bytes nobody owns, which PyTorch's loader rejects and which could hide data).
    /// </summary>
    private static void CheckCoverage(List<SafeTensorEntry> entries, long dataLength, string source)
    {
        var sorted = entries.OrderBy(e => e.DataBegin).ThenBy(e => e.DataEnd).ToList();
        long covered = 0;
        SafeTensorEntry? owner = null; // the entry whose range ends at `covered`
        foreach (var entry in sorted)
        {
            if (entry.DataBegin < covered)
            {
                throw Fail(source,
                    $"tensors '{Clip(owner!.Name)}' (bytes [{owner.DataBegin}, {owner.DataEnd})) and '{Clip(entry.Name)}' (bytes [{entry.DataBegin}, {entry.DataEnd})) overlap; each byte of the data section must belong to one tensor",
                    entry.Name);
            }
            if (entry.DataBegin > covered)
            {
                throw owner is null
                    ? Fail(source, $"bytes [0, {entry.DataBegin}) of the data section belong to no tensor (the first tensor, '{Clip(entry.Name)}', starts at byte {entry.DataBegin}); the format forbids unused bytes", entry.Name)
                    : Fail(source, $"bytes [{covered}, {entry.DataBegin}) of the data section, between tensors '{Clip(owner.Name)}' and '{Clip(entry.Name)}', belong to no tensor; the format forbids unused bytes", entry.Name);
            }
            if (entry.DataEnd > covered || owner is null)
            {
                covered = entry.DataEnd;
                owner = entry;
            }
        }
        if (covered != dataLength)
        {
            throw entries.Count == 0
                ? Fail(source, $"the header lists no tensors but {dataLength} data bytes follow it; the format forbids unused bytes")
                : Fail(source, $"the last {dataLength - covered} bytes of the data section (bytes [{covered}, {dataLength})) belong to no tensor; the format forbids unused bytes");
        }
    }

    private static long NonNegativeInteger(JsonElement value, string what, string tensor, string source)
    {
        if (value.ValueKind != JsonValueKind.Number)
            throw Fail(source, $"{what} is a JSON {KindName(value.ValueKind)}, not an integer", tensor);
        if (value.TryGetInt64(out long result))
        {
            if (result < 0) throw Fail(source, $"{what} is negative ({result})", tensor);
            return result;
        }
        string raw = value.GetRawText();
        bool integral = !raw.AsSpan().ContainsAny('.', 'e', 'E');
        if (!integral) throw Fail(source, $"{what} is {Clip(raw)}, not an integer", tensor);
        throw raw.StartsWith('-')
            ? Fail(source, $"{what} is negative ({Clip(raw)})", tensor)
            : Fail(source, $"{what} is {Clip(raw)}, too large for a 64-bit size", tensor);
    }

    private static string KeyOf(JsonProperty property, string source, string what)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException e)
        {
            // Escapes such as a lone "\ud800" are valid JSON syntax but no valid string.
            throw Fail(source, $"{what} is not a valid string: {e.Message}", null, e);
        }
    }

    private static string StringOf(JsonElement value, string source, string what)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw Fail(source, $"{what} is not a valid string: {e.Message}", null, e);
        }
    }

    /// <summary>Offset of the first byte that does not start a valid UTF-8 sequence, or -1 when all is valid.</summary>
    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return -1;
        int position = 0;
        while (position < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes[position..], out _, out int consumed) != OperationStatus.Done) return position;
            position += consumed;
        }
        return -1;
    }

    private static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Shortens text quoted from the file so that a hostile header cannot make a message megabytes long.</summary>
    private static string Clip(string text) =>
        text.Length <= 200 ? text : string.Create(CultureInfo.InvariantCulture, $"{text.AsSpan(0, 160)}… ({text.Length} characters)");

    private static SafeTensorsFormatException Fail(string source, string problem, string? tensor = null, Exception? inner = null) =>
        new(source, problem, tensor, inner);
}
