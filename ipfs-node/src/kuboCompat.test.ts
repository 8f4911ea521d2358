/**
 * CID compatibility with Kubo: content added to this node must get the CID Kubo gives the same
 * bytes with the same flags, or a scene added through one and fetched through the other would
 * not be found.
 *
 * Single-block files and folders are checked against CIDs that Kubo itself printed (its sharness
 * fixtures and well-known `ipfs add` outputs). Multi-chunk files are checked against a DAG built
 * here from the UnixFS and dag-pb specifications with hand-written protobuf (no ipfs-unixfs,
 * no importer), following go-unixfs' balanced builder: fixed-size chunks, at most 174 links per
 * node, leaves as UnixFS `file` nodes (or raw blocks with `raw-leaves`), each parent listing its
 * children's sizes in `blocksizes` and their whole sub-DAG sizes in the links' Tsize.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, type KuboRPCClient } from "kubo-rpc-client";
import { CID } from "multiformats/cid";
import { startIpfsNode, type IpfsNode } from "./index.ts";

let node: IpfsNode;
let client: KuboRPCClient;
let repoDir: string;

before(async () => {
  repoDir = await mkdtemp(join(tmpdir(), "tessellate-ipfs-compat-"));
  node = await startIpfsNode({ repoDir, apiPort: 0, gatewayPort: 0 });
  client = create({ url: node.apiUrl });
});

after(async () => {
  await node.stop();
  await rm(repoDir, { recursive: true, force: true });
});

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

test("single-block files get the CIDs Kubo printed for them", async () => {
  const known: [content: Uint8Array, options: { cidVersion?: 0 | 1 }, kuboCid: string][] = [
    // `echo "hello world" | ipfs add` (CIDv0, default chunker, no raw leaves)
    [text("hello world\n"), {}, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"],
    // `printf "hello world" | ipfs add` and `… --cid-version=1` (a raw leaf)
    [text("hello world"), {}, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"],
    [text("hello world"), { cidVersion: 1 }, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"],
    // Kubo's sharness fixtures t0114 (`echo hello`), t0124 (`echo "Hello IPFS"`), t0040, test-filestore-lib
    [text("hello\n"), {}, "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"],
    [text("hello\n"), { cidVersion: 1 }, "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"],
    [text("Hello IPFS\n"), { cidVersion: 1 }, "bafkreidfdrlkeq4m4xnxuyx6iae76fdm4wgl5d4xzsb77ixhyqwumhz244"],
    [text("some content\n"), {}, "Qmb1EXrDyKhNWfvLPYK4do3M9nU7BuLAcbqBir6aUrDsRY"],
    [text("Hello Worlds!\n"), {}, "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH"],
    // empty file, and exactly one full 256 KiB chunk of zeros
    [new Uint8Array(0), {}, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"],
    [new Uint8Array(262_144), {}, "QmRk1rduJvo5DfEYAaLobS2za9tDszk35hzaNSDCJ74DA7"],
  ];
  for (const [content, options, kuboCid] of known) {
    const added = await client.add(content, { ...options, pin: false });
    assert.equal(added.cid.toString(), kuboCid, `${content.byteLength} bytes with ${JSON.stringify(options)}`);
  }
});

test("multi-chunk files get the CID of Kubo's balanced DAG", async () => {
  // The builder itself reproduces CIDs Kubo printed, before it is trusted for larger files.
  assert.equal(balancedFileCid(text("hello world\n"), { chunkSize: 262_144, cidVersion: 0, rawLeaves: false }), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
  assert.equal(balancedFileCid(new Uint8Array(262_144), { chunkSize: 262_144, cidVersion: 0, rawLeaves: false }), "QmRk1rduJvo5DfEYAaLobS2za9tDszk35hzaNSDCJ74DA7");
  assert.equal(balancedFileCid(new Uint8Array(0), { chunkSize: 262_144, cidVersion: 0, rawLeaves: false }), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");

  const bytes = pattern(600_000); // three chunks of the default 262144-byte chunker
  const cases: { options: { cidVersion?: 0 | 1; rawLeaves?: boolean; chunker?: string }; layout: Layout }[] = [
    { options: {}, layout: { chunkSize: 262_144, cidVersion: 0, rawLeaves: false } },
    { options: { cidVersion: 1 }, layout: { chunkSize: 262_144, cidVersion: 1, rawLeaves: true } },
    { options: { cidVersion: 1, rawLeaves: false }, layout: { chunkSize: 262_144, cidVersion: 1, rawLeaves: false } },
  ];
  for (const { options, layout } of cases) {
    const added = await client.add(bytes, { ...options, pin: false });
    assert.equal(added.cid.toString(), balancedFileCid(bytes, layout), JSON.stringify(options));
  }
  // 201 chunks of 1 KiB: more than 174 links, so the DAG has two levels of parents.
  const deep = pattern(200 * 1024 + 1);
  const added = await client.add(deep, { cidVersion: 1, chunker: "size-1024", pin: false });
  assert.equal(added.cid.toString(), balancedFileCid(deep, { chunkSize: 1024, cidVersion: 1, rawLeaves: true }));
  const legacy = await client.add(deep, { chunker: "size-1024", pin: false });
  assert.equal(legacy.cid.toString(), balancedFileCid(deep, { chunkSize: 1024, cidVersion: 0, rawLeaves: false }));
});

test("folders get the CIDs Kubo printed for them (ipfs add -r, -w)", async () => {
  // Kubo sharness t0114: `ipfs add -Qr --cid-version 1 testdirlisting`
  const listing = [
    { path: "testdirlisting" },
    { path: "testdirlisting/api" },
    { path: "testdirlisting/api/file.txt", content: text("I am a txt file\n") },
    { path: "testdirlisting/hello", content: text("hello\n") },
    { path: "testdirlisting/ipfs" },
    { path: "testdirlisting/ipfs/file.txt", content: text("I am a txt file\n") },
    { path: "testdirlisting/ipfs/ipns" },
    { path: "testdirlisting/ipfs/ipns/bar", content: text("text-file-content\n") },
  ];
  const results = new Map<string, string>();
  for await (const entry of client.addAll(listing, { cidVersion: 1, pin: false })) results.set(entry.path, entry.cid.toString());
  assert.equal(results.get("testdirlisting"), "bafybeiht6dtwk3les7vqm6ibpvz6qpohidvlshsfyr7l5mpysdw2vmbbhe");

  // The empty folder, Kubo's best-known CIDs (`ipfs object new unixfs-dir`, and in CIDv1).
  const [emptyV0] = await all(client.addAll([{ path: "empty" }], { pin: false }));
  assert.equal(emptyV0?.cid.toString(), "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  const [emptyV1] = await all(client.addAll([{ path: "empty" }], { cidVersion: 1, pin: false }));
  assert.equal(emptyV1?.cid.toString(), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");

  // Kubo sharness t0116: `ipfs add -Qrw --cid-version 1 root2`
  const nested = [
    { path: "root2" },
    { path: "root2/root3" },
    { path: "root2/root3/root4" },
    { path: "root2/root3/root4/index.html", content: text("hello\n") },
  ];
  const wrapped = new Map<string, string>();
  for await (const entry of client.addAll(nested, { cidVersion: 1, wrapWithDirectory: true, pin: false })) wrapped.set(entry.path, entry.cid.toString());
  assert.equal(wrapped.get(""), "bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui");
  assert.equal(wrapped.get("root2"), "bafybeih2w7hjocxjg6g2ku25hvmd53zj7og4txpby3vsusfefw5rrg5sii");
  assert.equal(wrapped.get("root2/root3/root4/index.html"), "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am");
});

// ---- an independent builder of Kubo's balanced file DAG ----------------------------------

interface Layout {
  chunkSize: number;
  cidVersion: 0 | 1;
  rawLeaves: boolean;
}

interface DagNode {
  cid: CID;
  /** Bytes of file content below this node. */
  fileSize: number;
  /** Serialized size of this node and everything below it (a link's Tsize). */
  dagSize: number;
}

const MAX_LINKS = 174;
const DAG_PB = 0x70;
const RAW = 0x55;

function balancedFileCid(bytes: Uint8Array, layout: Layout): string {
  const leaves: DagNode[] = [];
  for (let offset = 0; offset < bytes.byteLength || offset === 0; offset += layout.chunkSize) {
    const chunk = bytes.subarray(offset, offset + layout.chunkSize);
    if (layout.rawLeaves) {
      leaves.push({ cid: cidOf(1, RAW, chunk), fileSize: chunk.byteLength, dagSize: chunk.byteLength });
    } else {
      const block = pbNode([], unixfsFile({ data: chunk, fileSize: chunk.byteLength }));
      leaves.push({ cid: cidOf(layout.cidVersion, DAG_PB, block), fileSize: chunk.byteLength, dagSize: block.byteLength });
    }
    if (bytes.byteLength === 0) break;
  }
  // One chunk: the leaf is the file. More: parents of up to 174 children, level by level.
  let level = leaves;
  while (level.length > 1) {
    const parents: DagNode[] = [];
    for (let start = 0; start < level.length; start += MAX_LINKS) {
      const children = level.slice(start, start + MAX_LINKS);
      const fileSize = children.reduce((sum, child) => sum + child.fileSize, 0);
      const data = unixfsFile({ fileSize, blockSizes: children.map((child) => child.fileSize) });
      const block = pbNode(children.map((child) => ({ cid: child.cid, tsize: child.dagSize })), data);
      parents.push({ cid: cidOf(layout.cidVersion, DAG_PB, block), fileSize, dagSize: block.byteLength + children.reduce((sum, child) => sum + child.dagSize, 0) });
    }
    level = parents;
  }
  return level[0]!.cid.toString();
}

function cidOf(version: 0 | 1, codec: number, block: Uint8Array): CID {
  const digest = createHash("sha256").update(block).digest();
  const multihash = Uint8Array.from([0x12, 0x20, ...digest]);
  return version === 0 ? CID.decode(multihash) : CID.decode(Uint8Array.from([0x01, ...varint(codec), ...multihash]));
}

/** unixfs.proto Data: Type=File (field 1), Data (2, absent when empty), filesize (3), blocksizes (4, unpacked). */
function unixfsFile(fields: { data?: Uint8Array; fileSize: number; blockSizes?: number[] }): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(0x08, 0x02)];
  if (fields.data !== undefined && fields.data.byteLength > 0) parts.push(Uint8Array.of(0x12, ...varint(fields.data.byteLength)), fields.data);
  parts.push(Uint8Array.of(0x18, ...varint(fields.fileSize)));
  for (const size of fields.blockSizes ?? []) parts.push(Uint8Array.of(0x20, ...varint(size)));
  return Buffer.concat(parts);
}

/** dag-pb PBNode in canonical order: Links (field 2: Hash=1, Name=2, Tsize=3) first, then Data (1). */
function pbNode(links: { cid: CID; tsize: number }[], data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const link of links) {
    const body = Buffer.concat([Uint8Array.of(0x0a, ...varint(link.cid.bytes.byteLength)), link.cid.bytes, Uint8Array.of(0x12, 0x00, 0x18, ...varint(link.tsize))]);
    parts.push(Uint8Array.of(0x12, ...varint(body.byteLength)), body);
  }
  parts.push(Uint8Array.of(0x0a, ...varint(data.byteLength)), data);
  return Buffer.concat(parts);
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** Deterministic bytes that do not repeat at chunk boundaries. */
function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index += 1) bytes[index] = (index * 7 + (index >> 10)) % 251;
  return bytes;
}
