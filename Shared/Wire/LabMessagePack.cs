using MessagePack;
using MessagePack.Resolvers;

namespace Lab.Shared.Wire;

/// <summary>
/// The MessagePack options every end of the hub uses (server and .NET client alike), given to SignalR's
/// MessagePack protocol (<c>AddMessagePackProtocol(o => o.SerializerOptions = LabMessagePack.Options)</c>).
/// </summary>
public static class LabMessagePack
{
    /// <summary>Nesting deeper than any Lab message (a Frame holds objects holding arrays: depth 4) is refused.</summary>
    public const int MaxDepth = 16;

    /// <summary>
    /// Attribute-keyed objects (our wire types), enums as integers, and the security profile for data from
    /// strangers: hash-flooding-resistant dictionaries and <see cref="MaxDepth"/>. Collection sizes are
    /// bounded by the bytes actually present (the reader refuses a header that claims more elements than
    /// the message has bytes) and the message itself by the server's MaximumReceiveMessageSize.
    /// Immutable, so one instance is shared by every connection.
    /// </summary>
    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(StandardResolver.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(MaxDepth));
}
