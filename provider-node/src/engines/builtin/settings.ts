/**
 * The builtin engine's render settings and the geometry of a request, re-checked here although the
 * sdk manifest schema validated them already: an engine never trusts its caller with its pixels.
 */
import { z } from "zod";
import { FatalError } from "../../../../sdk/src/errors.ts";
import type { RenderRequest } from "../engine.ts";
import type { RenderSettings } from "./renderRect.ts";

export const MAX_SAMPLES = 4096;
export const MAX_BOUNCES = 16;

const settingsSchema = z.object({
  samples: z.number().int().min(1).max(MAX_SAMPLES),
  seed: z.number().int().min(0).max(0xffffffff),
  maxBounces: z.number().int().min(0).max(MAX_BOUNCES),
});

const HINT = `samples: integer 1..${MAX_SAMPLES}, seed: integer 0..4294967295, maxBounces: integer 0..${MAX_BOUNCES}`;

export function parseSettings(settings: Record<string, unknown>): RenderSettings {
  const result = settingsSchema.safeParse(settings);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(settings)"}: ${issue.message}`);
  throw new FatalError("SETTINGS_INVALID", `invalid builtin render settings (${problems.join("; ")}); expected ${HINT}`);
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

/** Throws FatalError("REQUEST_INVALID") unless the frame size, rect and frame number make sense. */
export function checkRequestGeometry(request: Pick<RenderRequest, "width" | "height" | "rect" | "frame">): void {
  const { width, height, rect, frame } = request;
  const problems: string[] = [];
  if (!isCount(width) || !isCount(height)) problems.push(`frame size ${width}×${height} must be positive integers`);
  if (!Number.isSafeInteger(frame)) problems.push(`frame ${frame} must be an integer`);
  if (!Number.isSafeInteger(rect.x) || !Number.isSafeInteger(rect.y) || !isCount(rect.width) || !isCount(rect.height)) {
    problems.push(`rect ${JSON.stringify(rect)} must have integer x, y and positive integer width, height`);
  } else if (rect.x < 0 || rect.y < 0 || rect.x + rect.width > width || rect.y + rect.height > height) {
    problems.push(`rect ${JSON.stringify(rect)} must lie inside the ${width}×${height} frame`);
  }
  if (problems.length > 0) throw new FatalError("REQUEST_INVALID", `invalid render request: ${problems.join("; ")}`);
}
