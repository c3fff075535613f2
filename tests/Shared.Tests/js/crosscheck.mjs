// Cross-check helper for Lab.Shared.Tests (MsgPackJsCrossCheckTests): encodes and decodes values with
// @msgpack/msgpack, the codec inside @microsoft/signalr-protocol-msgpack, so the C# side can compare bytes.
//
// stdin:  {"encode": [tagged...], "decode": ["hex"...]}
// stdout: {"encode": ["hex" | {"error": msg}], "decode": [{"value": tagged, "reencoded": "hex"} | {"error": msg}]}
//
// Tagged values: {"t":"nil"} {"t":"bool","v":b} {"t":"int","v":"decimal"} {"t":"f64","v":"16 hex digits of the bits"}
// {"t":"str","v":s} {"t":"bin","v":"hex"} {"t":"arr","v":[...]} {"t":"map","v":[[k,v],...]} (string keys)
// {"t":"date","ms":n} {"t":"ext","type":n,"v":"hex"}
import { encode, decode, ExtData } from "@msgpack/msgpack";

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const unhex = (text) => new Uint8Array(Buffer.from(text, "hex"));

function f64FromBits(bitsHex) {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt("0x" + bitsHex));
  return view.getFloat64(0);
}

function f64Bits(number) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, number);
  return view.getBigUint64(0).toString(16).padStart(16, "0");
}

function toJs(tagged) {
  switch (tagged.t) {
    case "nil": return null;
    case "bool": return tagged.v;
    case "int": return Number(tagged.v);
    case "f64": return f64FromBits(tagged.v);
    case "str": return tagged.v;
    case "bin": return unhex(tagged.v);
    case "arr": return tagged.v.map(toJs);
    case "map": {
      const object = {};
      for (const [key, value] of tagged.v) object[toJs(key)] = toJs(value);
      return object;
    }
    case "date": return new Date(tagged.ms);
    case "ext": return new ExtData(tagged.type, unhex(tagged.v));
    default: throw new Error("unknown tag " + tagged.t);
  }
}

function fromJs(value) {
  if (value === null || value === undefined) return { t: "nil" };
  if (typeof value === "boolean") return { t: "bool", v: value };
  if (typeof value === "number") {
    return Number.isInteger(value) && !Object.is(value, -0)
      ? { t: "int", v: BigInt(value).toString() }
      : { t: "f64", v: f64Bits(value) };
  }
  if (typeof value === "string") return { t: "str", v: value };
  if (value instanceof Uint8Array) return { t: "bin", v: hex(value) };
  if (Array.isArray(value)) return { t: "arr", v: value.map(fromJs) };
  if (value instanceof Date) return { t: "date", ms: value.getTime() };
  if (value instanceof ExtData) return { t: "ext", type: value.type, v: hex(value.data) };
  return { t: "map", v: Object.entries(value).map(([k, v]) => [fromJs(k), fromJs(v)]) };
}

function attempt(action) {
  try {
    return action();
  } catch (error) {
    return { error: String(error && error.message ? error.message : error) };
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const response = {
  encode: (request.encode ?? []).map((tagged) => attempt(() => hex(encode(toJs(tagged))))),
  decode: (request.decode ?? []).map((text) => attempt(() => {
    const value = decode(unhex(text));
    return { value: fromJs(value), reencoded: hex(encode(value)) };
  })),
};
process.stdout.write(JSON.stringify(response));
