using System.Text.Json.Serialization;

namespace Ttt.Data;

/// <summary>
/// Which of a data source's two streams to read. For a given seed the train and eval streams never share a
/// sample: synthetic tasks derive each sample's generator from (seed, split, index) injectively, and text corpora
/// take train windows and eval windows from disjoint ranges of the token stream.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<DataSplit>))]
public enum DataSplit
{
    /// <summary>The stream used for parameter updates.</summary>
    Train,

    /// <summary>The held-out stream used to measure loss and accuracy.</summary>
    Eval,
}
