/**
 * Several claimed tiles of one job, started together, rendered in one engine call.
 *
 * A provider usually holds several tiles of the same job and frames at once (one claim of count k
 * returns k slots); rendered one by one, each pays an engine launch and a scene load (Blender
 * ~0.6 CPU-s just to start). The worker starts one `render` per replica as before — each with its
 * own state transitions, lease watchdog, upload, digest and commit — and gives the replicas it
 * starts together one TileGroup: each member's render hands its render input to the group instead
 * of calling `renderSegment`, and once every member has arrived (or left: its render ended before
 * it, e.g. its replica changed on-chain) the group renders them all with `renderSegmentsTogether`
 * and gives each its own result. A group takes one render slot or more (render.ts tilesPerSlot: a
 * slot holds limits.tilesPerRender tiles of one job, more up to limits.maxTilesPerRender when the
 * engine's launch dominates a tile's estimated render, as many as its lease leaves room for) and renders
 * with those slots' threads, so a node with one render slot still renders the tiles it holds of
 * one job and frame range in one engine process.
 *
 * When the group's render fails, every member whose render was not aborted renders its tile on its
 * own (`renderSegment`, as without grouping), so a tile's error is its own: one bad tile does not
 * fail the others, and a replica is given back for its own reason. A member aborted while it waits
 * (lease, settled, shutdown) leaves the group at once; one aborted during the group's render stops
 * that render (the engine process is killed), and the others render alone.
 */
import type { Logger } from "../ports.ts";
import { renderSegment, renderSegmentsTogether, type RenderedSegment, type RenderSegmentInput } from "./renderSegment.ts";

/** What one member's render sees of its group. */
export interface TileGroupMember {
  /** Renders this member's tile with the others'; resolves with its own result. */
  render(input: RenderSegmentInput): Promise<RenderedSegment>;
  /** This member will not render (its render ended first); a no-op once it rendered. */
  leave(): void;
}

interface Waiting {
  input: RenderSegmentInput;
  resolve: (result: RenderedSegment) => void;
  reject: (reason: unknown) => void;
}

export class TileGroup {
  private readonly expected: Set<number>;
  private readonly waiting = new Map<number, Waiting>();
  private readonly log: Logger;
  private readonly renderAlone: (input: RenderSegmentInput) => Promise<RenderedSegment>;
  private readonly threads: number | undefined;
  private started = false;

  /**
   * @param memberIds the replica rows rendered together
   * @param log where a failure of the group's render is reported
   * @param renderAlone how a member renders on its own (tests substitute it)
   * @param threads the group render's threads (those of the render slots it takes); by default
   *   the sum of its members'. Rendered alone after a failure, at most threads ÷ a member's
   *   threads members render at once.
   */
  constructor(memberIds: readonly number[], log: Logger, renderAlone: (input: RenderSegmentInput) => Promise<RenderedSegment> = renderSegment, threads?: number) {
    this.expected = new Set(memberIds);
    this.log = log;
    this.renderAlone = renderAlone;
    this.threads = threads;
  }

  member(id: number): TileGroupMember {
    return { render: (input) => this.arrive(id, input), leave: () => this.leave(id) };
  }

  private arrive(id: number, input: RenderSegmentInput): Promise<RenderedSegment> {
    if (this.started || !this.expected.has(id)) return this.renderAlone(input);
    return new Promise<RenderedSegment>((resolve, reject) => {
      const onAbort = () => {
        if (this.started) return;
        this.waiting.delete(id);
        reject(input.signal!.reason);
        this.leave(id);
      };
      if (input.signal?.aborted) return onAbort();
      input.signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => input.signal?.removeEventListener("abort", onAbort);
      this.waiting.set(id, { input, resolve: (r) => (done(), resolve(r)), reject: (e) => (done(), reject(e)) });
      this.startWhenAllArrived();
    });
  }

  private leave(id: number): void {
    if (this.started) return;
    this.expected.delete(id);
    this.startWhenAllArrived();
  }

  private startWhenAllArrived(): void {
    if (this.started || this.waiting.size === 0) return;
    for (const id of this.expected) if (!this.waiting.has(id)) return;
    this.started = true;
    void this.run([...this.waiting.values()]);
  }

  private async run(members: Waiting[]): Promise<void> {
    if (members.length === 1) {
      const [only] = members;
      this.renderAlone(only!.input).then(only!.resolve, only!.reject);
      return;
    }
    let results: RenderedSegment[];
    this.log.info({ segments: members.map((m) => m.input.segment.index) }, "rendering tiles together");
    try {
      results = await renderSegmentsTogether(members.map((m) => m.input), this.threads);
    } catch (error) {
      const alive = members.filter((m) => !m.input.signal?.aborted);
      for (const m of members) if (m.input.signal?.aborted) m.reject(m.input.signal.reason);
      if (alive.length > 0) {
        this.log.warn({ err: (error as Error).message, tiles: members.length, segments: alive.map((m) => m.input.segment.index) }, "rendering the tiles together failed; rendering each on its own");
      }
      void this.renderEachAlone(alive);
      return;
    }
    members.forEach((m, i) => m.resolve(results[i]!));
  }

  /** Each member on its own, as many at once as the group's threads allow (at least one). */
  private async renderEachAlone(members: Waiting[]): Promise<void> {
    const threadsEach = Math.max(1, members[0]?.input.limits.threads ?? 1);
    const atOnce = this.threads === undefined ? members.length : Math.max(1, Math.floor(this.threads / threadsEach));
    const queue = [...members];
    const lane = async () => {
      for (let m = queue.shift(); m; m = queue.shift()) await this.renderAlone(m.input).then(m.resolve, m.reject);
    };
    await Promise.all(Array.from({ length: Math.min(atOnce, members.length) }, lane));
  }
}
