namespace Lab.Shared.Protocol;

/// <summary>Message type ids of the hub protocol (HubProtocolConstants), the first element of every message array.</summary>
internal static class HubMessageIds
{
    public const int Invocation = 1;
    public const int StreamItem = 2;
    public const int Completion = 3;
    public const int StreamInvocation = 4;
    public const int CancelInvocation = 5;
    public const int Ping = 6;
    public const int Close = 7;
    public const int Ack = 8;
    public const int Sequence = 9;

    /// <summary>Completion result kinds.</summary>
    public const int ErrorResult = 1;
    public const int VoidResult = 2;
    public const int NonVoidResult = 3;
}
