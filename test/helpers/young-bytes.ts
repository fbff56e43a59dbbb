import v8 from 'node:v8';

function newSpaceUsed(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? Number.NaN;
}

/**
 * Bytes allocated in the young generation by `fn`, sampled several times. A sample during which a scavenge ran
 * (used space went down) says nothing and is skipped. Without --expose-gc this is a heuristic, so a test using it
 * must also show that the same measurement sees an allocating control loop.
 */
export function youngBytes(fn: () => void): number[] {
  const samples: number[] = [];
  for (let round = 0; round < 12 && samples.length < 5; round++) {
    const before = newSpaceUsed();
    fn();
    const delta = newSpaceUsed() - before;
    if (delta >= 0) samples.push(delta);
  }
  return samples;
}
