import assert from "node:assert/strict";
import { test } from "node:test";
import { Metrics } from "./metrics.ts";

test("engine CPU seconds reported by the sandbox add up per engine on /metrics", async () => {
  const metrics = new Metrics({ processMetrics: false });
  metrics.observeEngineUsage({ command: "povray", cpuSeconds: 0.25 });
  metrics.observeEngineUsage({ command: "povray", cpuSeconds: 0.5 });
  metrics.observeEngineUsage({ command: "blender", cpuSeconds: 1.5 });
  const { text } = await metrics.exposition();
  assert.match(text, /^tessellate_provider_engine_cpu_seconds_total\{engine="povray"\} 0\.75$/m);
  assert.match(text, /^tessellate_provider_engine_cpu_seconds_total\{engine="blender"\} 1\.5$/m);
});
