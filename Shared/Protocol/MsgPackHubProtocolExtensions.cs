using Lab.Shared.MsgPack;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Lab.Shared.Protocol;

public static class MsgPackHubProtocolExtensions
{
    /// <summary>
    /// Registers our "messagepack" protocol the way the official AddMessagePackProtocol does: one more
    /// IHubProtocol singleton; HubOptionsSetup then lists it in SupportedProtocols.
    /// </summary>
    public static TBuilder AddLabMessagePackProtocol<TBuilder>(this TBuilder builder, MsgPackSerializer? serializer = null)
        where TBuilder : ISignalRBuilder
    {
        var protocol = new MsgPackHubProtocol(serializer ?? new MsgPackSerializer());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHubProtocol, MsgPackHubProtocol>(_ => protocol));
        return builder;
    }
}
