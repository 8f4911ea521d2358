"use client";
/** The segment plan drawn over the frame: every tile of the first frame group with its segment index (the sdk's plan). */
import { frameCount, frameGroupCount, segmentCount, tileCount, tileRect, type SegmentPlanInput } from "@tessellate/sdk";

export function SegmentPlan({ plan }: { plan: SegmentPlanInput }) {
  const { width, height } = plan.output;
  const { tilesX, tilesY, framesPerSegment } = plan.segmentation;
  const tiles = tileCount(plan);
  const groups = frameGroupCount(plan);
  const rects = [];
  if (tiles <= 64 * 64) {
    for (let ty = 0; ty < tilesY; ty++) {
      for (let tx = 0; tx < tilesX; tx++) rects.push({ index: ty * tilesX + tx, ...tileRect(plan, tx, ty) });
    }
  }
  const fontSize = Math.min(width / tilesX, height / tilesY) / 4;
  return (
    <figure className="plan" data-testid="segment-plan">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${tilesX} by ${tilesY} tiles over a ${width} by ${height} frame`} preserveAspectRatio="xMidYMid meet">
        <rect x={0} y={0} width={width} height={height} className="plan-frame" />
        {rects.map((r) => (
          <g key={r.index} data-testid="plan-tile">
            <rect x={r.x} y={r.y} width={r.width} height={r.height} className="plan-tile" vectorEffect="non-scaling-stroke" />
            {tiles <= 256 && (
              <text x={r.x + r.width / 2} y={r.y + r.height / 2} fontSize={fontSize} textAnchor="middle" dominantBaseline="central" className="plan-label">
                {r.index}
              </text>
            )}
          </g>
        ))}
      </svg>
      <figcaption className="muted" data-testid="plan-summary">
        {segmentCount(plan)} segment{segmentCount(plan) === 1 ? "" : "s"} = {tiles} tile{tiles === 1 ? "" : "s"} ({tilesX}×{tilesY}) × {groups} frame group{groups === 1 ? "" : "s"} ({frameCount(plan)} frame
        {frameCount(plan) === 1 ? "" : "s"} {plan.frames.start}–{plan.frames.end}, {framesPerSegment} per segment). Shown: the first frame group; group g holds segments{" "}
        {tiles}·g to {tiles}·g + {tiles - 1}.
      </figcaption>
    </figure>
  );
}
