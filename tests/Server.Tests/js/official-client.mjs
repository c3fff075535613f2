// Drives the Lab server with the official SignalR JavaScript client and its MessagePack protocol,
// exactly as a third-party web client would. Prints one JSON object with what it observed and exits 0;
// any failure prints the error and exits 1. Usage: node official-client.mjs http://127.0.0.1:PORT
import * as signalR from "@microsoft/signalr";
import { MessagePackHubProtocol } from "@microsoft/signalr-protocol-msgpack";

const base = process.argv[2];
const result = {};
const conn = new signalR.HubConnectionBuilder()
  .withUrl(`${base}/hubs/lab`, { transport: signalR.HttpTransportType.WebSockets })
  .withHubProtocol(new MessagePackHubProtocol())
  .configureLogging(signalR.LogLevel.Warning)
  .build();

// Wire format 2: every Lab type is an array indexed by its documented keys (docs/PROTOCOL.md).
let frames = 0;
let firstFrame = null;
let gotFrame;
const frameArrived = new Promise(resolve => (gotFrame = resolve));
let madeStatus = null;
let gotMadeFrame;
const madeFrameArrived = new Promise(resolve => (gotMadeFrame = resolve));
conn.on("Frame", frame => {
  frames++;
  if (!firstFrame) { firstFrame = frame; gotFrame(); }
  if (frame[9] && frame[9][0] === "js-made") { madeStatus = frame[9]; gotMadeFrame(); }   // key 9 = Status, its key 0 = Name
});

const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms));

try {
  await conn.start();
  const sessions = await conn.invoke("ListSessions");
  result.sessions = sessions.map(s => s[0]);            // key 0 = Name
  const join = await conn.invoke("Join", "demo", "js-viewer", null);
  result.role = join[1];                                 // key 1 = Role (0 = viewer)
  await Promise.race([frameArrived, timeout(30000, "the first frame")]);
  result.firstFrameFull = firstFrame[1];                 // key 1 = Full
  result.screenBytes = firstFrame[4]?.length ?? 0;       // key 4 = Screen (Uint8Array)
  result.tick = Number(firstFrame[2]);
  try {
    await conn.invoke("Key", "f");
    result.keyError = null;
  } catch (e) {
    result.keyError = String(e.message ?? e);
  }
  try {
    await conn.invoke("NoSuchMethod");
    result.unknownMethodError = null;
  } catch (e) {
    result.unknownMethodError = String(e.message ?? e);
  }
  result.framesSoFar = frames;
  result.frameIsArray = Array.isArray(firstFrame) && Array.isArray(join);
  // CreateSessionOptions written by JS as the documented array: Name, Program, Step, Profile, Private, MemoryMiB.
  const created = await conn.invoke("CreateSession", ["js-made", "fork", "3", "weensyos", true, 0]);
  result.createdName = created[0];
  result.joinCode = created[2];
  const prof = await conn.invoke("Join", "js-made", "js-prof", created[1]);    // the instructor key
  result.madeRole = prof[1];
  await Promise.race([madeFrameArrived, timeout(30000, "a frame of js-made")]);
  result.madeProgram = madeStatus[1];
  result.madeStep = madeStatus[2];
  // Info: the instructor reads the key and join code again (SessionInfo keys 8 and 9); `info` says the same as text.
  const info = await conn.invoke("Info");
  result.infoKeyMatches = info[9] === created[1];
  result.infoCodeMatches = info[8] === created[2];
  result.infoText = await conn.invoke("Command", "info");

  // A student joins with the code, rejoins from a new connection with its token (JoinResult key 4), and is removed.
  const student = new signalR.HubConnectionBuilder()
    .withUrl(`${base}/hubs/lab`, { transport: signalR.HttpTransportType.WebSockets })
    .withHubProtocol(new MessagePackHubProtocol())
    .configureLogging(signalR.LogLevel.Warning)
    .build();
  let gotRemoved;
  const removedArrived = new Promise(resolve => (gotRemoved = resolve));
  student.on("Frame", () => {});
  student.on("Removed", by => gotRemoved(by));
  await student.start();
  const studentFirst = await student.invoke("Join", "js-made", "js-student", created[2]);
  const studentAgain = await student.invoke("Rejoin", "js-made", "js-student", null, studentFirst[4]);
  result.rejoinSameId = studentAgain[2] === studentFirst[2] && typeof studentFirst[4] === "string" && studentFirst[4].length > 0;
  result.removeAnswer = await conn.invoke("Command", `remove ${studentAgain[2]}`);
  result.removedBy = await Promise.race([removedArrived, timeout(30000, "the Removed call")]);
  try {
    await student.invoke("Info");
    result.afterRemoval = null;
  } catch (e) {
    result.afterRemoval = String(e.message ?? e);
  }
  await student.stop();
  await conn.stop();
  console.log(JSON.stringify(result));
  process.exit(0);
} catch (e) {
  console.error(`official client failed: ${e?.stack ?? e}`);
  process.exit(1);
}
