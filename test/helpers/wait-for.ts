/**
 * Polls `probe` until it returns true or `timeoutMs` passes (a generous safety net, not a measure). For state outside
 * this test's control: a real server, a child process, a browser. Unit tests use fake time instead.
 */
export async function waitFor(probe: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
