import { describe, expect, it } from "vitest";
import { fromBase64, fromBase64Url, fromHex, sha256, toBase64, toBase64Url, toHex, utf8 } from "../src/index.js";

describe("hex", () => {
  it("round-trips and accepts either case", () => {
    expect(toHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe("0001abff");
    expect(Array.from(fromHex("0001ABff"))).toEqual([0, 1, 0xab, 0xff]);
    expect(fromHex("")).toHaveLength(0);
  });

  it("rejects odd lengths and non-hex characters", () => {
    for (const bad of ["abc", "zz", "0x00", "00 11", "0g"]) expect(() => fromHex(bad)).toThrow(TypeError);
  });
});

describe("base64", () => {
  const bytes = new Uint8Array([0xfb, 0xff, 0xbf, 0x01]);

  it("encodes standard with padding and url-safe without", () => {
    expect(toBase64(bytes)).toBe("+/+/AQ==");
    expect(toBase64Url(bytes)).toBe("-_-_AQ");
    expect(Array.from(fromBase64("+/+/AQ=="))).toEqual(Array.from(bytes));
    expect(Array.from(fromBase64Url("-_-_AQ"))).toEqual(Array.from(bytes));
  });

  it("rejects the other alphabet, missing or extra padding, junk and non-canonical bits", () => {
    for (const bad of ["-_-_AQ==", "+/+/AQ", "+/+/AQ=", "+/+/ AQ==", "+/+/AR=="]) {
      expect(() => fromBase64(bad)).toThrow(TypeError);
    }
    for (const bad of ["+/+/AQ", "-_-_AQ==", "-_-_A", "-_-_AR"]) expect(() => fromBase64Url(bad)).toThrow(TypeError);
  });
});

describe("sha256", () => {
  it("matches the FIPS 180-2 'abc' digest", () => {
    expect(toHex(sha256(utf8("abc")))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("hashes exactly a view's bytes, the empty input too, into a plain array of its own", () => {
    const view = new Uint8Array([0, 0x61, 0x62, 0x63, 0xff]).subarray(1, 4);
    const digest = sha256(view);
    expect(toHex(digest)).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(Buffer.isBuffer(digest)).toBe(false);
    expect(digest.byteOffset).toBe(0);
    expect(digest.buffer.byteLength).toBe(32);
    expect(toHex(sha256(new Uint8Array(0)))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});
